/**
 * COPY (and ADD of local files) with Docker/BuildKit semantics, scoped to two
 * roots: sources under `srcRoot` (the build context or another stage's root
 * filesystem), the destination under `destRoot` (the target stage's merged
 * overlay). Nothing is read or written outside those roots.
 *
 * Destination rules (BuildKit's fsutil copy with CopyDirContents):
 *   - `dest` is relative to `workdir` unless absolute; empty means workdir;
 *     a trailing `/` (or `.`) means "a directory";
 *   - missing directories on the way are created 0755 (or the --chmod mode),
 *     owned 0:0 or the --chown owner; existing ones are left alone;
 *   - symlinks in the destination path are followed inside destRoot;
 *   - a directory source copies its contents; a file to an existing
 *     directory goes inside it; otherwise it becomes the destination path.
 */
import { StagecraftError } from '../errors.js';
import { parseChmod } from './copy-chmod.js';
import { childSkip, excludeFilter, keepMatch, resolveSources, type IgnoreFn, type SourceMatch } from './copy-sources.js';
import { detectArchive, unpackArchive } from './copy-unpack.js';
import { TreeCopier, applyXattrs, lstatMaybe, readXattrsOf, setOwner, type CopyLinking, type CopyStats } from './copy-tree.js';
import { cleanPath, resolveInRoot } from './scoped-path.js';
import { mkdir, chmod } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Owner } from './users.js';

export interface CopyOptions {
  srcRoot: string;
  sources: string[];
  dest: string;
  destRoot: string;
  /** The stage's WORKDIR (absolute in-image path); default `/`. */
  workdir?: string;
  chown?: Owner | undefined;
  /** Octal (`0755`) or symbolic (`u=rwX,go=rX`). */
  chmod?: string | undefined;
  excludes?: string[];
  parents?: boolean;
  /** Keep source uid:gid (true for stage/image sources; the context's are 0:0). */
  keepOwners?: boolean;
  /** .dockerignore filter for context sources; `rel` is relative to srcRoot. */
  ignore?: IgnoreFn | undefined;
  /** BuildKit allows a wildcard that matches nothing (default true). */
  allowEmptyWildcard?: boolean;
  /** For messages: "build context", "stage build". */
  sourceName?: string;
  /**
   * ADD: a source file that is a tar archive (plain, gzip, bzip2, xz, zstd;
   * detected by content) is extracted into the destination directory.
   */
  unpackArchives?: boolean;
  /** Stage sources without --chown/--chmod: hardlink files from layer directories (copy-tree.ts). */
  linking?: CopyLinking | undefined;
  /**
   * `destRoot` is an overlay view over the upper directory `upperDir`: the
   * trees of directories the copy creates are written into `upperDir` by the
   * result's `finish`, which the caller runs after unmounting the view
   * (TreeCopyOptions.deferTo). Used when the copy has a single source.
   */
  deferTo?: { upperDir: string } | undefined;
}

export interface CopyResult extends CopyStats {
  /** With `deferTo`: writes the deferred trees; call once, after the unmount. Returns what it added. */
  finish?: (() => Promise<CopyStats>) | undefined;
}

/** The destination as an absolute in-image path, and whether it names a directory. */
export function destinationOf(dest: string, workdir = '/'): { path: string; isDir: boolean } {
  const isDir = dest === '' || dest === '.' || dest.endsWith('/') || dest.endsWith('/.');
  const abs = dest.startsWith('/') ? dest : `${workdir}/${dest}`;
  return { path: cleanPath(abs), isDir };
}

