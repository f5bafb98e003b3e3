import { runHelper } from '../util/helper-shell.js';

/**
 * Marks the store's scratch directory (where pulled layers are unpacked and
 * steps get their snapshot directories) with ext4's "top of directory
 * hierarchy" flag (`chattr +T`, FS_TOPDIR_FL). ext4 then places each
 * directory made directly in it as it places top-level directories, in a block
 * group with room to spare, instead of beside its parent. Each of those
 * directories is an unrelated tree (a layer, a step's changes), which is what
 * the flag is for.
 *
 * Why: on ext4 without a journal, creating a file checks the inode it is about
 * to reuse for a recent deletion by looking up its inode-table block in the
 * buffer cache, and after a store's layers were removed those blocks are
 * cached: the same pull took 12.9 and 13.7 s beside the removed store (8-10 s
 * of system time) and 4.1-4.2 s in a directory spread this way (1.4 s);
 * docs/performance.md, eighth pass.
 *
 * Other file systems have no such flag: chattr fails there, and nothing
 * changes. Best effort throughout: a failure is never an error of the caller.
 */
const marked = new Map<string, Promise<void>>();

/** Sets the flag on `dir` once per process (later calls share the first). */
export function spreadChildren(dir: string): Promise<void> {
  let p = marked.get(dir);
  if (!p) {
    p = process.env.STAGECRAFT_NO_SPREAD === '1'
      ? Promise.resolve()
      : runHelper('chattr', ['+T', dir]).then(() => undefined, () => undefined);
    marked.set(dir, p);
  }
  return p;
}
