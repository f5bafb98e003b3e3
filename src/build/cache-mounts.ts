/**
 * RUN --mount=type=cache directories, kept in the store between builds:
 *
 *   <root>/cache-mounts/<name>/data        the cache (shared and locked users)
 *   <root>/cache-mounts/<name>/private-N   extra copies for `sharing=private`
 *   <root>/cache-mounts/<name>/*.lock      who holds a slot (pid, O_EXCL), or holds
 *                                          the shared slot (shared-<pid>-<n>.lock)
 *
 * `<name>` is the id made file-name safe plus a short hash of the id, and,
 * when the mount gives uid, gid or mode, those settings: BuildKit keys a
 * cache by its id and the directory those settings make, so `id=x` and
 * `id=x,uid=7` are two caches (as Docker's BuildKit builds them); a cache
 * seeded with `from` is also keyed by its seed (the source path and the
 * seeding stage's or image's layers), as BuildKit keys it by the seed's
 * snapshot: `id=x,from=a` and `id=x,from=b` are two caches. A new
 * cache directory is made under a temporary name, seeded from `from`/`source`
 * when given, given its uid/gid/mode (default 0:0 0755) and then renamed into
 * place, so two builds creating the same cache agree on one directory.
 *
 * Sharing: `shared` takes no lock; `locked` waits for the slot's lock;
 * `private` takes the first free slot (data, private-1, ...), creating one.
 * Cache directories are mounted into the step, never into its snapshot, so
 * nothing in them becomes part of a layer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StagecraftError } from '../errors.js';
import { cleanPath, isInside, splitPath } from '../fs/scoped-path.js';
import { alive } from '../store/lock.js';

export interface CacheDirRequest {
  id: string;
  sharing: 'shared' | 'private' | 'locked';
  uid?: number | undefined;
  gid?: number | undefined;
  mode?: number | undefined;
  /** Subpath inside the cache to mount (no `from`); '' or '/' for the root. */
  source?: string | undefined;
  /** Host directory whose contents seed a new cache (`from` + `source`). */
  seed?: string | undefined;
  /** What the seed is (source path and the seeding stage's layers): a different seed is a different cache. */
  seedKey?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface CacheDirLease {
  /** Host directory to bind at the mount target. */
  dir: string;
  release(): Promise<void>;
}

/** File-name-safe directory name for a cache id. */
export function cacheDirName(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, 64);
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 12);
  return `${safe === '' ? 'cache' : safe}-${hash}`;
}

/** Slots held by this process (a second user in this process must not take them either). */
const heldHere = new Set<string>();

/** A lock file's text: the owner's pid, and a token that tells this holder's file from a later one at the same path. */
function lockText(token: string): string {
  return `${process.pid}\n${token}\n`;
}

/** The pid (0 when unreadable) and token a lock or holder file holds. */
async function lockOwnerToken(path: string): Promise<{ pid: number; token: string }> {
  const [pid, token] = (await readFile(path, 'utf8').catch(() => '')).trim().split(/\s+/);
  const owner = Number(pid);
  return { pid: Number.isInteger(owner) && owner > 0 ? owner : 0, token: token ?? '' };
}

/** Tokens of this process's users, from before they write their file until they release it. */
const tokensHere = new Set<string>();

