import { randomBytes } from 'node:crypto';
import { closeSync, fsync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

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
 * Streams `source`, through `transforms`, into a new file at `path` and
 * returns the bytes written. The file is created before any byte flows
 * (`exclusive`: it must not exist yet) and removed when anything fails; a
 * source stream is destroyed when the file cannot be created.
 *
 * A stream from `createWriteStream(path)` opens its file asynchronously, and
 * a pipeline whose source fails early rejects before that open is done: a
 * cleanup that runs then finds nothing, and the file appears after it (the
 * store's scratch dir kept such a file after a pull whose download failed).
 */
export async function streamToNewFile(path: string, source: Readable | AsyncIterable<Uint8Array>, transforms: Transform[] = [], opts: { mode?: number; exclusive?: boolean } = {}): Promise<number> {
  const src = source instanceof Readable ? source : Readable.from(source);
  // Until the pipeline listens, an error of the source (a download that fails its digest check
  // while the file is being opened) is held here; the pipeline then finds the source errored.
  const hold = (): void => undefined;
  src.on('error', hold);
  let fh;
  try {
    fh = await open(path, opts.exclusive ? 'wx' : 'w', opts.mode ?? 0o666);
  } catch (e) {
    src.off('error', hold);
    src.destroy(); // its writer is not left waiting for room; the error is thrown here
    throw e;
  }
  const out = fh.createWriteStream();
  try {
    const done = pipeline([src, ...transforms, out]);
    src.off('error', hold);
    await done;
    return out.bytesWritten;
  } catch (e) {
    await rm(path, { force: true }); // the pipeline has destroyed `out`, which closed the handle
    throw e;
  }
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
