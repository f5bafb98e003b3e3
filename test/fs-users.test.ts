import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError } from '../src/errors.js';
import { parseGroup, parsePasswd, resolveChown, resolveUser } from '../src/fs/users.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'bin:x:1:1:bin:/bin:/sbin/nologin',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'svc:x:1001:50::/srv:/bin/false',
  '',
  '  ',
].join('\n');
const GROUP = [
  'root:x:0:root',
  'bin:x:1:root,bin',
  'staff:x:50:',
  'app:x:1000:',
  'docker:x:999:app,svc',
  'wheel:x:10:app',
].join('\n');

let rootfs: string;
let emptyRoot: string;
let linkedRoot: string;
before(async () => {
  rootfs = await mkdtemp(join(tmpdir(), 'sc-users-'));
  await mkdir(join(rootfs, 'etc'));
  await writeFile(join(rootfs, 'etc/passwd'), PASSWD);
  await writeFile(join(rootfs, 'etc/group'), GROUP);
  emptyRoot = await mkdtemp(join(tmpdir(), 'sc-users-empty-'));
  // /etc is a symlink to an absolute path: must resolve inside the rootfs.
  linkedRoot = await mkdtemp(join(tmpdir(), 'sc-users-linked-'));
  await mkdir(join(linkedRoot, 'real/etc'), { recursive: true });
  await writeFile(join(linkedRoot, 'real/etc/passwd'), 'app:x:4242:4343::/:/bin/sh\n');
  await symlink('/real/etc', join(linkedRoot, 'etc'));
});
after(async () => {
  for (const d of [rootfs, emptyRoot, linkedRoot]) await rm(d, { recursive: true, force: true });
});

describe('parsePasswd / parseGroup', () => {
  it('parses fields and skips blank lines', () => {
    const users = parsePasswd(PASSWD);
    assert.equal(users.length, 4);
    assert.deepEqual(users[2], { name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/bin/sh' });
    const groups = parseGroup(GROUP);
    assert.deepEqual(groups[4], { name: 'docker', gid: 999, members: ['app', 'svc'] });
    assert.deepEqual(groups[2]!.members, []);
  });
});

describe('resolveUser (USER)', () => {
  const table: Array<[string, { uid: number; gid: number; additionalGids: number[] }]> = [
    ['', { uid: 0, gid: 0, additionalGids: [] }],
    ['root', { uid: 0, gid: 0, additionalGids: [0, 1] }],
    ['app', { uid: 1000, gid: 1000, additionalGids: [999, 10] }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [999, 10] }],
    ['svc', { uid: 1001, gid: 50, additionalGids: [999] }],
    ['4321', { uid: 4321, gid: 0, additionalGids: [] }],
    ['app:staff', { uid: 1000, gid: 50, additionalGids: [] }],
    ['app:77', { uid: 1000, gid: 77, additionalGids: [] }],
    ['1000:docker', { uid: 1000, gid: 999, additionalGids: [] }],
    ['1000:1000', { uid: 1000, gid: 1000, additionalGids: [] }],
    ['5000:6000', { uid: 5000, gid: 6000, additionalGids: [] }],
    ['root:root', { uid: 0, gid: 0, additionalGids: [] }],
    ['4321:wheel', { uid: 4321, gid: 10, additionalGids: [] }],
  ];
  for (const [spec, want] of table) {
    it(`USER ${JSON.stringify(spec)}`, async () => {
      assert.deepEqual(await resolveUser(rootfs, spec), want);
    });
  }

  it('a missing name is an error in runc wording', async () => {
    await assert.rejects(resolveUser(rootfs, 'nobody'), (e) =>
      isStagecraftError(e) && e.message === 'unable to find user nobody: no matching entries in passwd file');
  });
  it('a missing group name is an error', async () => {
    await assert.rejects(resolveUser(rootfs, 'app:nogroup'), (e) =>
      isStagecraftError(e) && e.message === 'unable to find group nogroup: no matching entries in group file');
  });
  it('without /etc/passwd: numeric works, names fail', async () => {
    assert.deepEqual(await resolveUser(emptyRoot, '123'), { uid: 123, gid: 0, additionalGids: [] });
    assert.deepEqual(await resolveUser(emptyRoot, '123:456'), { uid: 123, gid: 456, additionalGids: [] });
    await assert.rejects(resolveUser(emptyRoot, 'app'), /unable to find user app/);
    assert.deepEqual(await resolveUser(emptyRoot, 'root'), { uid: 0, gid: 0, additionalGids: [] });
  });
  it('reads the image passwd through an absolute /etc symlink inside the rootfs', async () => {
    assert.deepEqual(await resolveUser(linkedRoot, 'app'), { uid: 4242, gid: 4343, additionalGids: [] });
  });
});

describe('resolveChown (COPY --chown)', () => {
  const table: Array<[string, { uid: number; gid: number } | undefined]> = [
    ['', undefined],
    ['55', { uid: 55, gid: 55 }],
    ['1', { uid: 1, gid: 1 }],
    ['10:11', { uid: 10, gid: 11 }],
    ['bin', { uid: 1, gid: 1 }],
    ['svc', { uid: 1001, gid: 50 }],
    ['55:staff', { uid: 55, gid: 50 }],
    ['app:docker', { uid: 1000, gid: 999 }],
    ['root', { uid: 0, gid: 0 }],
    ['svc:0', { uid: 1001, gid: 0 }],
  ];
  for (const [spec, want] of table) {
    it(`--chown=${spec}`, async () => {
      assert.deepEqual(await resolveChown(rootfs, spec), want);
    });
  }
  it('unknown user or group names fail the build, naming them', async () => {
    await assert.rejects(resolveChown(rootfs, 'ghost'), (e) => isStagecraftError(e) && e.code === 'COPY' && /user ghost/.test(e.message));
    await assert.rejects(resolveChown(rootfs, '1:ghosts'), (e) => isStagecraftError(e) && /group ghosts/.test(e.message));
    await assert.rejects(resolveChown(emptyRoot, 'app'), /unable to find user app/);
  });
  it("missing: 'root' gives BuildKit FileOp's lenient result (WORKDIR owner for USER)", async () => {
    const table: Array<[string, { uid: number; gid: number }]> = [
      ['ghost', { uid: 0, gid: 0 }],
      ['app', { uid: 1000, gid: 1000 }],
      ['1000', { uid: 1000, gid: 1000 }],
      ['svc:ghosts', { uid: 1001, gid: 50 }],
      ['ghost:staff', { uid: 0, gid: 50 }],
    ];
    for (const [spec, want] of table) assert.deepEqual(await resolveChown(rootfs, spec, { missing: 'root' }), want, spec);
    assert.deepEqual(await resolveChown(emptyRoot, 'app', { missing: 'root' }), { uid: 0, gid: 0 });
  });
  it('numeric ids need no passwd file', async () => {
    assert.deepEqual(await resolveChown(emptyRoot, '300:400'), { uid: 300, gid: 400 });
  });
});
