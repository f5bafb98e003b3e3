/**
 * BuildKit's COPY integration tests (frontend/dockerfile/dockerfile_copy_test.go),
 * replayed against copy(): the same context, the same sequence of COPY
 * instructions (WORKDIR applied, as the planner passes it), and the same
 * expectations on the exported files. RUN steps in those tests only read
 * results (stat, cat); here the assertions read the files directly.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isStagecraftError } from '../src/errors.js';
import { copy, type CopyOptions } from '../src/fs/copy.js';
import { resolveChown } from '../src/fs/users.js';
import { writeTree, type TreeSpec } from './support/fs-tree.js';

const base = mkdtempSync(join(tmpdir(), 'sc-copy-bk-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
let passed = 0;
const TOTAL = 11;
after(() => console.log(`BuildKit COPY scenarios: ${passed}/${TOTAL} passed`));

/** A busybox-like /etc for --chown names. */
const BUSYBOX_ETC: TreeSpec = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\nuser:x:1000:1000::/home/user:/bin/sh\nuser01:x:1001:1001::/home/user01:/bin/sh\n',
  'etc/group': 'root:x:0:\ndaemon:x:1:\nnobody:x:65534:\nuser:x:1000:\nuser01:x:1001:\n',
};

function setup(context: TreeSpec, image: TreeSpec = {}): { ctx: string; root: string } {
  n++;
  const ctx = join(base, `ctx${n}`);
  const root = join(base, `root${n}`);
  mkdirSync(ctx);
  mkdirSync(root);
  writeTree(ctx, context);
  writeTree(root, image);
  return { ctx, root };
}

const text = (root: string, p: string): string => readFileSync(join(root, p), 'utf8');
const perm = (root: string, p: string): string => (lstatSync(join(root, p)).mode & 0o7777).toString(8).padStart(4, '0');
const owner = (root: string, p: string): string => `${lstatSync(join(root, p)).uid}:${lstatSync(join(root, p)).gid}`;

async function COPY(ctx: string, root: string, sources: string[], dest: string, extra: Partial<CopyOptions> & { chownSpec?: string } = {}): Promise<void> {
  const chown = extra.chownSpec ? await resolveChown(root, extra.chownSpec) : undefined;
  await copy({ srcRoot: ctx, destRoot: root, sources, dest, workdir: '/', chown, ...extra });
}

