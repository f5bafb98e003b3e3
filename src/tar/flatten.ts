import { posix } from 'node:path';
import { Sha256Hasher, type Digest } from '../oci/digest.js';
import { uncompressed } from './compression.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './from-dir.js';
import type { TarHeader } from './header.js';
import { readTar } from './reader.js';
import { safeRelative } from './extract.js';

/** One path of a flattened image: its header, and the sha256 of its content for files. */
export interface FlatEntry {
  header: TarHeader;
  contentDigest?: Digest;
}

/** The final file tree of an image, keyed by relative path ('' is not included). */
export type FlatTree = Map<string, FlatEntry>;

function removeTree(tree: FlatTree, path: string, keepSelf: boolean): void {
  if (!keepSelf) tree.delete(path);
  const prefix = path === '' ? '' : `${path}/`;
  for (const k of [...tree.keys()]) if (k.startsWith(prefix) && k !== path) tree.delete(k);
}

/**
 * Applies layers in order (each a tar, tar+gzip or tar+zstd byte source),
 * honouring whiteouts and opaque directories, and returns the final tree.
 * Only metadata and content digests are kept, so memory is O(entries).
 */
export async function flattenLayers(layers: Iterable<() => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>>): Promise<FlatTree> {
  const tree: FlatTree = new Map();
  for (const open of layers) {
    const { stream } = await uncompressed(await open());
    const added: FlatTree = new Map();
    const whiteouts: string[] = [];
    const opaque: string[] = [];
    for await (const e of readTar(stream)) {
      const rel = safeRelative(e.header.path);
      const base = posix.basename(rel);
      const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
      if (base === OPAQUE_MARKER) { opaque.push(parent); continue; }
      if (base.startsWith(WHITEOUT_PREFIX)) {
        const name = base.slice(WHITEOUT_PREFIX.length);
        whiteouts.push(parent === '' ? name : `${parent}/${name}`);
        continue;
      }
      if (rel === '') continue;
      const entry: FlatEntry = { header: { ...e.header, path: rel } };
      if (e.header.type === 'file') {
        const h = new Sha256Hasher();
        for await (const chunk of e.body) h.update(chunk);
        entry.contentDigest = h.digest();
      } else if (e.header.type === 'hardlink') {
        const target = added.get(safeRelative(e.header.linkname ?? '')) ?? tree.get(safeRelative(e.header.linkname ?? ''));
        if (target?.contentDigest) entry.contentDigest = target.contentDigest;
      }
      added.set(rel, entry);
    }
    // Whiteouts and opaque markers hide what lower layers had, not this layer's own entries.
    for (const d of opaque) removeTree(tree, d, true);
    for (const w of whiteouts) removeTree(tree, w, false);
    for (const [path, entry] of added) {
      const prev = tree.get(path);
      if (prev && prev.header.type === 'dir' && entry.header.type !== 'dir') removeTree(tree, path, true);
      tree.set(path, entry);
    }
    // A path whose parent is now a non-directory cannot exist.
    for (const path of [...tree.keys()]) {
      const parent = posix.dirname(path);
      if (parent !== '.' && tree.has(parent) && tree.get(parent)!.header.type !== 'dir') tree.delete(path);
    }
  }
  return new Map([...tree.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
