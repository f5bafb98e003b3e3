import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { isStagecraftError } from '../src/errors.js';
import { BuildContext } from '../src/context/build-context.js';
import { StatCache } from '../src/context/stat-cache.js';
import { hashTree } from '../src/context/tree-hash.js';
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { copy } from '../src/fs/copy.js';
import { readTree, writeTree, type TreeSpec } from './support/fs-tree.js';

const base = mkdtempSync(join(tmpdir(), 'sc-context-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
function dir(spec: TreeSpec): string {
  const d = join(base, `c${++n}`);
  mkdirSync(d);
  writeTree(d, spec);
  return d;
}
/** Files written just now are "racily clean"; age them past the stat cache's window. */
const settle = () => sleep(120);
/** A new process's view: open the context from the cache file, hash, and wait for the cache to be saved. */
async function hashSaved(d: string, statCachePath: string, sources: string[]) {
  const ctx = await BuildContext.open(d, { statCachePath });
  const r = await ctx.hashSources(sources);
  await ctx.flush();
  return r;
}

describe('BuildContext: .dockerignore', () => {
  it('testDockerignore: ba*, Dockerfile, !bay, .dockerignore with COPY . .', async () => {
    const d = dir({ foo: 'foo', bar: 'bar', baz: 'baz', bay: 'bay', Dockerfile: 'FROM scratch', '.dockerignore': 'ba*\nDockerfile\n!bay\n.dockerignore\n' });
    const ctx = await BuildContext.open(d, { dockerfilePath: join(d, 'Dockerfile') });
    assert.equal(ctx.ignoreFile, join(d, '.dockerignore'));
    assert.deepEqual(await ctx.listFiles(['.']), ['bay', 'foo']);
    const out = join(base, `out${n}`);
    mkdirSync(out);
    await copy({ srcRoot: ctx.dir, destRoot: out, sources: ['.'], dest: '.', ignore: ctx.ignore });
    assert.deepEqual(readTree(out), { bay: 'f:bay', foo: 'f:foo' });
  });

  it('testDockerignoreOverride: <Dockerfile>.dockerignore beside the Dockerfile wins', async () => {
    const d = dir({ a: 'a', b: 'b', '.dockerignore': 'a\n', 'build/Dockerfile2': 'FROM scratch', 'build/Dockerfile2.dockerignore': 'b\n' });
    const ctx = await BuildContext.open(d, { dockerfilePath: join(d, 'build/Dockerfile2') });
    assert.equal(ctx.ignoreFile, join(d, 'build/Dockerfile2.dockerignore'));
    assert.deepEqual(await ctx.listFiles(['a', '[b]']), ['a']);
    const plain = await BuildContext.open(d, { dockerfilePath: join(d, 'Dockerfile') });
    assert.deepEqual(await plain.listFiles(['*']), ['.dockerignore', 'b', 'build', 'build/Dockerfile2', 'build/Dockerfile2.dockerignore']);
  });

  it('ignored directories are pruned; ! exceptions inside them still count', async () => {
    const d = dir({ 'node_modules/x/i.js': 'x', 'node_modules/keep/k.js': 'k', 'src/a.ts': 'a', '.dockerignore': 'node_modules\n!node_modules/keep\n' });
    const ctx = await BuildContext.open(d);
    assert.deepEqual(await ctx.listFiles(['.']), ['.dockerignore', 'node_modules', 'node_modules/keep', 'node_modules/keep/k.js', 'src', 'src/a.ts']);
  });

  it('a COPY of an ignored file is not found, and the hint says why', async () => {
    const d = dir({ secret: 's', '.dockerignore': 'secret\n' });
    const ctx = await BuildContext.open(d);
    await assert.rejects(ctx.hashSources(['secret']), (e) => isStagecraftError(e) && /not found in build context/.test(e.message) && /\.dockerignore/.test(e.hint ?? ''));
  });

  it('a bad .dockerignore fails with a DOCKERIGNORE error (testDockerignoreInvalid)', async () => {
    const d = dir({ '.dockerignore': '!\n' });
    await assert.rejects(BuildContext.open(d), (e) => isStagecraftError(e) && e.code === 'DOCKERIGNORE');
  });
});

describe('BuildContext.hashSources: content digests and the stat cache', () => {
  const SPEC: TreeSpec = { 'a.go': 'package a', 'b.go': 'package b', 'README.md': 'readme', 'src/x.ts': 'x'.repeat(5000), 'src/y.ts': 'y', 'ign/z': 'z', '.dockerignore': 'ign\n' };

  it('an unchanged rebuild reads 0 bytes; a one-file change reads only that file', async () => {
    const d = dir(SPEC);
    const cachePath = join(base, `cache${n}/stat-cache.json`);
    await settle();
    const first = await hashSaved(d, cachePath, ['.']);
    assert.equal(first.files, 6);
    assert.equal(first.bytesRead, 9 + 9 + 6 + 5000 + 1 + 4);
    assert.match(first.digest, /^sha256:[0-9a-f]{64}$/);

    // A new process would open the context again from the same cache file.
    const second = await hashSaved(d, cachePath, ['.']);
    assert.deepEqual(second, { ...first, bytesRead: 0 });

    writeFileSync(join(d, 'src/y.ts'), 'Y2');
    await settle();
    const third = await hashSaved(d, cachePath, ['.']);
    assert.equal(third.bytesRead, 2);
    assert.notEqual(third.digest, first.digest);
    const fourth = await hashSaved(d, cachePath, ['.']);
    assert.equal(fourth.bytesRead, 0);
    assert.equal(fourth.digest, third.digest);
  });

  it('mtime is not part of the digest; mode, content, names and link targets are', async () => {
    const d = dir({ ...SPEC, link: { link: 'a.go' } });
    const ctx = await BuildContext.open(d);
    const h0 = (await ctx.hashSources(['.'])).digest;
    utimesSync(join(d, 'a.go'), 12345, 12345);
    assert.equal((await ctx.hashSources(['.'])).digest, h0, 'touch keeps the key');
    chmodSync(join(d, 'a.go'), 0o755);
    const h1 = (await ctx.hashSources(['.'])).digest;
    assert.notEqual(h1, h0, 'mode change');
    unlinkSync(join(d, 'link'));
    symlinkSync('b.go', join(d, 'link'));
    const h2 = (await ctx.hashSources(['.'])).digest;
    assert.notEqual(h2, h1, 'link target');
    renameSync(join(d, 'README.md'), join(d, 'README.txt'));
    assert.notEqual((await ctx.hashSources(['.'])).digest, h2, 'rename');
  });

  it('testCopyWildcardCache: a change outside the wildcard keeps the key; inside or renaming a match away changes it', async () => {
    const d = dir(SPEC);
    const ctx = await BuildContext.open(d);
    const h0 = (await ctx.hashSources(['*.go'])).digest;
    writeFileSync(join(d, 'README.md'), 'changed');
    writeFileSync(join(d, 'ign/z'), 'ignored change');
    assert.equal((await ctx.hashSources(['*.go'])).digest, h0);
    writeFileSync(join(d, 'b.go'), 'package b2');
    const h1 = (await ctx.hashSources(['*.go'])).digest;
    assert.notEqual(h1, h0);
    renameSync(join(d, 'a.go'), join(d, 'a.txt'));
    assert.notEqual((await ctx.hashSources(['*.go'])).digest, h1);
  });

  it('--exclude and --parents are part of what is selected', async () => {
    const d = dir(SPEC);
    const ctx = await BuildContext.open(d);
    const all = await ctx.hashSources(['src']);
    const excl = await ctx.hashSources(['src'], { excludes: ['y.ts'] });
    assert.notEqual(all.digest, excl.digest);
    assert.deepEqual(await ctx.listFiles(['src'], { excludes: ['y.ts'] }), ['src', 'src/x.ts']);
    const par = await ctx.hashSources(['src/x.ts'], { parents: true });
    const flat = await ctx.hashSources(['src/x.ts']);
    assert.notEqual(par.digest, flat.digest, 'src/x.ts lands at a different path with --parents');
  });

  it('the same content at the same landing paths gives the same digest in another context', async () => {
    const a = await (await BuildContext.open(dir(SPEC))).hashSources(['src']);
    const b = await (await BuildContext.open(dir(SPEC))).hashSources(['src']);
    assert.equal(a.digest, b.digest);
  });

  it('a racily clean file (changed just now) is not trusted from the cache', async () => {
    const d = dir({ f: 'one' });
    const cache = StatCache.memory();
    const r1 = await hashTree(d, ['f'], { statCache: cache });
    const r2 = await hashTree(d, ['f'], { statCache: cache });
    assert.equal(r1.bytesRead, 3);
    assert.equal(r2.bytesRead, 3, 'still inside the racy window: read again');
    await settle();
    await hashTree(d, ['f'], { statCache: cache });
    assert.equal((await hashTree(d, ['f'], { statCache: cache })).bytesRead, 0);
  });

  it('concurrent hashes of one context share the cache and save safely', async () => {
    const d = dir(SPEC);
    const cachePath = join(base, `concurrent${n}.json`);
    await settle();
    const ctx = await BuildContext.open(d, { statCachePath: cachePath });
    const results = await Promise.all([ctx.hashSources(['src']), ctx.hashSources(['*.go']), ctx.hashSources(['.']), ctx.hashSources(['README.md'])]);
    assert.equal(results.length, 4);
    await ctx.flush();
    const again = await hashSaved(d, cachePath, ['.']);
    assert.equal(again.bytesRead, 0);
    assert.equal(again.digest, results[2]!.digest);
  });

  it('saves that overlap land in order: the file ends with every entry stored', async () => {
    // Each save snapshots the entries when it starts; two writes in flight
    // could otherwise rename in either order and leave the older snapshot.
    const d = dir(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 'x'.repeat(i * 997)])));
    await settle();
    const cachePath = join(base, `overlap${n}.json`);
    const cache = await StatCache.load(cachePath);
    await Promise.all(Array.from({ length: 40 }, (_, i) => hashTree(d, [`f${i}`], { statCache: cache }).then(() => cache.save())));
    const saved = JSON.parse(readFileSync(cachePath, 'utf8')) as { entries: Record<string, unknown> };
    assert.equal(Object.keys(saved.entries).length, 40);
  });

  it('hashSources does not wait for the cache to be saved; flush() does, and reports a save that failed', async () => {
    const d = dir({ f: 'x' });
    await settle();
    const blocker = join(base, `blocker${n}`);
    writeFileSync(blocker, 'a file where the cache directory should be');
    const ctx = await BuildContext.open(d, { statCachePath: join(blocker, 'stat-cache.json') });
    const r = await ctx.hashSources(['f']);
    assert.equal(r.bytesRead, 1, 'the digest is there although the save fails');
    await assert.rejects(ctx.flush(), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR' || e.code === 'EEXIST');
    await ctx.flush(); // nothing left to wait for
  });

  it('a corrupt cache file is ignored and rewritten', async () => {
    const d = dir({ f: 'x' });
    const cachePath = join(base, `corrupt${n}.json`);
    writeFileSync(cachePath, '{not json');
    await settle();
    const r = await hashSaved(d, cachePath, ['f']);
    assert.equal(r.bytesRead, 1);
    assert.equal(JSON.parse(readFileSync(cachePath, 'utf8')).version, 1);
  });
});

