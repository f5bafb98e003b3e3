/**
 * COPY --from by hardlink (the why is on CopyLinking in copy-tree.ts): find a
 * source file's inode in the stage's layer directories, and, when the copy
 * went through an overlay view, swap the placeholders for the links in the
 * upper directory once the overlay is unmounted.
 *
 * A file is linked only when all of these hold, else it is copied as before:
 *  - the layer directory that holds it is not part of the destination's own
 *    stack (so no RUN ever sees two names for one inode that the source
 *    stage did not show as one),
 *  - it is that very inode (same device and inode number as the file the
 *    source view shows),
 *  - every other name it has is accounted for outside the destination's
 *    stack: it has no other name (nlink 1), or its layer is one whose names
 *    the store tracks (`multiLink`: a layer that holds no links itself, whose
 *    `.links` list names every layer that took links to its files) and none
 *    of those layers is in the destination's stack. So a stage copied again
 *    by a later build (the source unchanged, the destination chain new) is
 *    linked again instead of copied.
 */
import { lstatSync, linkSync, lutimesSync, renameSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { join, relative } from 'node:path';
import { StagecraftError } from '../errors.js';
import type { CopyLinking } from './copy-tree.js';

export interface LinkerOptions {
  /** Where the source stage is mounted (read-only overlay of `sourceLayerDirs`). */
  mountRoot: string;
  /** The source stage's layer directories, topmost first. */
  sourceLayerDirs: string[];
  /** The destination stage's layer directories. */
  destLayerDirs: string[];
  /** The target is an overlay view: placeholders now, links after the unmount. */
  deferred: boolean;
  /**
   * Source layer directories whose files may be linked although they have
   * other names: every other name is in a layer outside the destination's
   * stack (the caller checks the layers' `.links` lists).
   */
  multiLink?: ReadonlySet<string>;
}

/** Past this many names an inode is copied (ext4 allows 65000; a store this old is due a prune). */
const MAX_NAMES = 1000;

export function layerLinker(o: LinkerOptions): CopyLinking | undefined {
  if (o.sourceLayerDirs.length === 0 || process.env.STAGECRAFT_NO_COPY_LINKS === '1') return undefined;
  const exclude = new Set(o.destLayerDirs);
  let dev: number;
  try {
    dev = statSync(o.sourceLayerDirs[0]!).dev;
  } catch {
    return undefined;
  }
  const prefix = `${o.mountRoot}/`;
  return {
    deferred: o.deferred,
    links: [],
    dirTimes: [],
    sources: new Set(),
    source(src: string, st: Stats): string | undefined {
      if (!src.startsWith(prefix)) return undefined;
      const rel = src.slice(prefix.length);
      // The topmost layer that has the name is the one the view shows (a higher whiteout or
      // opaque directory would have hidden the file from the view altogether).
      for (const dir of o.sourceLayerDirs) {
        const p = `${dir}/${rel}`;
        let real: Stats;
        try {
          real = lstatSync(p);
        } catch {
          continue;
        }
        if (exclude.has(dir)) return undefined;
        const same = real.isFile() && real.dev === dev && real.ino === st.ino && real.size === st.size && real.mtimeMs === st.mtimeMs &&
          (real.nlink === 1 || (o.multiLink?.has(dir) === true && real.nlink < MAX_NAMES));
        if (!same) return undefined;
        this.sources.add(dir);
        return p;
      }
      return undefined;
    },
  };
}

/**
 * After the overlay at `mergedRoot` is unmounted: each recorded link is made
 * in `upperDir` (replacing its placeholder where it has one), then the copied
 * directories get back the times the copier gave them.
 */
export function applyDeferredLinks(linking: CopyLinking, mergedRoot: string, upperDir: string): void {
  let n = 0;
  for (const { target, real, placeholder: replaces } of linking.links) {
    const up = join(upperDir, relative(mergedRoot, target));
    if (!replaces) {
      linkSync(real, up); // in a directory the copy made: nothing is there (EEXIST otherwise)
      continue;
    }
    const placeholder = lstatSync(up, { throwIfNoEntry: false });
    if (!placeholder?.isFile() || placeholder.size !== 0) {
      throw new StagecraftError('INTERNAL', `COPY: the placeholder for ${relative(mergedRoot, target)} is missing from the step's layer`);
    }
    const tmp = `${up}.stagecraft-link-${process.pid}-${n++}`;
    linkSync(real, tmp);
    try {
      renameSync(tmp, up);
    } catch (e) {
      unlinkSync(tmp);
      throw e;
    }
  }
  if (linking.links.length === 0) return;
  for (const { target, atime, mtime } of linking.dirTimes) {
    const up = join(upperDir, relative(mergedRoot, target));
    if (lstatSync(up, { throwIfNoEntry: false })?.isDirectory()) lutimesSync(up, atime, mtime);
  }
}