describe('BuildKit COPY scenarios', () => {
  it('testCopyWildcards', async () => {
    const { ctx, root } = setup({ 'foo.go': 'foo-contents', 'bar.go': 'bar-contents', 'sub/dir1/dir2/foo': 'foo-contents' });
    await COPY(ctx, root, ['*.go'], '/gofiles/');
    await COPY(ctx, root, ['f*.go'], 'foo2.go');
    await COPY(ctx, root, ['sub/*'], '/subdest/');
    await COPY(ctx, root, ['sub/*/dir2/foo'], '/subdest2/');
    await COPY(ctx, root, ['sub/*/dir2/foo'], '/subdest3/bar');
    await COPY(ctx, root, ['.'], 'all/');
    await COPY(ctx, root, ['sub/dir1/'], 'subdest4');
    await COPY(ctx, root, ['sub/dir1/.'], 'subdest5');
    await COPY(ctx, root, ['sub/dir1'], 'subdest6');
    const want: Array<[string, string]> = [
      ['gofiles/foo.go', 'foo-contents'], ['gofiles/bar.go', 'bar-contents'], ['foo2.go', 'foo-contents'],
      ['subdest/dir2/foo', 'foo-contents'], ['subdest2/foo', 'foo-contents'], ['subdest3/bar', 'foo-contents'],
      ['all/foo.go', 'foo-contents'], ['subdest4/dir2/foo', 'foo-contents'], ['subdest5/dir2/foo', 'foo-contents'], ['subdest6/dir2/foo', 'foo-contents'],
    ];
    for (const [p, c] of want) assert.equal(text(root, p), c, p);
    passed++;
  });

  it('testCopyRelative', async () => {
    const { ctx, root } = setup({ foo: 'hello' });
    await COPY(ctx, root, ['foo'], './', { workdir: '/test1/test2' });
    await COPY(ctx, root, ['foo'], './bar/baz', { workdir: '/test1/test2' });
    await COPY(ctx, root, ['foo'], './bar/baz2', { workdir: '/test1/test2' });
    await COPY(ctx, root, ['foo'], './', { workdir: '/test1' });
    await COPY(ctx, root, ['foo'], '/test3/', { workdir: '/test1' });
    await COPY(ctx, root, ['.'], '.', { workdir: '/test4' });
    await COPY(ctx, root, ['foo'], '../', { workdir: '/test5/test6' });
    for (const p of ['test1/test2/foo', 'test1/test2/bar/baz', 'test1/test2/bar/baz2', 'test1/foo', 'test3/foo', 'test4/foo', 'test5/foo']) assert.equal(text(root, p), 'hello', p);
    passed++;
  });

  it('testEmptyDestDir / testPreserveDestDirSlash / testCopyLinkDotDestDir', async () => {
    const { ctx, root } = setup({ testfile: 'contents0' });
    await COPY(ctx, root, ['testfile'], '');
    await COPY(ctx, root, ['testfile'], '/sample/');
    await COPY(ctx, root, ['testfile'], '.', { workdir: '/var/www' });
    assert.equal(text(root, 'testfile'), 'contents0');
    assert.equal(text(root, 'sample/testfile'), 'contents0');
    assert.equal(text(root, 'var/www/testfile'), 'contents0');
    passed++;
  });

  it('testCopyChmod and testCopyInvalidChmod', async () => {
    const { ctx, root } = setup({ foo: { file: 'foo-contents', mode: 0o600 }, bar: { file: 'bar-contents', mode: 0o700 } });
    await COPY(ctx, root, ['foo'], '/', { chmod: '0644' });
    await COPY(ctx, root, ['bar'], '/baz', { chmod: '777' });
    await COPY(ctx, root, ['foo'], '/foobis', { chmod: '0' });
    await COPY(ctx, root, ['foo'], '/parent/foo', { chmod: '777' });
    await COPY(ctx, root, ['foo'], '/parent/sub/foo', { chmod: '770' });
    await COPY(ctx, root, ['foo'], '/footer', { chmod: '755' });
    assert.deepEqual(
      ['foo', 'baz', 'foobis', 'parent', 'parent/sub', 'footer'].map((p) => perm(root, p)),
      ['0644', '0777', '0000', '0777', '0770', '0755'],
    );
    for (const bad of ['64a', '10000']) {
      await assert.rejects(COPY(ctx, root, ['foo'], '/', { chmod: bad }), (e) => isStagecraftError(e) && e.message === `invalid chmod parameter: '${bad}'. it should be octal string and between 0 and 07777`);
    }
    passed++;
  });

  it('testCopyChown', async () => {
    const { ctx, root } = setup({ foo: 'foo-contents', 'bar/sub': '' }, BUSYBOX_ETC);
    await COPY(ctx, root, ['foo'], '/', { chownSpec: 'daemon' });
    await COPY(ctx, root, ['bar'], '/baz', { chownSpec: '1000:nobody' });
    await COPY(ctx, root, ['foo'], '/foobis', { chownSpec: '1000:nobody' });
    assert.equal(owner(root, 'foo'), '1:1');
    assert.equal(owner(root, 'baz/sub'), '1000:65534');
    assert.equal(owner(root, 'foobis'), '1000:65534');
    passed++;
  });

  it('testCopyChownCreateDest', async () => {
    const { ctx, root } = setup({ a: 'a' }, BUSYBOX_ETC);
    await COPY(ctx, root, ['.'], '/dest', { chownSpec: 'user:user' });
    await COPY(ctx, root, ['.'], '/dest01', { chownSpec: 'user01:user' });
    assert.equal(owner(root, 'dest'), '1000:1000');
    assert.equal(owner(root, 'dest01'), '1001:1000');
    passed++;
  });

  it('testCopyChownExistingDir (COPY --from keeps owners; new dest dir is root-owned; existing entries untouched)', async () => {
    const source = setup({ file: { file: '', uid: 100, gid: 200 }, 'dir/subdir/nestedfile': { file: '', uid: 102, gid: 202 } });
    const { chownSync } = await import('node:fs');
    chownSync(join(source.ctx, 'dir'), 100, 200);
    chownSync(join(source.ctx, 'dir/subdir'), 101, 201);
    for (const chownSpec of [undefined, '300:400']) {
      const { root } = setup({}, { 'existingdir/existingsubdir': { dir: true }, 'existingdir/existingfile': '' });
      chownSync(join(root, 'existingdir'), 500, 600);
      chownSync(join(root, 'existingdir/existingsubdir'), 501, 601);
      chownSync(join(root, 'existingdir/existingfile'), 501, 601);
      const opts = { keepOwners: true, ...(chownSpec ? { chownSpec } : {}) };
      await COPY(source.ctx, root, ['/file'], '.', opts);
      await COPY(source.ctx, root, ['/dir'], '/dir', opts);
      await COPY(source.ctx, root, ['/dir/.'], '/existingdir', opts);
      const c = chownSpec ? '300:400' : undefined;
      const want: Array<[string, string]> = [
        ['file', c ?? '100:200'], ['dir', c ?? '0:0'], ['dir/subdir', c ?? '101:201'], ['dir/subdir/nestedfile', c ?? '102:202'],
        ['existingdir', '500:600'], ['existingdir/existingsubdir', '501:601'], ['existingdir/existingfile', '501:601'],
        ['existingdir/subdir', c ?? '101:201'], ['existingdir/subdir/nestedfile', c ?? '102:202'],
      ];
      for (const [p, o] of want) assert.equal(owner(root, p), o, `${chownSpec ?? 'no chown'}: ${p}`);
    }
    passed++;
  });

  it('testCopyOverrideFiles', async () => {
    const { ctx, root } = setup({ 'sub/dir1/dir2/foo': 'foo-contents', 'files/foo.go': 'foo.go-contents' });
    await COPY(ctx, root, ['sub'], 'sub');
    await COPY(ctx, root, ['sub'], 'sub');
    await COPY(ctx, root, ['files/foo.go'], 'dest/foo.go');
    await COPY(ctx, root, ['files/foo.go'], 'dest/foo.go');
    await COPY(ctx, root, ['files'], 'dest');
    assert.equal(text(root, 'sub/dir1/dir2/foo'), 'foo-contents');
    assert.equal(text(root, 'dest/foo.go'), 'foo.go-contents');
    passed++;
  });

  it('testCopySymlinks and testCopyFollowAllSymlinks', async () => {
    const { ctx, root } = setup({
      bar: 'bar-contents', foo: { link: 'bar' }, 'sub/lfile': 'lfile-contents', 'sub/l0': { link: 'subfile' },
      'sub/subfile': 'subfile-contents', 'sub/l1': { link: 'second' }, 'sub/second': { link: 'baz' }, 'sub/baz': 'baz-contents',
      'dir/sub': { link: '../bar' },
    });
    await COPY(ctx, root, ['foo'], '/');
    await COPY(ctx, root, ['sub/l*'], 'alllinks/');
    await COPY(ctx, root, ['dir'], '/');
    await COPY(ctx, root, ['dir/sub'], 'bar2');
    assert.equal(text(root, 'foo'), 'bar-contents');
    assert.equal(text(root, 'alllinks/l0'), 'subfile-contents');
    assert.equal(text(root, 'alllinks/lfile'), 'lfile-contents');
    assert.equal(text(root, 'alllinks/l1'), 'baz-contents');
    assert.ok(lstatSync(join(root, 'sub')).isSymbolicLink(), 'a link inside a copied directory stays a link');
    assert.equal(text(root, 'bar2'), 'bar-contents');
    passed++;
  });

  it('testCopyThroughSymlinkContext, testCopyThroughSymlinkMultiStage, testCopyUnicodePath, testCopySocket', async () => {
    const { ctx, root } = setup({ link: { link: 'sub' }, 'sub/foo': 'contents', 'out/sub/foo': 'data', sub2: { link: 'out/sub' }, 'test-äöü.txt': 'foo', 'test-%C3%A4%C3%B6%C3%BC.txt': 'bar', 'test+aou.txt': 'baz' });
    const { symlinkSync } = await import('node:fs');
    symlinkSync('/out/sub', join(ctx, 'subabs'));
    await COPY(ctx, root, ['link/foo'], '.');
    await COPY(ctx, root, ['/subabs/foo'], 'data-abs', { keepOwners: true });
    await COPY(ctx, root, ['/sub2/foo'], 'data-rel', { keepOwners: true });
    for (const f of ['test-äöü.txt', 'test-%C3%A4%C3%B6%C3%BC.txt', 'test+aou.txt']) await COPY(ctx, root, [f], '/');
    assert.equal(text(root, 'foo'), 'contents');
    assert.equal(text(root, 'data-abs'), 'data');
    assert.equal(text(root, 'data-rel'), 'data');
    assert.deepEqual(['test-äöü.txt', 'test-%C3%A4%C3%B6%C3%BC.txt', 'test+aou.txt'].map((f) => text(root, f)), ['foo', 'bar', 'baz']);
    passed++;
  });

  it('testEmptyWildcard and testCopyParentsMissingDirectory', async () => {
    const { ctx, root } = setup({ foo: 'contents0' });
    await COPY(ctx, root, ['foo', 'nomatch*'], '/');
    assert.equal(text(root, 'foo'), 'contents0');
    await assert.rejects(COPY(ctx, root, ['/test/nonexistent-file'], '/x/', { parents: true }), (e) => isStagecraftError(e) && /"\/test\/nonexistent-file": not found/.test(e.message));
    passed++;
  });
});

