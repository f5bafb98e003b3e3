import { randomBytes } from 'node:crypto';
import { closeSync, fsync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A unique name in the store's scratch directory. */
export function tmpName(tmpDir: string, prefix: string): string {
  return join(tmpDir, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** fsync(2) on node's thread pool: the one call here that waits on the disk. */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

/** fsyncs a directory so a rename inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try { await fsyncFd(fd); } finally { closeSync(fd); }
}

/**
 * Writes a file by writing a temp file in the same filesystem, fsyncing it,
 * renaming it over the target and fsyncing the directory: readers see the old
 * or the new content, never a mix, even after a crash. With `durable: false`
 * there is no fsync: readers still never see a mix, and the caller makes it
 * durable later with one sync (Store.sync, Store.syncWritten).
 */
// Every caller writes a small record (a tag index, a layer record, a cache record), so the file
// operations are synchronous: microseconds each, where each of the five took a thread-pool round
// trip (and a wait behind other work in the pool) before. Only the fsyncs go to the pool.
// `after`: the rename waits for it (the file is written and fsynced meanwhile); when it rejects,
// nothing is renamed and the error is thrown.
export async function writeFileAtomic(path: string, data: Uint8Array | string, tmpDir: string, mode = 0o644, opts: { durable?: boolean; after?: Promise<unknown> } = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const tmp = tmpName(tmpDir, 'write');
  mkdirSync(dirname(path), { recursive: true });
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeFileSync(fd, data);
      if (durable) await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    await opts.after;
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (durable) await fsyncDir(dirname(path));
}
