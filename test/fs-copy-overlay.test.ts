/**
 * COPY into a real overlay mount, as the build does: lowers = the stage's
 * layers, a fresh upper, copy into the merged view, unmount, and the upper
 * directory is the layer. Needs root and overlayfs; skips with the reason
 * otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { copy } from '../src/fs/copy.js';
import { resolveChown } from '../src/fs/users.js';
import { readTree } from './support/fs-tree.js';
import { readTreeXattrs, writeXattrs } from '../src/tar/xattrs.js';

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

  it('deferTo: the trees of directories the copy makes go straight into the upper directory after the unmount, as they would through the view', async (t) => {
    const skip = overlaySupported();
    if (skip) return t.skip(skip);
    const root = join(base, 'defer');
    const lower = join(root, 'lower');
    const ctx = join(root, 'ctx');
    mkdirSync(join(lower, 'data/old'), { recursive: true });
    writeFileSync(join(lower, 'data/old/keep'), 'lower');
    chownSync(join(lower, 'data'), 1000, 1000);
    chmodSync(join(lower, 'data'), 0o750);
    // A tree with nested directories, modes, a symlink, a hardlink pair, a file above the small-file bound and an xattr.
    mkdirSync(join(ctx, 'pkg/a/b/c'), { recursive: true });
    mkdirSync(join(ctx, 'pkg/empty'));
    writeFileSync(join(ctx, 'pkg/top.txt'), 'top');
    writeFileSync(join(ctx, 'pkg/a/run.sh'), '#!/bin/sh\n');
    chmodSync(join(ctx, 'pkg/a/run.sh'), 0o755);
    writeFileSync(join(ctx, 'pkg/a/b/secret'), 's');
    chmodSync(join(ctx, 'pkg/a/b/secret'), 0o600);
    writeFileSync(join(ctx, 'pkg/a/b/c/big.bin'), Buffer.alloc(3 << 20, 7));
    linkSync(join(ctx, 'pkg/top.txt'), join(ctx, 'pkg/a/b/c/top-link'));
    symlinkSync('../top.txt', join(ctx, 'pkg/a/rel-link'));
    chmodSync(join(ctx, 'pkg/a/b'), 0o700);
    await writeXattrs([{ path: join(ctx, 'pkg/a/run.sh'), xattrs: { 'user.stagecraft.test': Buffer.from('x') } }]);
    const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => [join(dir, d.name), ...(d.isDirectory() ? walk(join(dir, d.name)) : [])]);
    for (const p of [...walk(join(ctx, 'pkg')), join(ctx, 'pkg')].reverse()) if (!lstatSync(p).isSymbolicLink()) utimesSync(p, 1_600_000_000, 1_600_000_000 + (p.length % 97));

    const run = async (name: string, deferred: boolean): Promise<string> => {
      const upper = join(root, `${name}-upper`);
      const work = join(root, `${name}-work`);
      const merged = join(root, `${name}-merged`);
      for (const d of [upper, work, merged]) mkdirSync(d);
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
      mounted.push(merged);
      const r = await copy({ srcRoot: ctx, destRoot: merged, sources: ['pkg'], dest: '/data/new/', deferTo: deferred ? { upperDir: upper } : undefined });
      execFileSync('umount', [merged]);
      mounted.pop();
      if (deferred) {
        assert.ok(r.finish, 'a copy into a new directory defers its tree');
        assert.deepEqual(Object.keys(readTree(upper)).sort(), ['data', 'data/new'], 'nothing below the new directory is written through the view');
        const more = await r.finish();
        assert.deepEqual({ files: r.files + more.files, bytes: r.bytes + more.bytes }, { files: 5, bytes: 3 + 10 + 1 + (3 << 20) });
      } else {
        assert.equal(r.finish, undefined);
        assert.deepEqual({ files: r.files, bytes: r.bytes }, { files: 5, bytes: 3 + 10 + 1 + (3 << 20) });
      }
      return upper;
    };
    const viaView = await run('view', false);
    const direct = await run('direct', true);

    // Same entries, content, type, mode, owner; the source's times (not for /data and /data/new, which the copy changes now).
    const meta = (upper: string): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const p of walk(upper)) {
        const rel = p.slice(upper.length + 1);
        const st = lstatSync(p);
        const time = rel === 'data' || rel === 'data/new' ? '' : ` ${st.mtimeMs}`;
        const content = st.isFile() ? readFileSync(p).toString('base64').slice(0, 40) : st.isSymbolicLink() ? readlinkSync(p) : '';
        out[rel] = `${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.size} n${st.nlink}${time} ${content}`;
      }
      return out;
    };
    assert.deepEqual(meta(direct), meta(viaView));
    assert.equal(lstatSync(join(direct, 'data/new/top.txt')).ino, lstatSync(join(direct, 'data/new/a/b/c/top-link')).ino, 'the hardlink pair stays one inode');
    const attrs = async (upper: string): Promise<Record<string, Record<string, string>>> => Object.fromEntries(
      [...(await readTreeXattrs(upper))]
        .filter(([p]) => p !== upper) // the upper root: overlay's per-mount trusted.overlay.uuid
        .map(([p, a]) => [p.slice(upper.length), Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v.toString('hex')]))]),
    );
    const directAttrs = await attrs(direct);
    assert.deepEqual(directAttrs, await attrs(viaView));
    assert.equal(directAttrs['/data/new/a/run.sh']?.['user.stagecraft.test'], '78', 'the xattr is copied');
  });
});