async function tryLock(path: string, token: string): Promise<boolean> {
  if (heldHere.has(path)) return false;
  for (;;) {
    try {
      await writeFile(path, lockText(token), { flag: 'wx', mode: 0o600 });
      heldHere.add(path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = await lockOwnerToken(path);
    // A dead owner's, or ours but of no user here (left by a user that gave the cache up after a
    // prune moved it aside and then back: acquireCacheDir).
    const stale = owner.pid === process.pid ? !tokensHere.has(owner.token) : owner.pid > 0 && !alive(owner.pid);
    if (stale) {
      await rm(path, { force: true });
      continue;
    }
    return false;
  }
}

async function unlock(path: string): Promise<void> {
  heldHere.delete(path);
  await rm(path, { force: true });
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((res, rej) => execFile(cmd, args, (err, _o, stderr) => (err ? rej(new Error(String(stderr).trim() || err.message)) : res())));
}

/** The slot directory, created (seeded, owned, moded) when missing. */
async function ensureSlot(base: string, slot: string, r: CacheDirRequest): Promise<string> {
  const dir = join(base, slot);
  if (await lstat(dir).then((s) => s.isDirectory(), () => false)) return dir;
  const tmp = await mkdtemp(join(base, `.new-${slot}-`));
  try {
    if (r.seed) await run('cp', ['-a', '--', `${r.seed}/.`, tmp]);
    if (!r.seed || r.uid !== undefined || r.gid !== undefined) await chown(tmp, r.uid ?? 0, r.gid ?? 0);
    if (!r.seed || r.mode !== undefined) await chmod(tmp, r.mode ?? 0o755);
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    // Another build created it first: use theirs.
    if (!(await lstat(dir).then((s) => s.isDirectory(), () => false))) throw e;
  }
  return dir;
}

/**
 * The directory to mount for `source` inside a cache: made when missing;
 * symlinks must stay inside the cache (BuildKit refuses a source that
 * resolves outside the cache root).
 */
async function subdir(root: string, source: string | undefined, id: string): Promise<string> {
  const parts = splitPath(cleanPath(source ?? '/'));
  if (parts.length === 0) return root;
  const want = join(root, ...parts);
  await mkdir(want, { recursive: true, mode: 0o755 }).catch(() => undefined);
  const real = await realpath(want).catch(() => undefined);
  const realRoot = await realpath(root);
  if (!real || !isInside(realRoot, real)) {
    throw new StagecraftError('MOUNT', `cache mount ${id}: source ${cleanPath(source ?? '/')} resolves outside the cache`, {
      hint: 'a symlink in the cache points outside it; remove it or use a different source',
    });
  }
  if (!(await lstat(real)).isDirectory()) throw new StagecraftError('MOUNT', `cache mount ${id}: source ${cleanPath(source ?? '/')} is not a directory`);
  return real;
}

/**
 * The directory holding a cache's slots: its id's name, plus the uid, gid
 * and mode when any is given (unset ones default to 0, 0 and 0755, as in
 * the directory BuildKit makes for them, so `uid=0` alone is `uid=0,gid=0,mode=0755`),
 * plus a short hash of the seed for a seeded cache.
 */
export function cacheSlotsName(r: Pick<CacheDirRequest, 'id' | 'uid' | 'gid' | 'mode' | 'seedKey'>): string {
  let name = cacheDirName(r.id);
  if (r.uid !== undefined || r.gid !== undefined || r.mode !== undefined) name += `-${r.uid ?? 0}-${r.gid ?? 0}-${(r.mode ?? 0o755).toString(8)}`;
  if (r.seedKey !== undefined) name += `-seed-${createHash('sha256').update(r.seedKey).digest('hex').slice(0, 12)}`;
  return name;
}

/**
 * Takes a cache directory for one RUN step; release() when the step is done.
 *
 * Every user leaves a file naming its pid beside the cache while it holds it: the slot's lock
 * (`locked`, `private`) or a holder file of its own (`shared`, where many hold the same slot).
 * `prune --all` leaves a cache that a running build holds this way. It checks before it moves a
 * cache aside and again after; a user checks that its file is still where it wrote it once it has
 * its directory, and takes a fresh cache when prune moved this one away meanwhile.
 */
export async function acquireCacheDir(storeRoot: string, r: CacheDirRequest): Promise<CacheDirLease> {
  for (let attempt = 1; ; attempt++) {
    const token = randomBytes(8).toString('hex');
    tokensHere.add(token);
    let taken;
    try {
      taken = await acquireOnce(storeRoot, r, token);
    } catch (e) {
      tokensHere.delete(token);
      // ENOENT: the cache's directory was moved aside by a prune between our steps.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw e;
      continue;
    }
    const { lease, holder } = taken;
    if ((await readFile(holder, 'utf8').catch(() => '')) === lockText(token)) {
      return { dir: lease.dir, release: () => lease.release().finally(() => tokensHere.delete(token)) };
    }
    await lease.release();
    tokensHere.delete(token);
    if (attempt === 3) {
      throw new StagecraftError('MOUNT', `cache mount ${r.id}: the cache was removed while this build was taking it (stagecraft prune --all ran meanwhile)`, {
        hint: 'run the build again',
      });
    }
  }
}

let holders = 0;

async function acquireOnce(storeRoot: string, r: CacheDirRequest, token: string): Promise<{ lease: CacheDirLease; holder: string }> {
  const base = join(storeRoot, 'cache-mounts', cacheSlotsName(r));
  await mkdir(base, { recursive: true, mode: 0o700 });
  if (r.sharing === 'shared') {
    const holder = join(base, `shared-${process.pid}-${++holders}.lock`);
    await writeFile(holder, lockText(token), { flag: 'wx', mode: 0o600 });
    try {
      const dir = await ensureSlot(base, 'data', r);
      return { lease: { dir: await subdir(dir, r.source, r.id), release: () => rm(holder, { force: true }) }, holder };
    } catch (e) {
      await rm(holder, { force: true });
      throw e;
    }
  }
  if (r.sharing === 'locked') {
    const lock = join(base, 'data.lock');
    while (!(await tryLock(lock, token))) {
      r.signal?.throwIfAborted();
      await sleep(100);
    }
    try {
      const dir = await ensureSlot(base, 'data', r);
      return { lease: { dir: await subdir(dir, r.source, r.id), release: () => unlock(lock) }, holder: lock };
    } catch (e) {
      await unlock(lock);
      throw e;
    }
  }
  for (let n = 0; ; n++) {
    const slot = n === 0 ? 'data' : `private-${n}`;
    const lock = join(base, `${slot}.lock`);
    if (!(await tryLock(lock, token))) continue;
    try {
      const dir = await ensureSlot(base, slot, r);
      return { lease: { dir: await subdir(dir, r.source, r.id), release: () => unlock(lock) }, holder: lock };
    } catch (e) {
      await unlock(lock);
      throw e;
    }
  }
}

export interface CacheMountsPruned {
  /** Cache ids (directories) removed. */
  removed: number;
  /** Caches left because a running build holds one of their slots. */
  inUse: number;
}

/**
 * `prune --all`: every RUN cache mount under <root>/cache-mounts goes, except
 * one a live build holds (a `*.lock` in it names a running pid). Each is
 * renamed aside first, so a build starting now makes a fresh one, and checked
 * again once aside: a build that took it between the check and the rename
 * gets it back where it was (or, when a new one was made there meanwhile, it
 * stays aside until a later prune finds it unheld).
 */
export async function clearCacheMounts(storeRoot: string): Promise<CacheMountsPruned> {
  const root = join(storeRoot, 'cache-mounts');
  const names = await readdir(root).catch(() => [] as string[]);
  const out: CacheMountsPruned = { removed: 0, inUse: 0 };
  for (const name of names) {
    const dir = join(root, name);
    if (name.startsWith('.gone-')) {
      if (!(await held(dir))) await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (await held(dir)) {
      out.inUse++;
      continue;
    }
    const gone = join(root, `.gone-${name}-${process.pid}`);
    try {
      await rename(dir, gone);
    } catch {
      continue; // removed meanwhile
    }
    if (await held(gone)) {
      await rename(gone, dir).catch(() => undefined);
      out.inUse++;
      continue;
    }
    await rm(gone, { recursive: true, force: true });
    out.removed++;
  }
  return out;
}

/** Whether a running process holds the cache in `dir` (a `*.lock` there names it). */
async function held(dir: string): Promise<boolean> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  for (const e of entries.filter((x) => x.endsWith('.lock'))) {
    const { pid } = await lockOwnerToken(join(dir, e));
    if (pid > 0 && alive(pid)) return true;
  }
  return false;
}
