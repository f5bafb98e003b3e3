import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A unique name in the store's scratch directory. */
export function tmpName(tmpDir: string, prefix: string): string {
  return join(tmpDir, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** fsyncs a directory so a rename inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

/**
 * Writes a file by writing a temp file in the same filesystem, fsyncing it,
 * renaming it over the target and fsyncing the directory: readers see the old
 * or the new content, never a mix, even after a crash. With `durable: false`
 * there is no fsync: readers still never see a mix, and the caller makes it
 * durable later with one sync (Store.sync, Store.syncWritten).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, tmpDir: string, mode = 0o644, opts: { durable?: boolean } = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const tmp = tmpName(tmpDir, 'write');
  await mkdir(dirname(path), { recursive: true });
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  if (durable) await fsyncDir(dirname(path));
}
