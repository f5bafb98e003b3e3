/**
 * Mount-point stubs: what the runtime creates in the rootfs only so it has
 * somewhere to mount (/proc, /dev, /sys, /etc/hosts, /etc/resolv.conf, the
 * targets of RUN --mount), and which must not end up in the step's layer.
 *
 * The rule (the same idea as BuildKit's mount-stub cleanup):
 * 1. Before the run, with the overlay mounted, `recordStubs` resolves each
 *    mount target inside the rootfs the way the runtime will (symlinks
 *    followed, scoped to the root) and records the part of the path that does
 *    not exist yet, plus the metadata of the directories above it that do.
 * 2. After the run and the unmount, `cleanUpper` removes from the upper dir
 *    each recorded path that is still an empty stub: an empty directory that
 *    is not opaque, or an empty regular file. Anything the command put there
 *    (content, an opaque dir, a whiteout) is kept.
 * 3. A directory that existed before and was copied up only because a stub
 *    was created inside it is removed from the upper too when it is now empty,
 *    not opaque, and has the mode/uid/gid it had before. (Only its mtime could
 *    differ, which a layer does not need to carry.)
 * Targets that already existed are never stubs and are never touched.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isOpaqueDir, readPathXattrs } from './overlay-xattr.js';
import { lstatMaybeSync } from './copy-tree.js';
import { resolvePartsInRoot } from './scoped-path.js';

export interface ParentDir {
  /** Relative to the root, e.g. 'etc'. */
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

export interface MountStubs {
  /** Paths that did not exist before the run, deepest first, relative to the root. */
  created: string[];
  /** Existing directories above a created path, deepest first. */
  parents: ParentDir[];
}

/** Record which mount targets (absolute container paths) do not exist yet in `rootfs`. */
export async function recordStubs(rootfs: string, targets: string[]): Promise<MountStubs> {
  const created = new Set<string>();
  const parents = new Map<string, ParentDir>();
  for (const target of targets) {
    const r = await resolvePartsInRoot(rootfs, target, { loopCode: 'RUNTIME' });
    if (r.missingFrom >= r.parts.length) continue;
    for (let i = r.missingFrom; i < r.parts.length; i++) created.add(r.parts.slice(0, i + 1).join('/'));
    for (let i = 1; i <= r.missingFrom; i++) {
      const rel = r.parts.slice(0, i).join('/');
      if (parents.has(rel)) continue;
      const st = await fs.lstat(path.join(rootfs, rel));
      parents.set(rel, { path: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
    }
  }
  return { created: deepestFirst([...created]), parents: deepestFirst([...parents.keys()]).map((p) => parents.get(p)!) };
}

/** Remove the stubs recorded by `recordStubs` from an upper dir (after unmount). Returns what was removed. */
export async function cleanUpper(upperDir: string, stubs: MountStubs): Promise<string[]> {
  const removed: string[] = [];
  // Only a directory's attributes matter (opacity); reading none at all, when
  // no candidate is a directory in the upper, saves a getfattr process.
  const candidates: string[] = [];
  for (const rel of [...stubs.created, ...stubs.parents.map((p) => p.path)]) {
    if ((await lstatNoFollow(upperDir, rel))?.isDirectory()) candidates.push(path.join(upperDir, rel));
  }
  const attrs = await readPathXattrs(candidates);

  for (const rel of stubs.created) {
    const abs = path.join(upperDir, rel);
    const st = await lstatNoFollow(upperDir, rel);
    if (!st) continue;
    if (st.isDirectory()) {
      if (isOpaqueDir(attrs.get(abs)) || (await fs.readdir(abs)).length > 0) continue;
      await fs.rmdir(abs);
      removed.push(rel);
    } else if (st.isFile() && st.size === 0) {
      await fs.unlink(abs);
      removed.push(rel);
    }
  }
  for (const p of stubs.parents) {
    const abs = path.join(upperDir, p.path);
    const st = await lstatNoFollow(upperDir, p.path);
    if (!st || !st.isDirectory()) continue;
    if ((st.mode & 0o7777) !== p.mode || st.uid !== p.uid || st.gid !== p.gid) continue;
    if (isOpaqueDir(attrs.get(abs)) || (await fs.readdir(abs)).length > 0) continue;
    await fs.rmdir(abs);
    removed.push(p.path);
  }
  return removed;
}

/**
 * lstat `root/rel` only when every directory on the way is a real directory.
 * The step's process may have replaced a parent (say /etc) with a symlink to
 * a host path; following it would make cleanup delete host files.
 */
async function lstatNoFollow(root: string, rel: string): Promise<import('node:fs').Stats | undefined> {
  // Synchronous, like the walk in scoped-path.ts: a step's cleanup looks at a few dozen paths.
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const st = lstatMaybeSync(path.join(root, ...parts.slice(0, i)));
    if (!st || !st.isDirectory()) return undefined;
  }
  return lstatMaybeSync(path.join(root, rel));
}

function deepestFirst(paths: string[]): string[] {
  return paths.sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : a > b ? 1 : 0));
}
