/**
 * `rm -rf` for the store's scratch directories, in fewer round trips to
 * node's thread pool than `fs.promises.rm({ recursive: true })`.
 *
 * Why: node 20's recursive rm tries rmdir on every directory first, and
 * after ENOTEMPTY lists it, lstats each entry and tries again: about four
 * thread-pool operations per directory, one after another. A step's scratch
 * directory holds overlay's work directory, which a `volatile` mount leaves
 * five levels deep (work/work/incompat/volatile/dirty), so removing it took
 * ~7 ms on the build VM, and at the end of a build that removal was the last
 * thing a one-file rebuild waited for. Here a directory is listed once with
 * its entry types, its entries go in parallel (files unlinked, directories
 * recursed into), and then it is removed: two operations a level.
 *
 * Symlinks are removed, never followed. A missing path is not an error
 * (as with `force`).
 */
import type { Dirent } from 'node:fs';
import { readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export async function removeTree(path: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') return unlinkMissingOk(path);
    throw e;
  }
  await Promise.all(entries.map((e) => {
    const p = join(path, e.name);
    return e.isDirectory() ? removeTree(p) : removeFile(p);
  }));
  try {
    await rmdir(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

async function removeFile(path: string): Promise<void> {
  try {
    await unlinkMissingOk(path);
  } catch (e) {
    // Listed as a file, a directory now: as rm would, remove whatever is there.
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') return removeTree(path);
    throw e;
  }
}

async function unlinkMissingOk(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
