/**
 * The pure half of test/support/oci-run.ts, which the build tests trust to
 * start images the way `docker run` does: Entrypoint/Cmd/overrides to argv,
 * Env defaults, WorkingDir, and User lookup in the image's /etc/passwd and
 * /etc/group. Table-driven; needs no root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processSpec, resolveUser, type ImageConfigFields, type RunOverrides } from '../support/oci-run.js';
import { Tally } from '../fixtures/build/fixtures.js';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const argvCases: Array<{ name: string; cfg: ImageConfigFields; o?: RunOverrides; args: string[] }> = [
  { name: 'Cmd only', cfg: { Cmd: ['python3', 'app.py'] }, args: ['python3', 'app.py'] },
  { name: 'Entrypoint + Cmd', cfg: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo hi'] }, args: ['/bin/sh', '-c', 'echo hi'] },
  { name: 'Entrypoint, args replace Cmd', cfg: { Entrypoint: ['/hello'], Cmd: ['world'] }, o: { args: ['there'] }, args: ['/hello', 'there'] },
  { name: '--entrypoint drops Cmd', cfg: { Entrypoint: ['/hello'], Cmd: ['world'] }, o: { entrypoint: ['/bin/true'] }, args: ['/bin/true'] },
  { name: '--entrypoint with args', cfg: { Entrypoint: ['/hello'], Cmd: ['world'] }, o: { entrypoint: ['/bin/echo'], args: ['x'] }, args: ['/bin/echo', 'x'] },
  { name: 'null Entrypoint', cfg: { Entrypoint: null, Cmd: ['sh'] }, args: ['sh'] },
];

const userCases: Array<{ spec: string | undefined; want: { uid: number; gid: number; additionalGids: number[]; home: string } | RegExp }> = [
  { spec: undefined, want: { uid: 0, gid: 0, additionalGids: [], home: '/root' } },
  { spec: '', want: { uid: 0, gid: 0, additionalGids: [], home: '/root' } },
  { spec: 'app', want: { uid: 1000, gid: 1000, additionalGids: [27], home: '/home/app' } },
  { spec: '1000', want: { uid: 1000, gid: 1000, additionalGids: [27], home: '/home/app' } },
  { spec: 'app:staff', want: { uid: 1000, gid: 50, additionalGids: [], home: '/home/app' } },
  { spec: '1000:1000', want: { uid: 1000, gid: 1000, additionalGids: [], home: '/home/app' } },
  { spec: '4242', want: { uid: 4242, gid: 0, additionalGids: [], home: '/' } },
  { spec: '4242:7', want: { uid: 4242, gid: 7, additionalGids: [], home: '/' } },
  { spec: 'nosuchuser', want: /not in the image's \/etc\/passwd/ },
  { spec: 'app:nosuchgroup', want: /not in the image's \/etc\/group/ },
];

const tally = new Tally('build oci-run helper', argvCases.length + userCases.length + 2);

describe('oci-run: image config to process', () => {
  let rootfs: string;

  before(async () => {
    rootfs = await mkdtemp(join(tmpdir(), 'stagecraft-ocirun-unit-'));
    await mkdir(join(rootfs, 'etc'));
    await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
    await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nsudo:x:27:app\nstaff:x:50:\napp:x:1000:\n');
  });

  after(async () => {
    await rm(rootfs, { recursive: true, force: true });
    console.log(tally.summary());
  });

  for (const c of argvCases) {
    it(`argv: ${c.name}`, async () => {
      const p = await processSpec(rootfs, c.cfg, c.o);
      assert.deepEqual(p.args, c.args);
      tally.pass();
    });
  }

  for (const c of userCases) {
    it(`user: ${JSON.stringify(c.spec)}`, async () => {
      if (c.want instanceof RegExp) await assert.rejects(resolveUser(rootfs, c.spec), c.want);
      else assert.deepEqual(await resolveUser(rootfs, c.spec), c.want);
      tally.pass();
    });
  }

  it('env: PATH added when the image has none, HOME from the user, image Env kept in order, extra env last; WorkingDir default /', async () => {
    const p = await processSpec(rootfs, { Cmd: ['x'], Env: ['B=2', 'A=1'], User: 'app' }, { env: ['EXTRA=1'] });
    assert.deepEqual(p.env, [PATH_ENV, 'B=2', 'A=1', 'EXTRA=1', 'HOME=/home/app']);
    assert.equal(p.cwd, '/');
    assert.deepEqual(p.user, { uid: 1000, gid: 1000, additionalGids: [27] });
    const q = await processSpec(rootfs, { Cmd: ['x'], Env: ['PATH=/bin', 'HOME=/h'], WorkingDir: '/srv' });
    assert.deepEqual(q.env, ['PATH=/bin', 'HOME=/h']);
    assert.equal(q.cwd, '/srv');
    tally.pass();
  });

  it('no Entrypoint and no Cmd is an error, not an empty argv', async () => {
    await assert.rejects(processSpec(rootfs, {}), /no Entrypoint or Cmd/);
    tally.pass();
  });
});
