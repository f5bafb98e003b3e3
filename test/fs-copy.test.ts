import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, linkSync, writeFileSync, chownSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { isStagecraftError } from '../src/errors.js';
import { copy, destinationOf, type CopyOptions } from '../src/fs/copy.js';
import { TreeCopier } from '../src/fs/copy-tree.js';
import { modeOf, ownerOf, readTree, writeTree, type TreeSpec } from './support/fs-tree.js';

const base = mkdtempSync(join(tmpdir(), 'sc-copy-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
let ctx: string;
let dst: string;

function fresh(src: TreeSpec, dest: TreeSpec = {}): void {
  n++;
  ctx = join(base, `ctx${n}`);
  dst = join(base, `dst${n}`);
  mkdirSync(ctx);
  mkdirSync(dst);
  writeTree(ctx, src);
  writeTree(dst, dest);
}

function run(sources: string[], dest: string, extra: Partial<CopyOptions> = {}) {
  return copy({ srcRoot: ctx, destRoot: dst, sources, dest, workdir: '/', ...extra });
}

const CONTEXT: TreeSpec = {
  'foo.txt': 'foo',
  'bar.go': 'bar',
  'baz.go': 'baz',
  'fa.go': 'fa',
  'dir/a': 'a',
  'dir/sub/b': 'b',
  'sub/dir1/dir2/foo': 'deep',
  'sub/dir3/x': 'x',
  'link-to-foo': { link: 'foo.txt' },
  'link-to-dir': { link: 'dir' },
  'x/a.txt': 'xa',
  'y/a.txt': 'ya',
  'x/y/a.txt': 'xya',
  'x/y/b.txt': 'xyb',
  'src/a.txt': 'sa',
  'src/x/b.txt': 'sb',
  'src/x/y/c.txt': 'sc',
  'src/x/y/d.md': 'sd',
  'home.txt': 'ht',
  'home.md': 'hm',
  'homedir/keep': 'k',
  'homedir/drop.txt': 'd',
  'homedir/deep/also.txt': 'deep-txt',
};

describe('destinationOf', () => {
  const table: Array<[string, string, string, boolean]> = [
    ['/abs/', '/', '/abs', true],
    ['/abs', '/', '/abs', false],
    ['rel/', '/usr/src/app', '/usr/src/app/rel', true],
    ['', '/w', '/w', true],
    ['.', '/w', '/w', true],
    ['../', '/test1/test2', '/test1', true],
    ['x/.', '/', '/x', true],
  ];
  for (const [dest, wd, path, isDir] of table) {
    it(`${JSON.stringify(dest)} in ${wd}`, () => assert.deepEqual(destinationOf(dest, wd), { path, isDir }));
  }
});

describe('copy: sources and destinations (BuildKit rules)', () => {
  beforeEach(() => fresh(CONTEXT));
  const table: Array<{ name: string; sources: string[]; dest: string; workdir?: string; want: Record<string, string> }> = [
    { name: 'file into dir (trailing slash)', sources: ['foo.txt'], dest: '/abs/', want: { abs: 'd', 'abs/foo.txt': 'f:foo' } },
    { name: 'file to a file path', sources: ['foo.txt'], dest: '/abs', want: { abs: 'f:foo' } },
    { name: 'dir copies its contents', sources: ['dir'], dest: '/out', want: { out: 'd', 'out/a': 'f:a', 'out/sub': 'd', 'out/sub/b': 'f:b' } },
    { name: 'dir/ same as dir', sources: ['dir/'], dest: '/out', want: { out: 'd', 'out/a': 'f:a', 'out/sub': 'd', 'out/sub/b': 'f:b' } },
    { name: 'dir/. same as dir', sources: ['dir/.'], dest: '/out', want: { out: 'd', 'out/a': 'f:a', 'out/sub': 'd', 'out/sub/b': 'f:b' } },
    { name: 'leading / and .. are dropped', sources: ['/../../foo.txt'], dest: '/x/', want: { x: 'd', 'x/foo.txt': 'f:foo' } },
    { name: 'wildcard *.go', sources: ['*.go'], dest: '/gofiles/', want: { gofiles: 'd', 'gofiles/bar.go': 'f:bar', 'gofiles/baz.go': 'f:baz', 'gofiles/fa.go': 'f:fa' } },
    { name: 'wildcard to a file path takes the single match', sources: ['f*.go'], dest: '/one.go', want: { 'one.go': 'f:fa' } },
    { name: 'sub/* copies contents of matched dirs', sources: ['sub/*'], dest: '/s/', want: { s: 'd', 's/dir2': 'd', 's/dir2/foo': 'f:deep', 's/x': 'f:x' } },
    { name: 'sub/*/dir2/foo', sources: ['sub/*/dir2/foo'], dest: '/s/', want: { s: 'd', 's/foo': 'f:deep' } },
    { name: 'escaped class matches a literal [', sources: ['fo[o].txt'], dest: '/e/', want: { e: 'd', 'e/foo.txt': 'f:foo' } },
    { name: 'relative dest against WORKDIR', sources: ['foo.txt'], dest: 'rel/', workdir: '/usr/src/app', want: { usr: 'd', 'usr/src': 'd', 'usr/src/app': 'd', 'usr/src/app/rel': 'd', 'usr/src/app/rel/foo.txt': 'f:foo' } },
    { name: 'empty dest means WORKDIR', sources: ['foo.txt'], dest: '', workdir: '/w', want: { w: 'd', 'w/foo.txt': 'f:foo' } },
    { name: 'symlink source is followed (file)', sources: ['link-to-foo'], dest: '/l/', want: { l: 'd', 'l/link-to-foo': 'f:foo' } },
    { name: 'symlink source is followed (dir contents)', sources: ['link-to-dir'], dest: '/l', want: { l: 'd', 'l/a': 'f:a', 'l/sub': 'd', 'l/sub/b': 'f:b' } },
    { name: 'wildcard matches through a link are followed', sources: ['link-to-f*'], dest: '/l/', want: { l: 'd', 'l/link-to-foo': 'f:foo' } },
    { name: 'empty wildcard is allowed beside a real source', sources: ['foo.txt', 'nomatch*'], dest: '/', want: { 'foo.txt': 'f:foo' } },
    { name: 'only an empty wildcard copies nothing', sources: ['nomatch*'], dest: '/e/', want: { e: 'd' } },
    { name: 'multiple sources into a dir', sources: ['foo.txt', 'dir'], dest: '/m/', want: { m: 'd', 'm/foo.txt': 'f:foo', 'm/a': 'f:a', 'm/sub': 'd', 'm/sub/b': 'f:b' } },
  ];
  for (const c of table) {
    it(c.name, async () => {
      await run(c.sources, c.dest, c.workdir ? { workdir: c.workdir } : {});
      assert.deepEqual(readTree(dst), c.want);
    });
  }

  it('counts files and bytes', async () => {
    const r = await run(['dir', 'foo.txt'], '/o/');
    assert.deepEqual(r, { files: 3, bytes: 5 });
  });

  it('more than one source needs a directory destination', async () => {
    await assert.rejects(run(['foo.txt', 'bar.go'], '/one'), (e) => isStagecraftError(e) && e.code === 'COPY' && /must be a directory and end with a \//.test(e.message));
  });

  it('a missing source names the path and suggests a near match', async () => {
    await assert.rejects(run(['fo.txt'], '/'), (e) => isStagecraftError(e) && e.message === '"/fo.txt": not found in build context' && e.hint === 'did you mean "/foo.txt"?');
    await assert.rejects(run(['dir/sub/c'], '/'), (e) => isStagecraftError(e) && /"\/dir\/sub\/c": not found/.test(e.message) && e.hint === 'did you mean "/dir/sub/b"?');
  });

  it('a wildcard under a missing directory fails', async () => {
    await assert.rejects(run(['nodir/*.txt'], '/x/'), (e) => isStagecraftError(e) && /"\/nodir": not found/.test(e.message));
  });

  it('allowEmptyWildcard=false turns an empty wildcard into an error', async () => {
    await assert.rejects(run(['nomatch*'], '/x/', { allowEmptyWildcard: false }), (e) => isStagecraftError(e) && /matched nothing/.test(e.message));
  });

  it('a bad pattern is a COPY error', async () => {
    await assert.rejects(run(['[]x'], '/x/'), (e) => isStagecraftError(e) && /syntax error in pattern/.test(e.message));
  });

  it('file into an existing directory without a slash goes inside it', async () => {
    mkdirSync(join(dst, 'exists'));
    await run(['foo.txt'], '/exists');
    assert.equal(readFileSync(join(dst, 'exists/foo.txt'), 'utf8'), 'foo');
  });
});

describe('copy: metadata', () => {
  it('preserves mode and mtime; links stay links; hardlinks stay linked', async () => {
    fresh({ 'd/x.sh': { file: '#!', mode: 0o750, mtime: 1_000_000 }, 'd/ro': { file: 'r', mode: 0o400 }, 'd/rel': { link: '../x' }, 'd/abs': { link: '/etc/passwd' }, 'd/sub': { dir: true, mode: 0o711 } });
    linkSync(join(ctx, 'd/x.sh'), join(ctx, 'd/x2.sh'));
    await run(['d'], '/o');
    assert.equal(modeOf(join(dst, 'o/x.sh')), '750');
    assert.equal(modeOf(join(dst, 'o/ro')), '400');
    assert.equal(modeOf(join(dst, 'o/sub')), '711');
    assert.equal(statSync(join(dst, 'o/x.sh')).mtimeMs, 1_000_000_000);
    assert.equal(lstatSync(join(dst, 'o/x.sh')).ino, lstatSync(join(dst, 'o/x2.sh')).ino);
    assert.deepEqual(readTree(dst, 'o'), { 'o/abs': 'l:/etc/passwd', 'o/ro': 'f:r', 'o/rel': 'l:../x', 'o/sub': 'd', 'o/x.sh': 'f:#!', 'o/x2.sh': 'f:#!' });
  });

  it('many links to one inode across directories stay one inode under concurrent copying', async () => {
    fresh({ 'd/a/orig': 'shared' });
    for (let i = 0; i < 40; i++) {
      mkdirSync(join(ctx, `d/l${i % 5}`), { recursive: true });
      linkSync(join(ctx, 'd/a/orig'), join(ctx, `d/l${i % 5}/h${i}`));
    }
    const r = await run(['d'], '/o');
    const ino = lstatSync(join(dst, 'o/a/orig')).ino;
    for (let i = 0; i < 40; i++) assert.equal(lstatSync(join(dst, `o/l${i % 5}/h${i}`)).ino, ino);
    assert.equal(lstatSync(join(dst, 'o/a/orig')).nlink, 41);
    assert.deepEqual(r, { files: 41, bytes: 6 });
  });

  it('large files stream next to small ones: contents, links to them, owner, set-id mode and mtime all kept', async () => {
    const big = Buffer.alloc(3 * (1 << 20) + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
    fresh({ 'd/big.bin': { file: '', mode: 0o4755, mtime: 1_500_000, uid: 77, gid: 88 }, 'd/small': { file: 's', mode: 0o640 } });
    writeFileSync(join(ctx, 'd/big.bin'), big);
    const { utimesSync, chmodSync } = await import('node:fs');
    chownSync(join(ctx, 'd/big.bin'), 77, 88);
    chmodSync(join(ctx, 'd/big.bin'), 0o4755);
    utimesSync(join(ctx, 'd/big.bin'), 1_500_000, 1_500_000);
    for (let i = 0; i < 3; i++) {
      mkdirSync(join(ctx, `d/l${i}`), { recursive: true });
      linkSync(join(ctx, 'd/big.bin'), join(ctx, `d/l${i}/big-${i}`));
    }
    const r = await run(['d'], '/o', { keepOwners: true });
    assert.deepEqual(r, { files: 5, bytes: big.length + 1 });
    assert.ok(readFileSync(join(dst, 'o/big.bin')).equals(big));
    const st = lstatSync(join(dst, 'o/big.bin'));
    assert.equal(st.nlink, 4);
    for (let i = 0; i < 3; i++) assert.equal(lstatSync(join(dst, `o/l${i}/big-${i}`)).ino, st.ino);
    assert.equal(modeOf(join(dst, 'o/big.bin')), '4755');
    assert.equal(ownerOf(join(dst, 'o/big.bin')), '77:88');
    assert.equal(st.mtimeMs, 1_500_000_000);
    assert.equal(modeOf(join(dst, 'o/small')), '640');
  });

  it('thousands of small files: every one copied with its mode and mtime, and the event loop keeps turning', async () => {
    const spec: TreeSpec = {};
    for (let i = 0; i < 1200; i++) spec[`d/s${i % 7}/f${i}`] = { file: `content ${i}\n`, mode: i % 2 ? 0o644 : 0o755, mtime: 1_000_000 + i };
    fresh(spec);
    const r = await run(['d'], '/o', { chmod: 'o-r' });
    assert.equal(r.files, 1200);
    for (let i = 0; i < 1200; i++) {
      const p = join(dst, `o/s${i % 7}/f${i}`);
      assert.equal(readFileSync(p, 'utf8'), `content ${i}\n`);
      assert.equal(modeOf(p), i % 2 ? '640' : '751');
      assert.equal(statSync(p).mtimeMs, (1_000_000 + i) * 1000);
    }
    // The tree copier alone (no getfattr process to wait for) still lets timers run.
    const copier = new TreeCopier({ keepOwners: false, describe: (h) => h });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    await copier.copy(join(ctx, 'd'), lstatSync(join(ctx, 'd')), join(dst, 'o2'), '', true);
    clearInterval(timer);
    assert.equal(copier.stats.files, 1200);
    assert.ok(ticks >= 2, `timers ran ${ticks} times during the copy`);
  });

  it('directory mtimes survive copying their children', async () => {
    fresh({ 'd/sub/f': 'f' });
    const { utimesSync } = await import('node:fs');
    utimesSync(join(ctx, 'd/sub'), 2_000_000, 2_000_000);
    await run(['d'], '/o');
    assert.equal(statSync(join(dst, 'o/sub')).mtimeMs, 2_000_000_000);
  });

  it('context sources become 0:0; stage sources keep uid:gid; --chown wins', async () => {
    fresh({ 'f': { file: 'x', uid: 1234, gid: 5678 }, 'd/g': { file: 'y', uid: 42, gid: 43 } });
    chownSync(join(ctx, 'd'), 7, 8);
    await run(['f', 'd'], '/ctx/');
    assert.equal(ownerOf(join(dst, 'ctx/f')), '0:0');
    assert.equal(ownerOf(join(dst, 'ctx/g')), '0:0');
    await run(['f', 'd'], '/stage/', { keepOwners: true });
    assert.equal(ownerOf(join(dst, 'stage/f')), '1234:5678');
    assert.equal(ownerOf(join(dst, 'stage/g')), '42:43');
    await run(['f', 'd'], '/chown/new/', { keepOwners: true, chown: { uid: 300, gid: 400 } });
    assert.equal(ownerOf(join(dst, 'chown/new/f')), '300:400');
    assert.equal(ownerOf(join(dst, 'chown')), '300:400');
    assert.equal(ownerOf(join(dst, 'chown/new/g')), '300:400');
    assert.equal(ownerOf(join(dst, 'chown/new')), '300:400', 'created destination dirs take the --chown owner');
  });

  it('testCopyChownExistingDir: new dest dir is 0:0, children keep owners, existing entries untouched', async () => {
    fresh({ 'dir/sub/f': { file: 'f', uid: 100, gid: 200 }, 'dir/g': { file: 'g', uid: 100, gid: 200 } }, { 'dir2/old': 'old', 'dir3/old': 'old' });
    chownSync(join(ctx, 'dir'), 100, 200);
    chownSync(join(ctx, 'dir/sub'), 100, 200);
    chownSync(join(dst, 'dir2'), 1, 2);
    chownSync(join(dst, 'dir2/old'), 1, 2);
    chownSync(join(dst, 'dir3'), 1, 2);
    await run(['/dir'], '/dir', { keepOwners: true });
    assert.equal(ownerOf(join(dst, 'dir')), '0:0');
    assert.equal(modeOf(join(dst, 'dir')), '755');
    assert.equal(ownerOf(join(dst, 'dir/sub')), '100:200');
    assert.equal(ownerOf(join(dst, 'dir/sub/f')), '100:200');
    await run(['/dir'], '/dir2/.', { keepOwners: true });
    assert.equal(ownerOf(join(dst, 'dir2')), '1:2');
    assert.equal(ownerOf(join(dst, 'dir2/old')), '1:2');
    assert.equal(ownerOf(join(dst, 'dir2/g')), '100:200');
    await run(['/dir'], '/dir3/.', { keepOwners: true, chown: { uid: 300, gid: 400 } });
    assert.equal(ownerOf(join(dst, 'dir3')), '1:2');
    assert.equal(ownerOf(join(dst, 'dir3/g')), '300:400');
    assert.equal(ownerOf(join(dst, 'dir3/sub')), '300:400');
    await run(['/dir'], '/dir4', { keepOwners: true, chown: { uid: 300, gid: 400 } });
    assert.equal(ownerOf(join(dst, 'dir4')), '300:400');
  });

  it('--chmod octal applies to files, dirs and created parents; --chmod=0 gives 0000', async () => {
    fresh({ 'd/f': { file: 'f', mode: 0o644 }, 'd/s/g': 'g' });
    await run(['d'], '/parent/sub/', { chmod: '0770' });
    assert.equal(modeOf(join(dst, 'parent')), '770');
    assert.equal(modeOf(join(dst, 'parent/sub')), '770');
    assert.equal(modeOf(join(dst, 'parent/sub/f')), '770');
    assert.equal(modeOf(join(dst, 'parent/sub/s')), '770');
    await run(['d/f'], '/zero', { chmod: '0' });
    assert.equal(modeOf(join(dst, 'zero')), '0');
  });

  it('--chmod symbolic u=rwX,go=rX: dirs 755, files 644, executables 755', async () => {
    fresh({ 'd/plain': { file: 'p', mode: 0o600 }, 'd/exe': { file: 'e', mode: 0o700 }, 'd/s/x': { file: 'x', mode: 0o666 } });
    await run(['d'], '/o', { chmod: 'u=rwX,go=rX' });
    assert.equal(modeOf(join(dst, 'o/plain')), '644');
    assert.equal(modeOf(join(dst, 'o/exe')), '755');
    assert.equal(modeOf(join(dst, 'o/s')), '755');
    assert.equal(modeOf(join(dst, 'o/s/x')), '644');
  });

  it('an invalid --chmod fails before copying', async () => {
    fresh({ f: 'f' });
    await assert.rejects(run(['f'], '/o'.concat('/'), { chmod: '64a' }), /invalid chmod parameter: '64a'/);
    assert.deepEqual(readTree(dst), {});
  });

  it('a socket in the source becomes an empty regular file', async () => {
    fresh({ 'd/keep': 'k' });
    const net = await import('node:net');
    const server = net.createServer();
    await new Promise<void>((res) => server.listen(join(ctx, 'd/sock'), res));
    try {
      await run(['d'], '/o');
    } finally {
      server.close();
    }
    assert.ok(lstatSync(join(dst, 'o/sock')).isFile());
    assert.equal(readFileSync(join(dst, 'o/sock'), 'utf8'), '');
  });
});

describe('copy: special files', () => {
  it('from a stage, pipes and device nodes are recreated; from the context a pipe becomes an empty file', async (t) => {
    const { execFileSync } = await import('node:child_process');
    if (process.geteuid?.() !== 0) return t.skip('mknod of device nodes needs root');
    fresh({ 'dev/keep': 'k' });
    execFileSync('mknod', [join(ctx, 'dev/null'), 'c', '1', '3']);
    execFileSync('mknod', [join(ctx, 'dev/loop300'), 'b', '7', '300']);
    execFileSync('mknod', [join(ctx, 'dev/fifo'), 'p']);
    await run(['dev'], '/dev', { keepOwners: true });
    const n = lstatSync(join(dst, 'dev/null'));
    assert.ok(n.isCharacterDevice());
    const { devNumbers } = await import('../src/fs/copy-tree.js');
    assert.deepEqual(devNumbers(n.rdev), { major: 1, minor: 3 });
    const b = lstatSync(join(dst, 'dev/loop300'));
    assert.ok(b.isBlockDevice());
    assert.deepEqual(devNumbers(b.rdev), { major: 7, minor: 300 });
    assert.ok(lstatSync(join(dst, 'dev/fifo')).isFIFO());
    await run(['dev/fifo'], '/ctx-fifo');
    assert.ok(lstatSync(join(dst, 'ctx-fifo')).isFile());
    await assert.rejects(run(['dev/null'], '/ctx-null'), (e) => isStagecraftError(e) && e.code === 'UNSUPPORTED');
  });
});

describe('copy: extended attributes', () => {
  it('xattrs (user.*, security.capability) are copied with files and dirs; security.selinux is not', async (t) => {
    const { execFileSync } = await import('node:child_process');
    const { xattrToolsAvailable } = await import('../src/tar/xattrs.js');
    if (!xattrToolsAvailable()) return t.skip('getfattr/setfattr not installed (apt-get install attr)');
    fresh({ 'd/ping': 'elf', 'd/sub/x': 'x', 'd/plain': 'p' });
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'hello', join(ctx, 'd/ping')]);
    // cap_net_raw+ep, as Debian's ping has it (VFS_CAP_REVISION_2).
    execFileSync('setfattr', ['-n', 'security.capability', '-v', '0x0000000200200000000000000000000000000000', join(ctx, 'd/ping')]);
    execFileSync('setfattr', ['-n', 'user.dir', '-v', 'd', join(ctx, 'd/sub')]);
    await run(['d'], '/o', { keepOwners: true });
    const dump = (p: string) => execFileSync('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', p], { encoding: 'utf8' });
    assert.match(dump(join(dst, 'o/ping')), /user\.note=0x68656c6c6f/);
    assert.match(dump(join(dst, 'o/ping')), /security\.capability=0x0000000200200000000000000000000000000000/);
    assert.match(dump(join(dst, 'o/sub')), /user\.dir=0x64/);
    assert.doesNotMatch(dump(join(dst, 'o/plain')), /user\./);
    await run(['d/ping'], '/single', {});
    assert.match(dump(join(dst, 'single')), /user\.note=0x68656c6c6f/);
    // Wildcard file matches are read in one batch; odd names survive getfattr's escaping.
    writeFileSync(join(ctx, 'd/ünï code'), 'u');
    execFileSync('setfattr', ['-n', 'user.odd', '-v', 'yes', join(ctx, 'd/ünï code')]);
    await run(['d/*'], '/many/', {});
    assert.match(dump(join(dst, 'many/ünï code')), /user\.odd=0x796573/);
    assert.match(dump(join(dst, 'many/ping')), /user\.note=0x68656c6c6f/);
  });
});

describe('copy: overwriting (testCopyOverrideFiles and friends)', () => {
  it('a file replaces a file; a destination symlink is followed inside the root (BuildKit RootPath)', async () => {
    fresh({ f: 'new' }, { 'o/f': 'old', 'o/target': 'keep', 'o/l': { link: 'target' } });
    await run(['f'], '/o/f');
    await run(['f'], '/o/l');
    assert.deepEqual(readTree(dst), { o: 'd', 'o/f': 'f:new', 'o/l': 'l:target', 'o/target': 'f:new' });
  });
  it('a symlink inside a copied tree replaces the file or link at the target without writing through it', async () => {
    fresh({ 'd/l': 'file-now' }, { 'o/l': { link: '/etc/hostname' } });
    await run(['d'], '/o');
    assert.deepEqual(readTree(dst), { o: 'd', 'o/l': 'f:file-now' });
  });
  it('a file onto a same-named directory fails; a dir tree onto a file fails', async () => {
    fresh({ 'f': 'new', 'd/f': 'inner' }, { 'o/f/keep': 'k', 'p/f': 'file' });
    await assert.rejects(run(['f'], '/o'), (e) => isStagecraftError(e) && /cannot replace directory \/o\/f with a file/.test(e.message));
    await assert.rejects(run(['d'], '/p/f'), (e) => isStagecraftError(e) && /non-directory: \/p\/f/.test(e.message));
  });
  it('a file cannot replace a directory inside a copied tree', async () => {
    fresh({ 'd/x': 'file' }, { 'o/x/y': 'dir' });
    await assert.rejects(run(['d'], '/o'), (e) => isStagecraftError(e) && /cannot replace directory \/o\/x with a file/.test(e.message));
  });
  it('repeated copies overwrite, and existing dirs merge', async () => {
    fresh({ 'd/a': 'one' }, { 'o/old': 'old' });
    await run(['d'], '/o');
    writeFileSync(join(ctx, 'd/a'), 'two');
    await run(['d'], '/o');
    assert.deepEqual(readTree(dst), { o: 'd', 'o/a': 'f:two', 'o/old': 'f:old' });
  });
  it('a symlinked destination directory in the image is followed (testSymlinkDestination)', async () => {
    fresh({ f: 'x' }, { 'usr/lib/keep': 'k', lib: { link: '/usr/lib' } });
    await run(['f'], '/lib/');
    assert.deepEqual(readTree(dst), { lib: 'l:/usr/lib', usr: 'd', 'usr/lib': 'd', 'usr/lib/f': 'f:x', 'usr/lib/keep': 'f:k' });
  });
});

describe('copy --exclude', () => {
  beforeEach(() => fresh(CONTEXT));
  it('COPY --exclude=*.txt hom* /mydir/', async () => {
    await run(['hom*'], '/mydir/', { excludes: ['*.txt'] });
    assert.deepEqual(readTree(dst, 'mydir'), { 'mydir/deep': 'd', 'mydir/deep/also.txt': 'f:deep-txt', 'mydir/home.md': 'f:hm', 'mydir/keep': 'f:k' });
  });
  it('several excludes, and ** reaching into subdirectories', async () => {
    await run(['hom*'], '/mydir/', { excludes: ['*.txt', '*.md', '**/*.txt'] });
    assert.deepEqual(readTree(dst, 'mydir'), { 'mydir/deep': 'd', 'mydir/keep': 'f:k' });
  });
  it('! exceptions bring back paths under an excluded directory', async () => {
    await run(['src'], '/s', { excludes: ['x', '!x/y/c.txt'] });
    assert.deepEqual(readTree(dst, 's'), { 's/a.txt': 'f:sa', 's/x': 'd', 's/x/y': 'd', 's/x/y/c.txt': 'f:sc' });
  });
  it('an excluded directory is pruned', async () => {
    await run(['src'], '/s', { excludes: ['x'] });
    assert.deepEqual(readTree(dst, 's'), { 's/a.txt': 'f:sa' });
  });
});

describe('copy --parents', () => {
  beforeEach(() => fresh(CONTEXT));
  it('keeps the source path', async () => {
    await run(['./x/a.txt', './y/a.txt'], '/parents/', { parents: true });
    await run(['./x/a.txt', './y/a.txt'], '/no_parents/');
    assert.deepEqual(readTree(dst), { no_parents: 'd', 'no_parents/a.txt': 'f:ya', parents: 'd', 'parents/x': 'd', 'parents/x/a.txt': 'f:xa', 'parents/y': 'd', 'parents/y/a.txt': 'f:ya' });
  });
  it('/./ pivots which parents are kept', async () => {
    await run(['./x/./y/*.txt'], '/parents/', { parents: true });
    assert.deepEqual(readTree(dst), { parents: 'd', 'parents/y': 'd', 'parents/y/a.txt': 'f:xya', 'parents/y/b.txt': 'f:xyb' });
  });
  it('** matches any depth', async () => {
    await run(['./src/**/*.txt'], '/parents/', { parents: true });
    assert.deepEqual(readTree(dst), { parents: 'd', 'parents/src': 'd', 'parents/src/a.txt': 'f:sa', 'parents/src/x': 'd', 'parents/src/x/b.txt': 'f:sb', 'parents/src/x/y': 'd', 'parents/src/x/y/c.txt': 'f:sc' });
  });
  it('a wildcard matching nothing is fine; a missing literal is not', async () => {
    await run(['./x/nomatch*'], '/p/', { parents: true });
    await assert.rejects(run(['./test/nonexistent-file'], '/p/', { parents: true }), /"\/test\/nonexistent-file": not found/);
  });
  it('parent directories mirror the source directories\' modes', async () => {
    const { chmodSync } = await import('node:fs');
    chmodSync(join(ctx, 'x'), 0o701);
    await run(['x/a.txt'], '/p/', { parents: true });
    assert.equal(modeOf(join(dst, 'p/x')), '701');
  });
});

describe('copy with an ignore filter (.dockerignore)', () => {
  it('ignored files are neither matched nor copied, and naming one explains why', async () => {
    fresh({ 'a.txt': 'a', 'b.txt': 'b', 'd/keep': 'k', 'd/secret': 's' });
    const ignore = (rel: string): boolean => rel === 'b.txt' || rel === 'd/secret';
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['*.txt', 'd'], dest: '/o/', ignore });
    assert.deepEqual(readTree(dst), { o: 'd', 'o/a.txt': 'f:a', 'o/keep': 'f:k' });
    await assert.rejects(copy({ srcRoot: ctx, destRoot: dst, sources: ['b.txt'], dest: '/o/', ignore }), (e) => isStagecraftError(e) && /excluded by \.dockerignore/.test(e.hint ?? ''));
  });
});

