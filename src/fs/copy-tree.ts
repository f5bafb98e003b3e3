/**
 * The entry-level copier behind COPY: `cp -a`-like, with BuildKit's rules for
 * what happens at the target. Every target path is built by joining single
 * names under a directory that is known to be real (never a symlink), so a
 * symlink planted in the image or the source is never written through.
 *
 *   - a file replaces a file or symlink at the target, and fails on a directory;
 *   - a directory merges into an existing directory, fails on anything else;
 *   - symlinks are recreated verbatim, hardlinks within one copy are kept;
 *   - metadata (owner, mode, mtime) is copied after a directory's children,
 *     so the directory's mtime survives; an existing top-level target
 *     directory keeps its own metadata.
 */
import type { Stats } from 'node:fs';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { lchown, lstat, open, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { parseGetfattrDump, readTreeXattrs, writeXattrs, xattrToolsAvailable } from '../tar/xattrs.js';
import { runHelper } from '../util/helper-shell.js';
import { execFile } from 'node:child_process';
import { StagecraftError } from '../errors.js';
import type { ChmodSpec } from './copy-chmod.js';
import type { Owner } from './users.js';

export interface TreeCopyOptions {
  /** --chown; when absent, owners come from `keepOwners`. */
  chown?: Owner | undefined;
  /** Keep source uid/gid (stage sources); otherwise 0:0 (context sources). */
  keepOwners: boolean;
  chmod?: ChmodSpec | undefined;
  /** Skip a child: `sub` is relative to the copied source, `name` its last component. */
  skip?: (sub: string, isDir: boolean) => boolean;
  /** Maps a host target path to its in-image path for messages. */
  describe: (host: string) => string;
  /** Large-file copies (streamed) in flight at once; default 16. */
  concurrency?: number;
  /** Hardlink regular files from immutable layer directories instead of copying them (see CopyLinking). */
  linking?: CopyLinking | undefined;
  /**
   * The target is the overlay view `mergedRoot` with the upper directory
   * `upperDir`. The contents of a directory this copier creates (or is handed
   * as `fresh`) are then not written through the overlay: the directory is
   * recorded and `finishDeferred()`, called after the overlay is unmounted,
   * writes its tree straight into the upper directory. The result is the same
   * upper directory (a new directory is wholly the upper layer's), and
   * creating a file through overlayfs costs 2-3x a plain one. Only for a copy
   * whose later writes cannot land in such a directory (one source).
   */
  deferTo?: { mergedRoot: string; upperDir: string } | undefined;
}

/** A directory whose tree is written after the unmount (TreeCopyOptions.deferTo). */
interface DeferredDir {
  src: string;
  st: Stats;
  /** Its path in the overlay view. */
  target: string;
  sub: string;
  /** The copier made it (its metadata is the source's), or it was handed over `fresh`. */
  created: boolean;
  overwriteMeta: boolean;
}

/**
 * COPY --from without --chown/--chmod gives each file the owner, mode, times
 * and xattrs it has in the source stage: exactly what a hardlink to the
 * source's inode has. Source stages live in layer directories that never
 * change once made, so their files can be linked into the new layer instead
 * of copied (a link is one directory entry; a copy is a new inode, its data
 * and four metadata calls: ~10x the time for small files).
 *
 * `source` returns the layer-directory path of a file seen in the source
 * view, only when it is that very inode and has no other name. `deferred`:
 * the target is an overlay view (a link cannot cross into it), so the copier
 * records the link in `links`, with an empty placeholder at the target when
 * the directory is not one it created; after the unmount the caller makes
 * the links in the upper directory (over the placeholders), and restores the
 * times of the directories in `dirTimes` that this changed. Otherwise the target tree is a plain directory (COPY --link) and
 * the link is made in place.
 */
export interface CopyLinking {
  source: (src: string, st: Stats) => string | undefined;
  deferred: boolean;
  links: Array<{ target: string; real: string; placeholder: boolean }>;
  dirTimes: Array<{ target: string; atime: number; mtime: number }>;
  /** The layer directories `source` has given files from (their layers record the new one). */
  sources: Set<string>;
}

export interface CopyStats {
  files: number;
  bytes: number;
}

/**
 * How the copier spends its time: the per-entry work (lstat, open, read,
 * write, fchown, fchmod, futimes, close) is synchronous system calls, since a
 * round trip through libuv's thread pool per call costs several times the
 * call itself on small files. Files above SMALL_FILE stream asynchronously
 * (bounded by `concurrency`), and the walk yields to the event loop every
 * YIELD_EVERY entries so concurrent stages and progress output keep moving.
 */
export class TreeCopier {
  readonly stats: CopyStats = { files: 0, bytes: 0 };
  /** First target of each multiply-linked source inode (a promise while a streamed copy is in flight). */
  private readonly inodes = new Map<string, string | Promise<string>>();
  /** Layer-directory file of each multiply-linked source inode that was linked rather than copied. */
  private readonly linked = new Map<string, string>();
  private readonly slots: Semaphore;
  private sinceYield = 0;
  private readonly deferred: DeferredDir[] = [];
  /** Set while finishDeferred() writes into the upper directory. */
  private finishing = false;
  /** The xattrs read by copyXattrs (one source tree per copier), kept for finishDeferred's entries. */
  private sourceXattrs: Awaited<ReturnType<typeof readTreeXattrs>> | undefined;

  constructor(private readonly opts: TreeCopyOptions) {
    this.slots = new Semaphore(opts.concurrency ?? 16);
  }

  /** Source -> target of every entry written, for the xattr pass. */
  readonly written: Array<{ src: string; target: string }> = [];

  /**
   * Copy extended attributes (e.g. security.capability on a ping binary) of
   * everything below `srcTop` that this copier wrote (one getfattr -R), from
   * its `from`-th entry on.
   */
  async copyXattrs(srcTop: string, from = 0): Promise<void> {
    if (this.written.length <= from || !xattrToolsAvailable()) return;
    this.sourceXattrs ??= await readTreeXattrs(srcTop);
    await applyXattrs(from === 0 ? this.written : this.written.slice(from), this.sourceXattrs);
  }

  /** Owner a new entry gets. */
  ownerFor(st: Stats | undefined): Owner {
    if (this.opts.chown) return this.opts.chown;
    if (this.opts.keepOwners && st) return { uid: st.uid, gid: st.gid };
    return { uid: 0, gid: 0 };
  }

  /** Mode (permission bits) a new entry gets. */
  modeFor(st: Stats, isDir: boolean): number {
    const mode = st.mode & 0o7777;
    return this.opts.chmod ? this.opts.chmod.apply(mode, isDir) : mode;
  }

  /** Mode for directories COPY creates on the way to the destination. */
  createdDirMode(): number {
    return this.opts.chmod ? this.opts.chmod.apply(0o755, true) : 0o755;
  }

  /**
   * Copy `src` (host path, not followed; `st` its lstat) to `target`, whose
   * parent is a real directory. `sub` is the path below the copied source.
   * `overwriteMeta` is false only for the top-level target of a copy.
   * `fresh`: `target` is an empty directory the caller just made (for a
   * directory source), so nothing in it needs checking before it is written.
   */
  async copy(src: string, st: Stats, target: string, sub: string, overwriteMeta: boolean, fresh = false): Promise<void> {
    if (st.isDirectory()) {
      await this.copyDir(src, st, target, sub, overwriteMeta, false, fresh);
      return;
    }
    const pending = this.copyLeafSync(src, st, target);
    if (pending) await pending();
  }

  /**
   * Copy a non-directory with synchronous calls when it can; otherwise
   * (a large file, a hardlink to a file still streaming, a pipe or device)
   * return the asynchronous rest of the work.
   */
  private copyLeafSync(src: string, st: Stats, target: string, inNewDir = false): (() => Promise<void>) | undefined {
    if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? this.inodes.get(key) : undefined;
      if (typeof first === 'string') {
        this.clearFileTargetSync(target);
        linkSync(this.retarget(first), target);
        this.finishLeafSync(src, st, target);
        return undefined;
      }
      if (first !== undefined) {
        return async () => {
          const firstTarget = this.retarget(await first);
          this.clearFileTargetSync(target);
          linkSync(firstTarget, target);
          this.finishLeafSync(src, st, target);
        };
      }
      // A source inode with several names in the view that was linked once is linked again, to the same
      // file: the names stay one inode, as in the source.
      const real = this.opts.linking ? (st.nlink > 1 ? this.linked.get(key) : undefined) ?? this.opts.linking.source(src, st) : undefined;
      if (real !== undefined) {
        if (st.nlink > 1) this.linked.set(key, real);
        if (!inNewDir) this.clearFileTargetSync(target);
        if (this.opts.linking!.deferred && !this.finishing) {
          // In a directory this copier just made (so it is in the upper dir already, and nothing
          // is at the target) the link is simply made later; elsewhere a placeholder now lets
          // the overlay copy up the parent and hide what the lower layers have at the target.
          if (!inNewDir) closeSync(openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
          this.opts.linking!.links.push({ target, real, placeholder: !inNewDir });
        } else {
          linkSync(real, target);
        }
        // Same inode: owner, mode, times and xattrs are the source's already (nothing for the xattr pass).
        this.stats.bytes += st.size;
        this.stats.files++;
        return undefined;
      }
      if (st.size <= SMALL_FILE) {
        if (!inNewDir) this.clearFileTargetSync(target);
        const n = copyRegularSync(src, target, () => this.describe(target), (fd) => this.applyMetaFd(fd, st));
        if (st.nlink > 1) this.inodes.set(key, target);
        this.stats.bytes += n;
        this.stats.files++;
        this.written.push({ src, target });
        return undefined;
      }
      // Registered now, so later links to this inode wait for this copy.
      const deferred = st.nlink > 1 ? this.deferInode(key) : undefined;
      return async () => {
        try {
          await this.slots.run(() => this.copyLargeFile(src, st, target));
        } catch (e) {
          deferred?.failed(e);
          throw e;
        }
        if (deferred) {
          this.inodes.set(key, target);
          deferred.done(target);
        }
      };
    }
    if (st.isSymbolicLink()) {
      if (!inNewDir) this.clearFileTargetSync(target);
      symlinkSync(readlinkSync(src), target);
      this.finishLeafSync(src, st, target);
      return undefined;
    }
    return () => this.slots.run(() => this.copySpecial(src, st, target));
  }

  /** Owner and times of a link just made (and mode when not a symlink); counts it. */
  private finishLeafSync(src: string, st: Stats, target: string): void {
    this.applyMetaSync(target, st, true);
    if (st.isFile()) this.stats.files++;
    this.written.push({ src, target });
  }

  private deferInode(key: string): { done: (t: string) => void; failed: (e: unknown) => void } {
    let done: (t: string) => void = () => {};
    let failed: (e: unknown) => void = () => {};
    const p = new Promise<string>((res, rej) => {
      done = res;
      failed = rej;
    });
    p.catch(() => {});
    this.inodes.set(key, p);
    return { done, failed };
  }

  private async copyLargeFile(src: string, st: Stats, target: string): Promise<void> {
    this.clearFileTargetSync(target);
    const n = await copyRegularStreaming(src, target, () => this.describe(target));
    this.stats.bytes += n;
    this.applyMetaSync(target, st, true);
    this.stats.files++;
    this.written.push({ src, target });
  }

  /** Pipes, sockets and device nodes (rare: the async path is fine). */
  private async copySpecial(src: string, st: Stats, target: string): Promise<void> {
    this.clearFileTargetSync(target);
    if (this.opts.keepOwners && (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice())) {
      // From a stage: recreate pipes and device nodes, as BuildKit's copier does.
      await mknodLike(target, st, this.describe(target));
    } else if (st.isSocket() || st.isFIFO()) {
      // From the context: BuildKit transfers sockets and pipes as empty regular files.
      await writeFile(target, '', { flag: 'wx' });
      this.stats.files++;
    } else {
      throw new StagecraftError('UNSUPPORTED', `cannot copy device file ${this.describe(target)} from the build context`, {
        hint: 'create device nodes with RUN mknod instead of COPY',
      });
    }
    this.applyMetaSync(target, st, true);
    this.written.push({ src, target });
  }

  /**
   * `inNewDir`: the parent was just created by this copier, so nothing can be
   * at `target` yet and the lstat that would check is skipped (creation is
   * still exclusive: something there after all fails with EEXIST).
   */
  private async copyDir(src: string, st: Stats, target: string, sub: string, overwriteMeta: boolean, inNewDir = false, fresh = false): Promise<void> {
    const existing = inNewDir || fresh ? undefined : lstatMaybeSync(target);
    let created = false;
    if (fresh) {
      // An empty directory the caller made: as good as created here, but its metadata stays.
    } else if (!existing) {
      mkdirSync(target, { mode: 0o700 });
      created = true;
    } else if (!existing.isDirectory()) {
      throw new StagecraftError('COPY', `cannot copy to non-directory: ${this.describe(target)}`, {
        hint: 'the destination already has a file or symlink where the source has a directory',
      });
    }
    if ((created || fresh) && this.opts.deferTo && !this.finishing) {
      this.deferred.push({ src, st, target, sub, created, overwriteMeta });
      return;
    }
    await this.copyChildren(src, target, sub, created || fresh);
    if (created || overwriteMeta) {
      this.applyMetaSync(target, st, created);
      this.written.push({ src, target });
    }
  }

  /** The entries of directory `src` into `target`; `empty`: nothing is in `target` yet. */
  private async copyChildren(src: string, target: string, sub: string, empty: boolean): Promise<void> {
    const names = readdirSync(src, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Entries are copied right here, subdirectories depth first; streamed
    // files continue asynchronously and are all awaited (even after a
    // failure) before this directory is touched again.
    const tasks: Array<Promise<void>> = [];
    let failure: { reason: unknown } | undefined;
    for (const d of names) {
      const childSub = sub === '' ? d.name : `${sub}/${d.name}`;
      if (this.opts.skip?.(childSub, d.isDirectory())) continue;
      const childSrc = `${src}/${d.name}`;
      const childTarget = `${target}/${d.name}`;
      try {
        if (++this.sinceYield >= YIELD_EVERY) {
          this.sinceYield = 0;
          await new Promise<void>((res) => setImmediate(res));
        }
        const cst = lstatSync(childSrc);
        if (cst.isDirectory()) {
          // One directory at a time, so each yield is a real turn of the event loop.
          await this.copyDir(childSrc, cst, childTarget, childSub, true, empty);
        } else {
          const pending = this.copyLeafSync(childSrc, cst, childTarget, empty);
          if (pending) tasks.push(pending());
        }
      } catch (e) {
        failure = { reason: e };
        break;
      }
    }
    const results = await Promise.allSettled(tasks);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    if (rejected) throw rejected.reason;
  }

  /** Whether directories wait for finishDeferred(). */
  get hasDeferred(): boolean {
    return this.deferred.length > 0;
  }

  /**
   * After the overlay is unmounted: writes the trees of the recorded
   * directories into the upper directory (TreeCopyOptions.deferTo). Entries
   * written here are appended to `written` with their upper-directory paths.
   */
  async finishDeferred(): Promise<void> {
    const to = this.opts.deferTo;
    if (!to) return;
    this.finishing = true;
    try {
      for (const d of this.deferred.splice(0)) {
        const up = this.retarget(d.target);
        await this.copyChildren(d.src, up, d.sub, true);
        if (d.created || d.overwriteMeta) {
          this.applyMetaSync(up, d.st, d.created);
          this.written.push({ src: d.src, target: up });
        }
      }
    } finally {
      this.finishing = false;
    }
  }

  /** A target in the overlay view as the upper directory has it, while finishing. */
  private retarget(p: string): string {
    const to = this.opts.deferTo;
    if (!this.finishing || !to) return p;
    return p === to.mergedRoot ? to.upperDir : p.startsWith(`${to.mergedRoot}/`) ? to.upperDir + p.slice(to.mergedRoot.length) : p;
  }

  /** A target for messages: its in-image path (the view's, also for the upper directory's). */
  private describe(target: string): string {
    const to = this.opts.deferTo;
    if (to && (target === to.upperDir || target.startsWith(`${to.upperDir}/`))) return this.opts.describe(to.mergedRoot + target.slice(to.upperDir.length));
    return this.opts.describe(target);
  }

  /** Make room for a non-directory at `target` without following a link there. */
  private clearFileTargetSync(target: string): void {
    const st = lstatMaybeSync(target);
    if (!st) return;
    if (st.isDirectory()) {
      throw new StagecraftError('COPY', `cannot replace directory ${this.describe(target)} with a file`, {
        hint: 'remove the directory in an earlier step, or copy to a different path',
      });
    }
    unlinkSync(target);
  }

  /**
   * Owner, mode and times from `st`; chown first since it clears set-id bits.
   * `fresh` entries were just created by this process, so they already have
   * its uid/gid and need no chown when that is the wanted owner.
   */
  async applyMeta(target: string, st: Stats, fresh = false): Promise<void> {
    this.applyMetaSync(target, st, fresh);
  }

  private applyMetaSync(target: string, st: Stats, fresh: boolean): void {
    const owner = this.ownerFor(st);
    if (!fresh || owner.uid !== EUID || owner.gid !== EGID) setOwnerSync(target, owner);
    if (st.isDirectory()) {
      // By descriptor, opened without following a link: a link planted in
      // place of the directory is not written through.
      const fd = openSync(target, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      try {
        fchmodSync(fd, this.modeFor(st, true));
        futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
      } finally {
        closeSync(fd);
      }
      if (this.opts.linking?.deferred && !this.finishing) this.opts.linking.dirTimes.push({ target, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
      return;
    }
    if (!st.isSymbolicLink()) chmodSync(target, this.modeFor(st, false));
    lutimesSync(target, st.atimeMs / 1000, st.mtimeMs / 1000);
  }

  /** applyMeta for a regular file this process just created, on its open descriptor. */
  private applyMetaFd(fd: number, st: Stats): void {
    const owner = this.ownerFor(st);
    if (owner.uid !== EUID || owner.gid !== EGID) fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, this.modeFor(st, false));
    futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
  }
}

/** Entries copied between two yields to the event loop. */
const YIELD_EVERY = 256;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

export async function lstatMaybe(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

export function lstatMaybeSync(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** lchown, skipped when already right (so unprivileged tests still run). */
export async function setOwner(target: string, owner: Owner): Promise<void> {
  const st = await lstat(target);
  if (st.uid === owner.uid && st.gid === owner.gid) return;
  await lchown(target, owner.uid, owner.gid);
}

/** setOwner, synchronous (a hardlink's inode may already have the owner). */
function setOwnerSync(target: string, owner: Owner): void {
  const st = lstatSync(target);
  if (st.uid === owner.uid && st.gid === owner.gid) return;
  lchownSync(target, owner.uid, owner.gid);
}

/** Files up to this size are copied with synchronous calls; larger ones stream. */
const SMALL_FILE = 1 << 20;
/** One buffer for every synchronous copy: memory stays flat whatever the file count. */
let copyBuffer: Buffer | undefined;

/**
 * Copy a regular file's bytes without following a link on either side: the
 * source is opened O_NOFOLLOW and must still be a regular file, the target is
 * created O_EXCL|O_NOFOLLOW (a link planted after we cleared the path fails
 * instead of being written through). `meta` runs on the target's descriptor
 * after the data. Returns the bytes copied. Chunks go through one shared
 * buffer, so a file that grew since its lstat still costs no extra memory.
 * `describe` names the target in errors only (path.relative per file was ~10 µs).
 */
function copyRegularSync(src: string, target: string, describe: () => string, meta: (fd: number) => void): number {
  const rfd = openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW | O_NONBLOCK);
  let wfd: number | undefined;
  try {
    const st = fstatSync(rfd);
    if (!st.isFile()) throw new StagecraftError('COPY', `source of ${describe()} changed while copying`, { hint: 'do not modify the build context during a build' });
    wfd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    copyBuffer ??= Buffer.allocUnsafe(SMALL_FILE);
    let bytes = 0;
    for (;;) {
      const n = readSync(rfd, copyBuffer, 0, copyBuffer.length, null);
      if (n === 0) break;
      for (let off = 0; off < n; ) off += writeSync(wfd, copyBuffer, off, n - off);
      bytes += n;
    }
    meta(wfd);
    return bytes;
  } finally {
    closeSync(rfd);
    if (wfd !== undefined) closeSync(wfd);
  }
}

/** copyRegularSync's checks for a large file, streamed so memory stays flat. */
async function copyRegularStreaming(src: string, target: string, describe: () => string): Promise<number> {
  const rh = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  let wh;
  try {
    const st = await rh.stat();
    if (!st.isFile()) throw new StagecraftError('COPY', `source of ${describe()} changed while copying`, { hint: 'do not modify the build context during a build' });
    wh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    await rh.close();
    throw e;
  }
  let bytes = 0;
  // The streams own (and close) both handles from here on.
  const input = rh.createReadStream();
  input.on('data', (chunk) => {
    bytes += chunk.length;
  });
  await pipeline(input, wh.createWriteStream());
  return bytes;
}

const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

/** A counting semaphore for streamed copies. */
class Semaphore {
  private free: number;
  private readonly waiters: Array<() => void> = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((res) => this.waiters.push(res));
    try {
      return await f();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** Linux dev_t split, as glibc's major()/minor() do. */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  const major = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
  const minor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
  return { major, minor };
}

/** mknod(1) for a pipe or device node like `st` (Node has no mknod). */
async function mknodLike(target: string, st: Stats, described: string): Promise<void> {
  const args = st.isFIFO() ? [target, 'p'] : [target, st.isCharacterDevice() ? 'c' : 'b', String(devNumbers(st.rdev).major), String(devNumbers(st.rdev).minor)];
  await new Promise<void>((res, rej) =>
    execFile('mknod', args, (err, _out, stderr) => {
      if (err) rej(new StagecraftError('COPY', `cannot create ${described}: ${String(stderr).trim() || err.message}`, { hint: 'device nodes need root and a filesystem that allows them' }));
      else res();
    }),
  );
}

/** Xattrs of these exact paths (no recursion, links not followed), in batches of one getfattr each. */
export async function readXattrsOf(paths: string[]): Promise<Map<string, Record<string, Uint8Array>>> {
  const out = new Map<string, Record<string, Buffer>>();
  if (paths.length === 0 || !xattrToolsAvailable()) return out;
  for (let i = 0; i < paths.length; i += 500) {
    const batch = paths.slice(i, i + 500);
    // Through the helper shell (no fork of this process). getfattr exits
    // non-zero when some file has no attributes; only parsed output counts.
    const r = await runHelper('getfattr', ['-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', ...batch], { stdout: true });
    parseGetfattrDump(r.stdout.toString('latin1'), out);
  }
  return out;
}

/**
 * Set on each target the xattrs found for its source. Best effort, as
 * BuildKit's COPY allows xattr errors; security.selinux is never copied.
 */
export async function applyXattrs(
  pairs: ReadonlyArray<{ src: string; target: string }>,
  found: Map<string, Record<string, Uint8Array>>,
): Promise<void> {
  if (found.size === 0) return;
  const items: Array<{ path: string; xattrs: Record<string, Uint8Array> }> = [];
  for (const { src, target } of pairs) {
    const x = found.get(src);
    if (!x) continue;
    const keep = Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'security.selinux'));
    if (Object.keys(keep).length > 0) items.push({ path: target, xattrs: keep });
  }
  try {
    await writeXattrs(items);
  } catch {
    // The destination filesystem may not support some namespaces.
  }
}
