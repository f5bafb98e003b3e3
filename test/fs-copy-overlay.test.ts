/**
 * COPY into a real overlay mount, as the build does: lowers = the stage's
 * layers, a fresh upper, copy into the merged view, unmount, and the upper
 * directory is the layer. Needs root and overlayfs; skips with the reason
 * otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { copy } from '../src/fs/copy.js';
import { resolveChown } from '../src/fs/users.js';
import { readTree } from './support/fs-tree.js';

const base = mkdtempSync(join(tmpdir(), 'sc-copy-ovl-'));
const mounted: string[] = [];
after(() => {
  for (const m of mounted) {
    try {
      execFileSync('umount', [m]);
    } catch {
      // already unmounted
    }
  }
  rmSync(base, { recursive: true, force: true });
});

function overlaySupported(): string | undefined {
  if (process.geteuid?.() !== 0) return 'overlay mounts need root';
  try {
    const probe = join(base, 'probe');
    for (const d of ['l', 'u', 'w', 'm']) mkdirSync(join(probe, d), { recursive: true });
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${probe}/l,upperdir=${probe}/u,workdir=${probe}/w`, `${probe}/m`]);
    execFileSync('umount', [`${probe}/m`]);
    return undefined;
  } catch (e) {
    return `overlayfs is not available here: ${(e as Error).message.split('\n')[0]}`;
  }
}

describe('COPY onto an overlay merged view', () => {
  it('the upper directory holds exactly the new and changed entries', async (t) => {
    const skip = overlaySupported();
    if (skip) return t.skip(skip);
    const lower = join(base, 'lower');
    const ctx = join(base, 'ctx');
    mkdirSync(join(lower, 'usr/lib'), { recursive: true });
    mkdirSync(join(lower, 'etc'), { recursive: true });
    writeFileSync(join(lower, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    writeFileSync(join(lower, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
    writeFileSync(join(lower, 'usr/lib/old.so'), 'old');
    writeFileSync(join(lower, 'usr/lib/untouched.so'), 'same');
    symlinkSync('usr/lib', join(lower, 'lib'));
    mkdirSync(join(lower, 'app'));
    chownSync(join(lower, 'app'), 1000, 1000);
    mkdirSync(join(ctx, 'libs'), { recursive: true });
    writeFileSync(join(ctx, 'libs/old.so'), 'new');
    writeFileSync(join(ctx, 'libs/added.so'), 'added');
    writeFileSync(join(ctx, 'main.js'), 'console.log(1)');

    const upper = join(base, 'upper');
    const work = join(base, 'work');
    const merged = join(base, 'merged');
    for (const d of [upper, work, merged]) mkdirSync(d);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
    mounted.push(merged);
    await copy({ srcRoot: ctx, destRoot: merged, sources: ['libs'], dest: '/lib/' });
    const chown = await resolveChown(merged, 'app');
    await copy({ srcRoot: ctx, destRoot: merged, sources: ['main.js'], dest: '/app/', chown });
    execFileSync('umount', [merged]);
    mounted.pop();

    assert.deepEqual(readTree(upper), {
      app: 'd',
      'app/main.js': 'f:console.log(1)',
      usr: 'd',
      'usr/lib': 'd',
      'usr/lib/added.so': 'f:added',
      'usr/lib/old.so': 'f:new',
    });
    assert.equal(readlinkSync(join(lower, 'lib')), 'usr/lib');
    assert.equal(readFileSync(join(lower, 'usr/lib/old.so'), 'utf8'), 'old', 'lower layers are never written');
    const st = lstatSync(join(upper, 'app/main.js'));
    assert.equal(`${st.uid}:${st.gid}`, '1000:1000');
    const appDir = lstatSync(join(upper, 'app'));
    assert.equal(`${appDir.uid}:${appDir.gid}`, '1000:1000', 'the existing /app keeps its owner');
  });
});