export async function copy(opts: CopyOptions): Promise<CopyResult> {
  const dest = destinationOf(opts.dest, opts.workdir ?? '/');
  if (opts.sources.length > 1 && !dest.isDir && !opts.parents) {
    throw new StagecraftError('COPY', 'When using COPY with more than one source file, the destination must be a directory and end with a /', {
      hint: `write the destination as ${opts.dest}/`,
    });
  }
  const chmodSpec = opts.chmod === undefined || opts.chmod === '' ? undefined : parseChmod(opts.chmod);
  const isExcluded = excludeFilter(opts.excludes ?? []);
  const describe = (host: string): string => '/' + relative(opts.destRoot, host);
  // (describe(host) is also the in-image path of a resolved host path.)

  const matches = (
    await resolveSources(opts.srcRoot, opts.sources, {
      parents: opts.parents ?? false,
      ignore: opts.ignore,
      allowEmptyWildcard: opts.allowEmptyWildcard ?? true,
      rootName: opts.sourceName ?? 'build context',
    })
  ).filter((m) => keepMatch(m, isExcluded));

  // Linking needs the merged view and the recorded links to agree: with one source, nothing
  // written later in this COPY can land where a link is still only recorded.
  const linking = opts.chown || chmodSpec || (opts.linking?.deferred && matches.length > 1) ? undefined : opts.linking;
  // The same holds for trees written after the unmount: a later source could write into them first.
  const deferTo = opts.deferTo && matches.length === 1 ? { mergedRoot: opts.destRoot, upperDir: opts.deferTo.upperDir } : undefined;
  let finish: CopyResult['finish'];
  const copier = new TreeCopier({
    chown: opts.chown,
    keepOwners: opts.keepOwners ?? false,
    chmod: chmodSpec,
    describe,
    skip: undefined,
    linking,
  });
  const newDirOwner = opts.chown ?? { uid: 0, gid: 0 };
  /** Directories ensureDir made that nothing has written into yet (copyOne takes them as `fresh`). */
  const emptyDirs = new Set<string>();
  const newDirMode = copier.createdDirMode();

  /**
   * mkdir -p inside destRoot, following links there (as BuildKit's MkdirAll
   * on a RootPath does): a link to a missing directory gets that directory
   * created inside the root. Returns the host path.
   */
  const ensureDir = async (inImage: string): Promise<string> => {
    const host = await resolveInRoot(opts.destRoot, inImage);
    const st = await lstatMaybe(host);
    if (st) {
      if (st.isDirectory()) return host;
      throw new StagecraftError('COPY', `cannot copy to non-directory: ${describe(host)}`, {
        hint: `${inImage} exists in the image and is not a directory`,
      });
    }
    await ensureDir(describe(dirname(host)));
    await mkdir(host);
    await setOwner(host, newDirOwner);
    await chmod(host, newDirMode);
    emptyDirs.add(host);
    emptyDirs.delete(dirname(host));
    return host;
  };

  if (dest.isDir || opts.parents) await ensureDir(dest.path);
  else await ensureDir(parentOf(dest.path));
  const destHost = await resolveInRoot(opts.destRoot, dest.path);

  const fileCopies: Array<{ src: string; target: string }> = [];
  for (const m of matches) {
    const kind = opts.unpackArchives && m.stat.isFile() ? await detectArchive(m.host) : undefined;
    if (kind) {
      const r = await unpackArchive({ archive: m.host, kind, destRoot: opts.destRoot, dest: dest.path, chown: opts.chown });
      copier.stats.files += r.files;
      copier.stats.bytes += r.bytes;
      continue;
    }
    const skip = childSkip(m, opts.ignore, isExcluded);
    const c = new TreeCopier({ chown: opts.chown, keepOwners: opts.keepOwners ?? false, chmod: chmodSpec, describe, skip, linking, deferTo });
    if (opts.parents) await copyWithParents(c, m, destHost, ensureDirBelow);
    else await copyOne(c, m, destHost, dest.path, ensureDir, (h) => describe(dirname(h)), emptyDirs);
    emptyDirs.clear(); // written into now
    // Directories: one recursive xattr read each; single files are batched below.
    if (m.stat.isDirectory()) await c.copyXattrs(m.host);
    else fileCopies.push(...c.written);
    copier.stats.files += c.stats.files;
    copier.stats.bytes += c.stats.bytes;
    if (c.hasDeferred) {
      finish = async () => {
        const before = { files: c.stats.files, bytes: c.stats.bytes, written: c.written.length };
        await c.finishDeferred();
        await c.copyXattrs(m.host, before.written);
        return { files: c.stats.files - before.files, bytes: c.stats.bytes - before.bytes };
      };
    }
  }
  await applyXattrs(fileCopies, await readXattrsOf(fileCopies.map((f) => f.src)));
  return finish ? { ...copier.stats, finish } : { ...copier.stats };

  /** Create a match's parent directories below the destination, mirroring the source's. */
  async function ensureDirBelow(m: SourceMatch): Promise<string> {
    let target = destHost;
    const parts = m.destRel.split('/').slice(0, -1);
    let srcRel = m.rel.slice(0, m.rel.length - m.destRel.length).replace(/\/$/, '');
    for (const part of parts) {
      srcRel = srcRel === '' ? part : `${srcRel}/${part}`;
      target = join(target, part);
      const existing = await lstatMaybe(target);
      if (existing?.isDirectory()) continue;
      if (existing) throw new StagecraftError('COPY', `cannot copy to non-directory: ${describe(target)}`);
      const srcDir = await resolveInRoot(opts.srcRoot, srcRel);
      const st = await lstatMaybe(srcDir);
      await mkdir(target);
      if (st?.isDirectory()) await copier.applyMeta(target, st);
    }
    return target;
  }
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

async function copyOne(
  c: TreeCopier,
  m: SourceMatch,
  destHost: string,
  destPath: string,
  ensureDir: (p: string) => Promise<string>,
  describeParent: (host: string) => string,
  emptyDirs: Set<string>,
): Promise<void> {
  const destSt = await lstatMaybe(destHost);
  if (m.stat.isDirectory()) {
    // Contents only: into the destination directory, created if missing. One this copy made and
    // nothing wrote into yet is empty: the copier need not look before writing there.
    const target = destSt ? destHost : await ensureDir(destPath);
    const fresh = emptyDirs.delete(target);
    await c.copy(m.host, m.stat, target, '', false, fresh);
    return;
  }
  const target = destSt?.isDirectory() ? join(destHost, m.destRel) : destHost;
  // The destination may have resolved through a link to a missing directory.
  if (target === destHost) await ensureDir(describeParent(destHost));
  await c.copy(m.host, m.stat, target, '', false);
}

async function copyWithParents(
  c: TreeCopier,
  m: SourceMatch,
  destHost: string,
  ensureDirBelow: (m: SourceMatch) => Promise<string>,
): Promise<void> {
  if (m.destRel === '') {
    await c.copy(m.host, m.stat, destHost, '', false);
    return;
  }
  const parent = await ensureDirBelow(m);
  const name = m.destRel.slice(m.destRel.lastIndexOf('/') + 1);
  await c.copy(m.host, m.stat, join(parent, name), '', true);
}