describe('copy from a stage root', () => {
  it('sources resolve from the stage root through its own symlinks (testCopyThroughSymlinkMultiStage)', async () => {
    fresh({ 'real/sub/foo': 'data', 'sub-abs': { link: '/real/sub' }, 'rel': { link: 'real' } });
    await run(['/sub-abs/foo'], '/a', { keepOwners: true, sourceName: 'stage build' });
    await run(['/rel/sub/foo'], '/b', { keepOwners: true });
    assert.equal(readFileSync(join(dst, 'a'), 'utf8'), 'data');
    assert.equal(readFileSync(join(dst, 'b'), 'utf8'), 'data');
    await assert.rejects(run(['/nope'], '/c', { sourceName: 'stage build' }), /not found in stage build/);
  });
  it('unicode and %-encoded names are literal', async () => {
    fresh({ 'ü/é%20x': 'u' });
    await run(['ü/é%20x'], '/o/');
    assert.deepEqual(readTree(dst), { o: 'd', 'o/é%20x': 'f:u' });
  });
  it('a dangling link source is not found', async () => {
    fresh({});
    symlinkSync('missing', join(ctx, 'dangling'));
    await assert.rejects(run(['dangling'], '/o'), /not found/);
  });
});

describe('copy --exclude: BuildKit testExcludedFilesOnCopy (context variant)', () => {
  const SRC: TreeSpec = {
    'dir1/file-101.png': '2', 'dir1/file-102.txt': '3', 'dir1/file-103.jpeg': '4',
    'dir2/file-201.pdf': '6', 'dir2/file-202.jpeg': '7', 'dir2/file-203.png': '8',
    'dir3/file-301.mp3': '9', 'dir3/file-302.mpeg': '10',
  };
  const builders: Array<{ name: string; sources: string[]; dest: string; excludes: string[]; want: Record<string, string> }> = [
    { name: 'builder1: COPY --exclude=*/*.png --exclude=*/*.jpeg . /1', sources: ['.'], dest: '/1', excludes: ['*/*.png', '*/*.jpeg'],
      want: { 'dir1/file-102.txt': '3', 'dir2/file-201.pdf': '6', 'dir3/file-301.mp3': '9', 'dir3/file-302.mpeg': '10' } },
    { name: 'builder2: COPY --exclude=*/*.pdf --exclude=*/*.txt . /2', sources: ['.'], dest: '/2', excludes: ['*/*.pdf', '*/*.txt'],
      want: { 'dir1/file-101.png': '2', 'dir1/file-103.jpeg': '4', 'dir2/file-202.jpeg': '7', 'dir2/file-203.png': '8', 'dir3/file-301.mp3': '9', 'dir3/file-302.mpeg': '10' } },
    { name: 'builder3: ADD --exclude=*.mp3 dir3/ /3/', sources: ['dir3/'], dest: '/3/', excludes: ['*.mp3'], want: { 'file-302.mpeg': '10' } },
    { name: 'builder4: COPY --exclude=*.mp3 --exclude=*.jpeg --exclude=*.png --exclude=*.pdf --exclude=*.txt dir* /4/', sources: ['dir*'], dest: '/4/', excludes: ['*.mp3', '*.jpeg', '*.png', '*.pdf', '*.txt'], want: { 'file-302.mpeg': '10' } },
    { name: 'builder5: ADD --exclude=*.mp* --exclude=*.jpeg --exclude=*.png --exclude=*.pdf dir* /5', sources: ['dir*'], dest: '/5', excludes: ['*.mp*', '*.jpeg', '*.png', '*.pdf'], want: { 'file-102.txt': '3' } },
    { name: 'builder6: ADD --exclude=* dir* /6 (empty destination directory)', sources: ['dir*'], dest: '/6', excludes: ['*'], want: {} },
  ];
  let passed = 0;
  after(() => console.log(`testExcludedFilesOnCopy builders: ${passed}/${builders.length} passed`));
  for (const b of builders) {
    it(b.name, async () => {
      fresh(SRC);
      await run(b.sources, b.dest, { excludes: b.excludes });
      const root = join(dst, b.dest);
      const files = Object.fromEntries(Object.entries(readTree(root)).filter(([, v]) => v.startsWith('f:')).map(([k, v]) => [k, v.slice(2)]));
      assert.deepEqual(files, b.want);
      passed++;
    });
  }
});
