import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TarHeader } from './header.js';
import type { TarWriteEntry } from './writer.js';
import { readTreeXattrs } from './xattrs.js';

export interface DirToLayerOptions {
  /**
   * 'overlay': the directory is an overlayfs upper/layer dir: 0:0 character
   * devices become `.wh.<name>` whiteouts and `trusted.overlay.opaque=y`
   * directories get a `.wh..wh..opq` marker. 'plain': take files as they are.
   */
  format: 'overlay' | 'plain';
  /** Clamp mtimes to at most this many seconds (SOURCE_DATE_EPOCH). */
  maxMtime?: number;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

function devSplit(rdev: bigint): [major: number, minor: number] {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return [major, minor];
}

/** Byte-wise comparison, as Go sorts file names. */
function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The entries of a layer tar for a directory tree: depth-first, names sorted
 * byte-wise in each directory, a directory before its contents; hardlinked
 * files become hardlink entries to the first path seen; sockets are skipped.
 * The root directory itself is not an entry.
 */
export async function* dirToLayerEntries(root: string, opts: DirToLayerOptions): AsyncGenerator<TarWriteEntry> {
  const xattrs = await readTreeXattrs(root);
  const seenInodes = new Map<string, string>();
  const clamp = (s: number): number => (opts.maxMtime !== undefined && s > opts.maxMtime ? opts.maxMtime : s);

  async function* walk(rel: string): AsyncGenerator<TarWriteEntry> {
    const abs = rel === '' ? root : join(root, rel);
    const names = (await readdir(abs)).sort(byteCompare);
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childAbs = join(root, childRel);
      const st = await lstat(childAbs, { bigint: true });
      const mode = Number(st.mode & 0o7777n);
      const base = { uid: Number(st.uid), gid: Number(st.gid), mtime: clamp(Number(st.mtimeMs / 1000n)) };
      const x = filterXattrs(xattrs.get(childAbs));
      if (st.isCharacterDevice() && opts.format === 'overlay' && st.rdev === 0n) {
        const whiteout = rel === '' ? `${WHITEOUT_PREFIX}${name}` : `${rel}/${WHITEOUT_PREFIX}${name}`;
        yield { header: { path: whiteout, type: 'file', mode: 0, size: 0, uid: 0, gid: 0, mtime: base.mtime } };
        continue;
      }
      const h: TarHeader = { path: childRel, type: 'file', mode, size: 0, ...base };
      if (x) h.xattrs = x;
      if (st.isDirectory()) {
        h.type = 'dir';
        yield { header: h };
        const opaque = xattrs.get(childAbs)?.['trusted.overlay.opaque'];
        if (opts.format === 'overlay' && opaque && Buffer.from(opaque).toString() === 'y') {
          yield { header: { path: `${childRel}/${OPAQUE_MARKER}`, type: 'file', mode: 0, size: 0, uid: 0, gid: 0, mtime: base.mtime } };
        }
        yield* walk(childRel);
        continue;
      }
      if (st.isSymbolicLink()) {
        h.type = 'symlink';
        h.linkname = await readlink(childAbs);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1n ? seenInodes.get(key) : undefined;
        if (first !== undefined) {
          h.type = 'hardlink';
          h.linkname = first;
        } else {
          if (st.nlink > 1n) seenInodes.set(key, childRel);
          h.size = Number(st.size);
          yield { header: h, body: () => createReadStream(childAbs) };
          continue;
        }
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        h.type = st.isCharacterDevice() ? 'chardev' : 'blockdev';
        [h.devmajor, h.devminor] = devSplit(st.rdev);
      } else if (st.isFIFO()) {
        h.type = 'fifo';
      } else {
        continue; // sockets and other special files are not archived
      }
      yield { header: h };
    }
  }
  yield* walk('');
}

/** trusted.* attributes are overlayfs/host bookkeeping and never go into a layer. */
function filterXattrs(x: Record<string, Buffer> | undefined): Record<string, Buffer> | undefined {
  if (!x) return undefined;
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(x)) if (!k.startsWith('trusted.')) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}