describe('hashTree for stage sources', () => {
  it('owners count for stage sources (they are kept by COPY --from)', async () => {
    const d = dir({ 'app/bin': 'elf' });
    const h0 = await hashTree(d, ['/app'], { includeOwners: true });
    chownSync(join(d, 'app/bin'), 1000, 1000);
    const h1 = await hashTree(d, ['/app'], { includeOwners: true });
    assert.notEqual(h0.digest, h1.digest);
    const c0 = await hashTree(d, ['/app'], { includeOwners: false });
    chownSync(join(d, 'app/bin'), 0, 0);
    assert.equal((await hashTree(d, ['/app'], { includeOwners: false })).digest, c0.digest);
  });
  it('many small files (read in slices) and large ones (streamed) each get their own content hash', async () => {
    // Enough small files for several of the synchronous slices, large ones among them, and
    // sizes on both sides of the 256 KiB line between the two ways of reading.
    const spec: TreeSpec = {};
    for (let i = 0; i < 3000; i++) spec[`t/d${i % 7}/f${i}`] = `small ${i}\n`.repeat(i % 13);
    spec['t/d3/big-a'] = Buffer.alloc(256 * 1024, 'a').toString();
    spec['t/d3/big-b'] = Buffer.alloc(256 * 1024 + 1, 'b').toString();
    spec['t/d5/big-c'] = Buffer.alloc(3 * 1024 * 1024 + 7, 'c').toString();
    const d = dir(spec);
    await settle();
    const cache = StatCache.memory();
    const h = await hashTree(d, ['t'], { statCache: cache });
    assert.equal(h.files, 3003);
    let checked = 0;
    for (const rel of Object.keys(spec)) {
      const p = join(d, rel);
      const want = createHash('sha256').update(readFileSync(p)).digest('hex');
      assert.equal(cache.lookup(p, lstatSync(p, { bigint: true })), want, rel);
      checked++;
    }
    assert.equal(checked, 3003);
    // All from the cache now: the same digest, nothing read; one changed file in either group changes it.
    const again = await hashTree(d, ['t'], { statCache: cache });
    assert.deepEqual([again.digest, again.bytesRead], [h.digest, 0]);
    writeFileSync(join(d, 't/d2/f100'), 'changed');
    const small = await hashTree(d, ['t']);
    assert.notEqual(small.digest, h.digest);
    writeFileSync(join(d, 't/d5/big-c'), Buffer.alloc(3 * 1024 * 1024 + 7, 'd'));
    assert.notEqual((await hashTree(d, ['t'])).digest, small.digest);
  });
  it('missing sources fail like COPY does', async () => {
    const d = dir({ 'app/bin': 'elf' });
    await assert.rejects(hashTree(d, ['/app/bni'], { rootName: 'stage build' }), (e) => isStagecraftError(e) && e.message === '"/app/bni": not found in stage build' && e.hint === 'did you mean "/app/bin"?');
  });
});
