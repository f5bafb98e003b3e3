/**
 * Resolve an in-image path to a host path under a root directory, as if the
 * root were `/`: symlinks (absolute and relative) are followed inside the
 * root, `..` stops at the root, and nothing resolves outside it.
 *
 * This is the one gate every COPY/USER file access goes through. Paths that
 * do not exist (yet) resolve lexically from the first missing component, so
 * callers can create them afterwards.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StagecraftError } from '../errors.js';

/** Linux follows at most 40 links per lookup; we allow the same. */
export const MAX_SYMLINKS = 40;

export interface ResolveOptions {
  /** Follow a symlink in the last component too (default true). */
  followFinal?: boolean;
}

/** Split an in-image path into its components, dropping '' and '.'. */
export function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Clean an in-image path lexically: absolute, no `.`/`..`/double slashes, `..`
 * clamped at `/`. `cleanPath('../a/./b/')` is `/a/b`.
 */
export function cleanPath(p: string): string {
  const out: string[] = [];
  for (const c of splitPath(p)) {
    if (c === '..') out.pop();
    else out.push(c);
  }
  return '/' + out.join('/');
}

/**
 * Resolve `path` (absolute in-image path; a relative one is taken from `/`)
 * under `root`. Returns an absolute host path that is `root` or inside it.
 */
export async function resolveInRoot(root: string, path: string, options: ResolveOptions = {}): Promise<string> {
  const followFinal = options.followFinal ?? true;
  const hostRoot = resolve(root);
  const done: string[] = [];
  // Pending components, in order; `pending[0]` is next.
  let pending = splitPath(path);
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const c = pending[0]!;
    pending = pending.slice(1);
    if (c === '..') {
      done.pop();
      continue;
    }
    done.push(c);
    if (missing) continue;
    const isLast = pending.length === 0;
    if (isLast && !followFinal) break;
    const host = join(hostRoot, ...done);
    let st;
    try {
      st = await lstat(host);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        // Nothing below a missing (or non-directory) component can be a link.
        missing = true;
        continue;
      }
      throw e;
    }
    if (!st.isSymbolicLink()) continue;
    links++;
    if (links > MAX_SYMLINKS) {
      throw new StagecraftError('COPY', `too many levels of symbolic links resolving ${path} (ELOOP)`, {
        hint: 'a symlink in the image points back at itself; fix the link',
      });
    }
    const target = await readlink(host);
    done.pop();
    if (target.startsWith('/')) done.length = 0;
    pending = [...splitPath(target), ...pending];
  }
  return join(hostRoot, ...done);
}

/** True when `host` is `root` or inside it (both absolute host paths). */
export function isInside(root: string, host: string): boolean {
  const r = resolve(root);
  const h = resolve(host);
  return h === r || h.startsWith(r.endsWith('/') ? r : r + '/');
}
