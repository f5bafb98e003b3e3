/**
 * What the store wrote without fsync since its last sync, so that a build's
 * sync can fsync just those files and directories instead of the whole
 * filesystem.
 *
 * Why: syncfs(2) writes back every dirty page of the filesystem, other
 * programs' included. A one-file incremental rebuild that took 0.22 s on
 * the build VM took 0.44 s right after another program wrote 300 MB (a
 * whole-filesystem sync then waited ~280 ms for that program's data), while
 * fsyncing 10 small files and their directory took ~4 ms when that program
 * had written new files (not when it had overwritten one in place: then the
 * fsync waited ~0.18 s too; docs/performance.md, third pass). Large
 * writes (a pulled or unpacked layer, a step that created many files) still
 * get one syncfs, which is cheaper than thousands of fsyncs.
 *
 * Every unsynced write the store makes is noted here (layer directories and
 * their records, blobs, `.links` lists); an unpack notes `everything()`.
 */
import { closeSync, openSync, readdirSync } from 'node:fs';
import { fsyncFd } from './atomic.js';
import { dirname, join } from 'node:path';

/** More paths than this and one syncfs is cheaper than an fsync each (~0.3 ms per small file here). */
export const TARGETED_SYNC_LIMIT = 512;

export type SyncPlan = { kind: 'filesystem' } | { kind: 'paths'; files: string[]; dirs: string[] } | { kind: 'nothing' };

export class PendingSync {
  #files = new Set<string>();
  #dirs = new Set<string>();
  #everything = false;

  constructor(private readonly limit = TARGETED_SYNC_LIMIT) {}

  #check(): void {
    if (this.#files.size + this.#dirs.size > this.limit) this.everything();
  }

  /** A file written (or renamed into place): the file and the directory holding its name. */
  file(path: string): void {
    if (this.#everything) return;
    this.#files.add(path);
    this.#dirs.add(dirname(path));
    this.#check();
  }

  /** A directory whose entries changed (a rename or link into it). */
  dir(path: string): void {
    if (this.#everything) return;
    this.#dirs.add(path);
    this.#check();
  }

  /**
   * A directory tree moved into place unsynced: its regular files, every
   * directory in it, and the directory holding its name. Symlinks and device
   * nodes cannot be opened for fsync; their directory's fsync records them.
   */
  tree(root: string): void {
    if (this.#everything) return;
    this.dir(dirname(root));
    const walk = (dir: string): void => {
      this.dir(dir);
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (this.#everything) return;
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) {
          this.#files.add(p);
          this.#check();
        }
      }
    };
    walk(root);
  }

  /** Something too large (or too unknown) to list: the next sync is a whole-filesystem one. */
  everything(): void {
    this.#everything = true;
    this.#files.clear();
    this.#dirs.clear();
  }

  /** What the next sync must cover. */
  plan(): SyncPlan {
    return this.#everything ? { kind: 'filesystem' }
      : this.#files.size + this.#dirs.size === 0 ? { kind: 'nothing' }
      : { kind: 'paths', files: [...this.#files], dirs: [...this.#dirs] };
  }

  /** plan(), and forget it (put it back with `restore` when the sync fails). */
  take(): SyncPlan {
    const plan = this.plan();
    this.#everything = false;
    this.#files = new Set();
    this.#dirs = new Set();
    return plan;
  }

  restore(plan: SyncPlan): void {
    if (plan.kind === 'filesystem') this.everything();
    else if (plan.kind === 'paths') {
      for (const f of plan.files) this.file(f);
      for (const d of plan.dirs) this.dir(d);
    }
  }
}

/**
 * fsyncs files, then directories (deepest first, so a directory's entries are
 * durable before the entry naming it), a few at a time: the thread pool's
 * fsyncs share journal commits. A path that is gone (a layer pruned since) is
 * skipped.
 */
export async function fsyncPaths(files: readonly string[], dirs: readonly string[], parallel = 8): Promise<void> {
  // open and close are synchronous (microseconds); only the fsync waits on the thread pool.
  const one = async (p: string): Promise<void> => {
    let fd;
    try {
      fd = openSync(p, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try { await fsyncFd(fd); } finally { closeSync(fd); }
  };
  const run = async (paths: readonly string[]): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(parallel, paths.length) }, async () => {
      while (next < paths.length) await one(paths[next++]!);
    }));
  };
  await run(files);
  const depth = (p: string): number => p.split('/').length;
  const sorted = [...dirs].sort((a, b) => depth(b) - depth(a));
  // Each depth in turn: a parent's fsync comes after its children's.
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && depth(sorted[j]!) === depth(sorted[i]!)) j++;
    await run(sorted.slice(i, j));
    i = j;
  }
}