describe('BuildKit COPY --parents scenarios (dockerfile_parents_test.go)', () => {
  const STAGE: TreeSpec = {
    'test/a/b/c/d/e/bay': '', 'test/a/b/c/d/foo': '', 'test/a/b2/c/d/e/bar': '',
    'test/a/b/c2/d/e/baz': '', 'test/a/b/c2/d/e2/baz': '',
  };
  const targets: Array<{ name: string; sources: string[]; present: string[]; absent: string[] }> = [
    { name: 'middle: /test/a/b/./c/d', sources: ['/test/a/b/./c/d'], present: ['c/d/e', 'c/d/foo'], absent: ['a', 'e'] },
    { name: 'end: /test/a/b/c/d/.', sources: ['/test/a/b/c/d/.'], present: ['test/a/b/c/d/e', 'test/a/b/c/d/foo'], absent: [] },
    { name: 'start: ./test/a/b/c/d', sources: ['./test/a/b/c/d'], present: ['test/a/b/c/d/e', 'test/a/b/c/d/foo'], absent: [] },
    { name: 'double: /test/a/./b/./c', sources: ['/test/a/./b/./c'], present: ['b/c/d/e', 'b/c/d/foo'], absent: [] },
    { name: 'wildcard: /test/a/./*/c', sources: ['/test/a/./*/c'], present: ['b/c/d/e', 'b2/c/d/e/bar'], absent: [] },
    { name: 'doublewildcard: /test/a/b*/./c/**/e', sources: ['/test/a/b*/./c/**/e'], present: ['c/d/e', 'c/d/e/bay', 'c/d/e/bar'], absent: [] },
    { name: 'doubleinputs', sources: ['/test/a/b/c*/./d/**/baz', '/test/a/b*/./c/**/bar'], present: ['d/e/baz', 'd/e2/baz', 'c/d/e/bar'], absent: ['d/e/bay'] },
    { name: 'normal: /test/a/b/c/d', sources: ['/test/a/b/c/d'], present: ['test/a/b/c/d/e', 'test/a/b/c/d/e/bay'], absent: ['e', 'a'] },
    { name: 'wildcard-nonexistent (upstream b2* on a base without b2; b3* here)', sources: ['/test/a/b3*/c'], present: [], absent: ['a'] },
    { name: 'wildcard-afterpivot (upstream c2* on a base without c2; c3* here)', sources: ['/test/a/b/./c3*'], present: [], absent: ['a'] },
  ];
  let ok = 0;
  after(() => console.log(`BuildKit --parents targets: ${ok}/${targets.length} passed`));
  for (const t of targets) {
    it(t.name, async () => {
      const { ctx, root } = setup(STAGE);
      await copy({ srcRoot: ctx, destRoot: root, sources: t.sources, dest: '/out/', parents: true, keepOwners: true });
      assert.ok(lstatSync(join(root, 'out')).isDirectory());
      for (const p of t.present) assert.ok(lstatSync(join(root, 'out', p), { throwIfNoEntry: false }), `expected /out/${p}`);
      for (const p of t.absent) assert.equal(lstatSync(join(root, 'out', p), { throwIfNoEntry: false }), undefined, `unexpected /out/${p}`);
      ok++;
    });
  }
  it('testCopyParents: --parents foo1/foo2/bar / and foo1/foo2/ba* . in WORKDIR /test', async () => {
    const { ctx, root } = setup({ 'foo1/foo2/bar': 'testing', 'foo1/foo2/baz': 'testing2' });
    await copy({ srcRoot: ctx, destRoot: root, sources: ['foo1/foo2/bar'], dest: '/', parents: true });
    await copy({ srcRoot: ctx, destRoot: root, sources: ['foo1/foo2/ba*'], dest: '.', workdir: '/test', parents: true });
    assert.equal(text(root, 'foo1/foo2/bar'), 'testing');
    assert.equal(text(root, 'test/foo1/foo2/bar'), 'testing');
    assert.equal(text(root, 'test/foo1/foo2/baz'), 'testing2');
  });
});

