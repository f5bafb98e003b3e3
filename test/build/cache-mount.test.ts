/**
 * Cache-mount directories on a real filesystem: ids map to distinct safe
 * names, `locked` makes the second user wait for the first, `private` gives
 * concurrent users different directories, `shared` the same one, a new cache
 * gets uid/gid/mode, a seed fills a new cache once, and a source subpath that
 * a symlink leads out of the cache is refused (the escape threat).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireCacheDir, cacheDirName, cacheSlotsName, clearCacheMounts } from '../../src/build/cache-mounts.js';
import { existsSync } from 'node:fs';

const root = (): Promise<string> => mkdtemp(join(tmpdir(), 'stagecraft-cache-mount-'));
/** Runs fn with a new store root, removed afterwards; counts the test as passed when fn returns. */
async function inRoot(fn: (r: string) => Promise<void>): Promise<void> {
  const r = await root();
  try {
    await fn(r);
    passed++;
  } finally {
    await rm(r, { recursive: true, force: true });
  }
}
let passed = 0;
const TOTAL = 9;

const skip = process.getuid?.() !== 0 ? 'cache directories are chowned to other uids, which needs root' : undefined;

describe('cache mount directories', { skip }, () => {
  it('cache dir names are file-name safe and distinct for distinct ids', () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
      const na = cacheDirName(a);
      assert.match(na, /^[A-Za-z0-9][A-Za-z0-9._-]*-[a-f0-9]{12}$/);
      assert.ok(!na.includes('/') && na !== '.' && na !== '..');
      if (a !== b) assert.notEqual(na, cacheDirName(b));
    }));
    assert.match(cacheDirName('/root/.cache/go-build'), /^root_\.cache_go-build-[a-f0-9]{12}$/);
    assert.equal(cacheDirName('/c'), cacheDirName('/c'), 'the same id always names the same directory');
    assert.match(cacheDirName('..'), /^cache-[a-f0-9]{12}$/);
    passed++;
  });

  it('a seeded cache is keyed by its seed: another seed is another cache, the same seed the same one', async () => {
    const r = await root();
    try {
      const seedA = await mkdtemp(join(r, 'seed-a-'));
      const seedB = await mkdtemp(join(r, 'seed-b-'));
      await writeFile(join(seedA, 'who'), 'a\n');
      await writeFile(join(seedB, 'who'), 'b\n');
      const a = await acquireCacheDir(r, { id: '/s', sharing: 'shared', seed: seedA, seedKey: 'stage:/out:sha256:aa' });
      const b = await acquireCacheDir(r, { id: '/s', sharing: 'shared', seed: seedB, seedKey: 'stage:/out:sha256:bb' });
      assert.notEqual(a.dir, b.dir);
      assert.equal(await readFile(join(a.dir, 'who'), 'utf8'), 'a\n');
      assert.equal(await readFile(join(b.dir, 'who'), 'utf8'), 'b\n', 'each seed fills its own cache');
      await writeFile(join(a.dir, 'kept'), 'x');
      const again = await acquireCacheDir(r, { id: '/s', sharing: 'shared', seed: seedA, seedKey: 'stage:/out:sha256:aa' });
      assert.equal(again.dir, a.dir, 'the same seed finds the same cache, with what earlier steps left');
      assert.equal(await readFile(join(again.dir, 'kept'), 'utf8'), 'x');
      const unseeded = await acquireCacheDir(r, { id: '/s', sharing: 'shared' });
      assert.equal(new Set([a.dir, b.dir, unseeded.dir]).size, 3, 'an unseeded cache of the same id is apart from both');
      assert.match(cacheSlotsName({ id: '/s', seedKey: 'k', uid: 1 }), /^s-[a-f0-9]{12}-1-0-755-seed-[a-f0-9]{12}$/);
      await Promise.all([a.release(), b.release(), again.release(), unseeded.release()]);
      passed++;
    } finally {
      await rm(r, { recursive: true, force: true });
    }
  });

  it('shared: same directory for concurrent users; a new cache gets uid/gid/mode', async () => {
    const r = await root();
    try {
      const a = await acquireCacheDir(r, { id: '/cache', sharing: 'shared', uid: 1001, gid: 1002, mode: 0o751 });
      const b = await acquireCacheDir(r, { id: '/cache', sharing: 'shared', uid: 1001, gid: 1002, mode: 0o751 });
      assert.equal(a.dir, b.dir);
      const st = await lstat(a.dir);
      assert.equal(`${st.uid} ${st.gid} ${(st.mode & 0o7777).toString(8)}`, '1001 1002 751');
      // BuildKit keys a cache by id and its uid/gid/mode settings: other settings (or none) are another cache.
      const plain = await acquireCacheDir(r, { id: '/cache', sharing: 'shared' });
      const uid7 = await acquireCacheDir(r, { id: '/cache', sharing: 'shared', uid: 7 });
      assert.equal(new Set([a.dir, plain.dir, uid7.dir]).size, 3, 'different settings, different caches');
      const uid0 = await acquireCacheDir(r, { id: '/cache', sharing: 'shared', uid: 0 });
      const explicit = await acquireCacheDir(r, { id: '/cache', sharing: 'shared', uid: 0, gid: 0, mode: 0o755 });
      assert.equal(uid0.dir, explicit.dir, 'unset settings default to 0, 0 and 0755');
      assert.notEqual(uid0.dir, plain.dir, 'any setting makes a cache apart from the plain one');
      await Promise.all([plain.release(), uid7.release(), uid0.release(), explicit.release()]);
      const other = await acquireCacheDir(r, { id: '/cache2', sharing: 'shared' });
      assert.notEqual(other.dir, a.dir);
      assert.equal((await lstat(other.dir)).mode & 0o7777, 0o755, 'default mode 0755');
      await Promise.all([a.release(), b.release(), other.release()]);
      passed++;
    } finally {
      await rm(r, { recursive: true, force: true });
    }
  });

  it('locked: the second user waits until the first releases', async () => {
    const r = await root();
    try {
      const first = await acquireCacheDir(r, { id: 'apt', sharing: 'locked' });
      let got = false;
      const second = acquireCacheDir(r, { id: 'apt', sharing: 'locked' }).then((l) => { got = true; return l; });
      await new Promise((res) => setTimeout(res, 350));
      assert.equal(got, false, 'still waiting while the first holds the lock');
      await first.release();
      const l2 = await second;
      assert.equal(l2.dir, first.dir);
      await l2.release();
      // Two users that ask at the same moment: one gets it, the other waits (the lock files of
      // this process are told apart by token, so the loser cannot take the winner's as stale).
      const got2: string[] = [];
      const both = ['x', 'y'].map((name) => acquireCacheDir(r, { id: 'apt', sharing: 'locked' }).then((l) => { got2.push(name); return l; }));
      await new Promise((res) => setTimeout(res, 350));
      assert.equal(got2.length, 1, `one holder at a time, got ${got2.join(', ')}`);
      const winner = await both[got2[0] === 'x' ? 0 : 1]!;
      await winner.release();
      await (await both[got2[0] === 'x' ? 1 : 0]!).release();
      assert.equal(got2.length, 2);
      passed++;
    } finally {
      await rm(r, { recursive: true, force: true });
    }
  });

  it('private: concurrent users get different directories; a released one is reused', async () => {
    const r = await root();
    try {
      const a = await acquireCacheDir(r, { id: 'p', sharing: 'private' });
      const b = await acquireCacheDir(r, { id: 'p', sharing: 'private' });
      assert.notEqual(a.dir, b.dir);
      await writeFile(join(a.dir, 'mark'), 'a');
      await a.release();
      const c = await acquireCacheDir(r, { id: 'p', sharing: 'private' });
      assert.equal(c.dir, a.dir);
      assert.equal(await readFile(join(c.dir, 'mark'), 'utf8'), 'a');
      await Promise.all([b.release(), c.release()]);
      passed++;
    } finally {
      await rm(r, { recursive: true, force: true });
    }
  });

  it('a seed fills a new cache once (later seeds do not overwrite it)', async () => {
    const r = await root();
    try {
      const seed = join(r, 'seed');
      await mkdir(seed);
      await writeFile(join(seed, 'from-stage'), 'seeded');
      const a = await acquireCacheDir(r, { id: 's', sharing: 'shared', seed });
      assert.equal(await readFile(join(a.dir, 'from-stage'), 'utf8'), 'seeded');
      await writeFile(join(a.dir, 'from-stage'), 'changed by a build');
      await writeFile(join(seed, 'from-stage'), 'seed v2');
      const b = await acquireCacheDir(r, { id: 's', sharing: 'shared', seed });
      assert.equal(await readFile(join(b.dir, 'from-stage'), 'utf8'), 'changed by a build');
      passed++;
    } finally {
      await rm(r, { recursive: true, force: true });
    }
  });

  it('cache source escape: a source a symlink leads outside the cache is refused; a plain subpath is made', async () => {
    const r = await root();
    try {
      const a = await acquireCacheDir(r, { id: 'esc', sharing: 'shared' });
      await symlink('/etc', join(a.dir, 'sel'));
      await assert.rejects(acquireCacheDir(r, { id: 'esc', sharing: 'shared', source: 'sel' }), /resolves outside the cache/);
      await symlink('../../../../../../etc', join(a.dir, 'rel'));
      await assert.rejects(acquireCacheDir(r, { id: 'esc', sharing: 'shared', source: '/rel' }), /resolves outside the cache/);
      const sub = await acquireCacheDir(r, { id: 'esc', sharing: 'shared', source: 'a/b' });
      assert.equal(sub.dir, join(a.dir, 'a/b'));
      assert.ok((await lstat(sub.dir)).isDirectory());
      passed++;
    } finally {
      await rm(r, { recursive: true, force: true });
    }
  });

  it('prune --all leaves a cache a running build holds, whatever its sharing, and removes it once released', () => inRoot(async (r) => {
    const shared = await acquireCacheDir(r, { id: 'npm', sharing: 'shared' });
    const shared2 = await acquireCacheDir(r, { id: 'npm', sharing: 'shared' });
    const locked = await acquireCacheDir(r, { id: 'apt', sharing: 'locked' });
    const priv = await acquireCacheDir(r, { id: 'pip', sharing: 'private' });
    const idle = await acquireCacheDir(r, { id: 'go', sharing: 'shared' });
    await idle.release();
    for (const l of [shared, locked, priv]) await writeFile(join(l.dir, 'mark'), 'kept');
    // A holder that died does not keep a cache.
    const stale = await acquireCacheDir(r, { id: 'dead', sharing: 'shared' });
    await stale.release();
    await writeFile(join(stale.dir, '..', 'shared-999999999-1.lock'), '999999999\nx\n');
    assert.deepEqual(await clearCacheMounts(r), { removed: 2, inUse: 3 });
    for (const l of [shared, locked, priv]) assert.equal(await readFile(join(l.dir, 'mark'), 'utf8'), 'kept');
    assert.equal(existsSync(idle.dir), false);
    // One of two shared users left: still held.
    await shared.release();
    assert.deepEqual(await clearCacheMounts(r), { removed: 0, inUse: 3 });
    await Promise.all([shared2.release(), locked.release(), priv.release()]);
    assert.deepEqual(await clearCacheMounts(r), { removed: 3, inUse: 0 });
    assert.deepEqual(await readdir(join(r, 'cache-mounts')), []);
  }));

  it('prune --all racing builds that take a cache never removes one they hold', () => inRoot(async (r) => {
    for (let i = 0; i < 150; i++) {
      const sharing = (['shared', 'locked', 'private'] as const)[i % 3]!;
      // The prune starts first, so its check and its rename fall between the user's steps.
      const [, lease] = await Promise.all([clearCacheMounts(r), acquireCacheDir(r, { id: 'race', sharing })]);
      await writeFile(join(lease.dir, 'mark'), String(i));
      await clearCacheMounts(r);
      assert.equal(await readFile(join(lease.dir, 'mark'), 'utf8'), String(i), `round ${i} (${sharing}): the cache in use was removed`);
      await lease.release();
    }
  }));

  it('summary', () => {
    console.log(`cache mount directories: ${passed}/${TOTAL} passed`);
    assert.equal(passed, TOTAL);
  });
});
