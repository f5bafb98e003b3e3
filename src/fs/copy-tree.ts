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
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, readlink, symlink, unlink, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { readTreeXattrs, writeXattrs, xattrToolsAvailable } from '../tar/xattrs.js';
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
  /** Leaf operations (file copies, links) in flight at once; default 16. */
  concurrency?: number;
}

export interface CopyStats {
  files: number;
  bytes: number;
}

export class TreeCopier {
  readonly stats: CopyStats = { files: 0, bytes: 0 };
  /** First target of each multiply-linked source inode (a promise: copies run concurrently). */
  private readonly inodes = new Map<string, Promise<string>>();
  private readonly slots: Semaphore;

  constructor(private readonly opts: TreeCopyOptions) {
    this.slots = new Semaphore(opts.concurrency ?? 16);
  }

  /** Source -> target of every entry written, for the xattr pass. */
  readonly written: Array<{ src: string; target: string }> = [];

  /**
   * Copy extended attributes (e.g. security.capability on a ping binary) of
   * everything below `srcTop` that this copier wrote (one getfattr -R).
   */
  async copyXattrs(srcTop: string): Promise<void> {
    if (this.written.length === 0 || !xattrToolsAvailable()) return;
    await applyXattrs(this.written, await readTreeXattrs(srcTop));
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
   */
  async copy(src: string, st: Stats, target: string, sub: string, overwriteMeta: boolean): Promise<void> {
    if (st.isDirectory()) {
      await this.copyDir(src, st, target, sub, overwriteMeta);
      return;
    }
    await this.slots.run(() => this.copyLeaf(src, st, target));
  }

  private async copyLeaf(src: string, st: Stats, target: string): Promise<void> {
    await this.clearFileTarget(target);
    if (st.isSymbolicLink()) {
      await symlink(await readlink(src), target);
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? this.inodes.get(key) : undefined;
      if (first !== undefined) {
        await link(await first, target);
      } else {
        let done: (t: string) => void = () => {};
        let failed: (e: unknown) => void = () => {};
        if (st.nlink > 1) {
          const p = new Promise<string>((res, rej) => {
            done = res;
            failed = rej;
          });
          p.catch(() => {});
          this.inodes.set(key, p);
        }
        try {
          const n = await copyRegular(src, target, this.opts.describe(target));
          this.stats.bytes += n;
          done(target);
        } catch (e) {
          failed(e);
          throw e;
        }
      }
      this.stats.files++;
    } else if (this.opts.keepOwners && (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice())) {
      // From a stage: recreate pipes and device nodes, as BuildKit's copier does.
      await mknodLike(target, st, this.opts.describe(target));
    } else if (st.isSocket() || st.isFIFO()) {
      // From the context: BuildKit transfers sockets and pipes as empty regular files.
      await writeFile(target, '', { flag: 'wx' });
      this.stats.files++;
    } else {
      throw new StagecraftError('UNSUPPORTED', `cannot copy device file ${this.opts.describe(target)} from the build context`, {
        hint: 'create device nodes with RUN mknod instead of COPY',
      });
    }
    await this.applyMeta(target, st, true);
    this.written.push({ src, target });
  }

  private async copyDir(src: string, st: Stats, target: string, sub: string, overwriteMeta: boolean): Promise<void> {
    const existing = await lstatMaybe(target);
    let created = false;
    if (!existing) {
      await mkdir(target, { mode: 0o700 });
      created = true;
    } else if (!existing.isDirectory()) {
      throw new StagecraftError('COPY', `cannot copy to non-directory: ${this.opts.describe(target)}`, {
        hint: 'the destination already has a file or symlink where the source has a directory',
      });
    }
    const names = (await readdir(src, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const tasks: Array<Promise<void>> = [];
    for (const d of names) {
      const childSub = sub === '' ? d.name : `${sub}/${d.name}`;
      if (this.opts.skip?.(childSub, d.isDirectory())) continue;
      const childSrc = `${src}/${d.name}`;
      tasks.push(lstat(childSrc).then((cst) => this.copy(childSrc, cst, `${target}/${d.name}`, childSub, true)));
    }
    // Wait for every child (even after a failure) before touching this directory again.
    const results = await Promise.allSettled(tasks);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    if (created || overwriteMeta) {
      await this.applyMeta(target, st, created);
      this.written.push({ src, target });
    }
  }

  /** Make room for a non-directory at `target` without following a link there. */
  private async clearFileTarget(target: string): Promise<void> {
    const st = await lstatMaybe(target);
    if (!st) return;
    if (st.isDirectory()) {
      throw new StagecraftError('COPY', `cannot replace directory ${this.opts.describe(target)} with a file`, {
        hint: 'remove the directory in an earlier step, or copy to a different path',
      });
    }
    await unlink(target);
  }

  /**
   * Owner, mode and times from `st`; chown first since it clears set-id bits.
   * `fresh` entries were just created by this process, so they already have
   * its uid/gid and need no chown when that is the wanted owner.
   */
  async applyMeta(target: string, st: Stats, fresh = false): Promise<void> {
    const owner = this.ownerFor(st);
    if (!fresh || owner.uid !== EUID || owner.gid !== EGID) await setOwner(target, owner);
    if (!st.isSymbolicLink()) await chmod(target, this.modeFor(st, st.isDirectory()));
    await lutimes(target, st.atimeMs / 1000, st.mtimeMs / 1000);
  }
}

export async function lstatMaybe(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
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

/** Files up to this size are read and written in one call; larger ones stream. */
const SMALL_FILE = 1 << 20;

/**
 * Copy a regular file's bytes without following a link on either side: the
 * source is opened O_NOFOLLOW and must still be a regular file, the target is
 * created O_EXCL|O_NOFOLLOW (a link planted after we cleared the path fails
 * instead of being written through). Large files stream, so memory stays flat.
 */
async function copyRegular(src: string, target: string, described: string): Promise<number> {
  const rh = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  let wh;
  let size: number;
  try {
    const st = await rh.stat();
    if (!st.isFile()) throw new StagecraftError('COPY', `source of ${described} changed while copying`, { hint: 'do not modify the build context during a build' });
    size = st.size;
    wh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    await rh.close();
    throw e;
  }
  if (size <= SMALL_FILE) {
    try {
      const data = await rh.readFile();
      await wh.writeFile(data);
      return data.length;
    } finally {
      await Promise.all([rh.close(), wh.close()]);
    }
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

/** A counting semaphore for leaf filesystem operations. */
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

/** getfattr's dump escaping of names: `\ooo` octal bytes and `\\`. */
function unescapeDumpPath(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (s[i] === '\\' && s[i + 1] === '\\') {
      bytes.push(0x5c);
      i++;
    } else bytes.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Xattrs of these exact paths (no recursion, links not followed), in batches of one getfattr each. */
export async function readXattrsOf(paths: string[]): Promise<Map<string, Record<string, Uint8Array>>> {
  const out = new Map<string, Record<string, Uint8Array>>();
  if (paths.length === 0 || !xattrToolsAvailable()) return out;
  for (let i = 0; i < paths.length; i += 500) {
    const batch = paths.slice(i, i + 500);
    const stdout = await new Promise<string>((res) =>
      // getfattr exits non-zero when some file has no attributes; only parsed output counts.
      execFile('getfattr', ['-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', ...batch], { encoding: 'latin1', maxBuffer: 256 << 20 }, (_e, o) => res(String(o ?? ''))),
    );
    let current: Record<string, Uint8Array> | undefined;
    for (const line of stdout.split('\n')) {
      if (line.startsWith('# file: ')) {
        current = {};
        out.set(unescapeDumpPath(line.slice(8)), current);
      } else if (current && line.includes('=0x')) {
        const eq = line.indexOf('=');
        current[line.slice(0, eq)] = Buffer.from(line.slice(eq + 3), 'hex');
      }
    }
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