describe('BuildKit testChmodNonOctal', () => {
  const cases: Array<{ dst: string; mode: string; isDir: boolean }> = [
    { dst: 'f1', mode: 'go-w', isDir: false },
    { dst: 'f2', mode: 'u=rw,g=r,o=r', isDir: false },
    { dst: 'f3', mode: 'a+X', isDir: false },
    { dst: 'd1', mode: 'go-w', isDir: true },
    { dst: 'd2', mode: 'u+rw,g+r,o-x,o+w', isDir: true },
    { dst: 'd3', mode: 'a+X', isDir: true },
  ];
  it('COPY --chmod=<symbolic> matches cp -a + chmod(1) on file 0666 and dir 0124', async () => {
    const { execFileSync } = await import('node:child_process');
    const { chmodSync } = await import('node:fs');
    const { ctx, root } = setup({ 'input/file': { file: '', mode: 0o666 } });
    mkdirSync(join(ctx, 'input/dir'));
    chmodSync(join(ctx, 'input/dir'), 0o124);
    const expected = join(base, `expected${n}`);
    mkdirSync(expected);
    for (const c of cases) {
      if (c.isDir) {
        // As upstream: nest the dir so that COPY (which copies contents) lands it at /<dst>.
        mkdirSync(join(ctx, 'input/dirs', c.dst), { recursive: true });
        execFileSync('cp', ['-a', join(ctx, 'input/dir'), join(ctx, 'input/dirs', c.dst, c.dst)]);
        execFileSync('cp', ['-a', join(ctx, 'input/dir'), join(expected, c.dst)]);
        await copy({ srcRoot: ctx, destRoot: root, sources: [`/input/dirs/${c.dst}`], dest: '/', chmod: c.mode, keepOwners: true });
      } else {
        execFileSync('cp', ['-a', join(ctx, 'input/file'), join(expected, c.dst)]);
        await copy({ srcRoot: ctx, destRoot: root, sources: ['/input/file'], dest: `/${c.dst}`, chmod: c.mode, keepOwners: true });
      }
      execFileSync('chmod', [c.mode, join(expected, c.dst)]);
      assert.equal(perm(root, c.dst), perm(expected, c.dst), `${c.dst} --chmod=${c.mode}`);
    }
  });
});
