/**
 * The one directory -> layer tar walker. A step's commit (the diffId of its
 * overlay upper dir), the store's regeneration of a layer tar from an unpacked
 * layer dir, and `writeLayerFromUpper` all go through `walkLayerDir`, so a
 * regenerated tar is byte-for-byte the committed one.
 *
 * Only the given directory is walked (for a step: its upper dir, i.e. what the
 * step changed), never the image below it.
 *
 * Format ('overlay', the default):
 *   0:0 character device, or a regular file with an `overlay.whiteout` xattr
 *     (overlayfs' xwhiteout form)        -> `<dir>/.wh.<name>` (empty file, mode 0, 0:0)
 *   directory with `overlay.opaque=y` (trusted.* or user.*)
 *                                        -> the directory, then `<dir>/.wh..wh..opq`
 * Order: depth-first, a directory before its contents, names sorted byte-wise
 * in each directory (as Go's filepath.Walk, which BuildKit's differ uses); a
 * whiteout stands where the name it deletes sorts. Mode, owner, whole-second
 * mtime (floored), symlinks, devices (glibc dev_t split), fifos and xattrs are
 * kept, except `trusted.*` (host and overlayfs bookkeeping, never layer
 * content) and `user.overlay.*`. Files with several links in the layer become
 * tar hardlinks to the first path in that order. Sockets are skipped.
 *
 * Speed: metadata and file reads are synchronous (a thread-pool round trip per
 * small file cost more than the I/O; reading ahead on the pool was measured
 * slower too), file bytes are read straight into 1 MiB output chunks (one
 * hash update and one write per chunk), xattrs come from one getfattr process
 * for the whole tree that runs while the tree is stat'ed, and the event loop
 * gets a turn every 20 ms. Memory is flat: one chunk in hand, the stream's
 * buffer, and at most SCAN_AHEAD stat results.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from './header.js';
import { TarWriteError, type TarWriteEntry } from './writer.js';
import { readTreeXattrs } from './xattrs.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export interface DirToLayerOptions {
  /**
   * 'overlay' (default): the directory is an overlayfs upper or layer dir, so
   * whiteouts and opaque directories are translated. 'plain': take every
   * file as it is.
   */
  format?: 'overlay' | 'plain';
  /** Leave out this path (relative, e.g. 'etc/hosts') and, for a directory, all below it. */
  exclude?: (relPath: string) => boolean;
  /** How many paths the scan may stat ahead while the xattrs are read (default 50,000; tests vary it). */
  scanAhead?: number;
}

export interface WriteLayerOptions extends DirToLayerOptions {
  /** End `out` when done (default true). */
  end?: boolean;
}

export interface LayerDigestInfo {
  /** sha256 of the uncompressed tar, `sha256:<hex>`. */
  diffId: `sha256:${string}`;
  /** Bytes of the tar. */
  size: number;
  /** Tar entries (whiteouts included, PAX headers not). */
  entries: number;
}

/** One entry of the layer, with the file its content comes from (regular files). */
export interface LayerDirEntry {
  header: TarHeader;
  source?: string;
}

/** Linux dev_t -> major/minor, glibc's encoding (majors > 4095 and minors > 255 in the high bits). */
export function splitDev(rdev: bigint | number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n));
  const minor = Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n));
  return { major, minor };
}

type Xattrs = Record<string, Buffer>;

/** xwhiteout: an (empty, regular) file carrying overlay's whiteout attribute. */
function isWhiteoutFile(attrs: Xattrs | undefined): boolean {
  return attrs !== undefined && (attrs['trusted.overlay.whiteout'] !== undefined || attrs['user.overlay.whiteout'] !== undefined);
}

/** overlay.opaque=y (trusted.* as root mounts it, user.* with userxattr). 'x' only marks a dir holding xwhiteouts. */
function isOpaqueDir(attrs: Xattrs | undefined): boolean {
  const y = (v: Buffer | undefined): boolean => v?.length === 1 && v[0] === 0x79;
  return attrs !== undefined && (y(attrs['trusted.overlay.opaque']) || y(attrs['user.overlay.opaque']));
}

/** The attributes a layer keeps: not trusted.* (overlay's and the host's), not user.overlay.*. */
function layerXattr(name: string): boolean {
  return !name.startsWith('trusted.') && !name.startsWith('user.overlay.');
}

function keptXattrs(attrs: Xattrs | undefined): Record<string, Buffer> | undefined {
  if (!attrs) return undefined;
  let kept: Record<string, Buffer> | undefined;
  for (const k of Object.keys(attrs)) if (layerXattr(k)) (kept ??= {})[k] = attrs[k]!;
  return kept;
}

const NS = 1_000_000_000n;
/** Whole seconds, floored (as Go's Time.Unix), also before 1970. */
function seconds(ns: bigint): number {
  const s = ns / NS;
  return Number(ns < 0n && s * NS !== ns ? s - 1n : s);
}

/** One path as the scan saw it (lstat, and a symlink's target): all the walk needs, without xattrs. */
interface Scanned {
  rel: string;
  /** The directory it is in ('' for the root) and its own name. */
  parent: string;
  name: string;
  abs: string;
  kind: 'dir' | 'file' | 'symlink' | 'chardev' | 'blockdev' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  rdev: bigint;
  /** dev:ino when the inode has more than one link. */
  inode?: string;
  linkname?: string;
}

/**
 * Depth-first, names byte-sorted in each directory, a directory before its
 * contents (as Go's filepath.Walk); sockets and excluded paths left out.
 */
function* scan(root: string, rel: string, exclude: ((rel: string) => boolean) | undefined): Generator<Scanned> {
  const abs = rel === '' ? root : join(root, rel);
  const names = readdirSync(abs);
  const keys = names.map((n) => Buffer.from(n));
  const order = names.map((_, i) => i).sort((a, b) => Buffer.compare(keys[a]!, keys[b]!));
  for (const i of order) {
    const name = names[i]!;
    const childRel = rel === '' ? name : `${rel}/${name}`;
    if (exclude?.(childRel)) continue;
    const childAbs = join(abs, name);
    const st = lstatSync(childAbs, { bigint: true });
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink'
      : st.isCharacterDevice() ? 'chardev' : st.isBlockDevice() ? 'blockdev' : st.isFIFO() ? 'fifo' : undefined;
    if (kind === undefined) continue; // sockets: a tar cannot hold them
    yield {
      rel: childRel, parent: rel, name, abs: childAbs, kind,
      mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), mtime: seconds(st.mtimeNs), rdev: st.rdev,
      inode: st.nlink > 1n && kind !== 'dir' ? `${st.dev}:${st.ino}` : undefined,
      linkname: kind === 'symlink' ? readlinkSync(childAbs) : undefined,
    };
    if (kind === 'dir') yield* scan(root, childRel, exclude);
  }
}

/** How many paths the scan may run ahead while getfattr is still reading the tree's xattrs. */
const SCAN_AHEAD = 50_000;

/**
 * The walker: scans the tree (lstat) while one getfattr reads its xattrs, then
 * returns the entries lazily, in layer order. Everything else in this module
 * (and the commit, the store and upper-diff) serialises what this yields.
 */
export async function walkLayerDir(dir: string, opts: DirToLayerOptions = {}): Promise<Iterable<LayerDirEntry>> {
  const root = resolve(dir);
  let rootStat;
  try {
    rootStat = lstatSync(root);
  } catch (e) {
    throw new TarWriteError(`layer directory ${root} does not exist`, { cause: e });
  }
  if (!rootStat.isDirectory()) throw new TarWriteError(`layer directory ${root} is not a directory`);
  const overlay = (opts.format ?? 'overlay') === 'overlay';

  // getfattr runs in its own process; scan ahead meanwhile (turning the event
  // loop now and then, so its output pipe is drained and it never stalls).
  let settled = false;
  const pending = readTreeXattrs(root, { strict: true }).finally(() => { settled = true; });
  const first = scan(root, '', opts.exclude);
  const ahead: Scanned[] = [];
  let scanned = false;
  const scanAhead = opts.scanAhead ?? SCAN_AHEAD;
  for (let t = Date.now(); !settled && ahead.length < scanAhead;) {
    const r = first.next();
    if (r.done) { scanned = true; break; }
    ahead.push(r.value);
    if ((ahead.length & 63) === 0 && Date.now() - t > 4) {
      await new Promise((r) => setImmediate(r));
      t = Date.now();
    }
  }
  const xattrs = await pending;

  function* entries(items: Iterable<Scanned>): Generator<LayerDirEntry> {
    const links = new Map<string, string>();
    for (const c of items) {
      const attrs = xattrs.get(c.abs);
      if (overlay && ((c.kind === 'chardev' && c.rdev === 0n) || (c.kind === 'file' && c.size === 0 && isWhiteoutFile(attrs)))) {
        const wh = c.parent === '' ? WHITEOUT_PREFIX + c.name : `${c.parent}/${WHITEOUT_PREFIX}${c.name}`;
        yield { header: { path: wh, type: 'file', mode: 0, size: 0, uid: 0, gid: 0, mtime: c.mtime } };
        continue;
      }
      const h: TarHeader = { path: c.rel, type: c.kind, mode: c.mode, uid: c.uid, gid: c.gid, size: 0, mtime: c.mtime };
      if (c.inode !== undefined) {
        const target = links.get(c.inode);
        if (target !== undefined) {
          h.type = 'hardlink';
          h.linkname = target;
          yield { header: h };
          continue;
        }
        links.set(c.inode, c.rel);
      }
      const kept = keptXattrs(attrs);
      if (kept) h.xattrs = kept;
      if (c.kind === 'file') {
        h.size = c.size;
        yield { header: h, source: c.abs };
        continue;
      }
      if (c.kind === 'symlink') h.linkname = c.linkname;
      if (c.kind === 'chardev' || c.kind === 'blockdev') {
        const { major, minor } = splitDev(c.rdev);
        h.devmajor = major;
        h.devminor = minor;
      }
      yield { header: h };
      if (c.kind === 'dir' && overlay && isOpaqueDir(attrs)) {
        yield { header: { path: `${c.rel}/${OPAQUE_MARKER}`, type: 'file', mode: 0, size: 0, uid: 0, gid: 0, mtime: c.mtime } };
      }
    }
  }
  function* resumed(): Generator<Scanned> {
    yield* ahead;
    ahead.length = 0;
    if (!scanned) yield* first;
  }
  let used = false;
  return {
    [Symbol.iterator]: () => {
      const items = used ? scan(root, '', opts.exclude) : resumed();
      used = true;
      return entries(items);
    },
  };
}

/**
 * The layer's entries as tar writer input (for `tarChunks`/`writeLayer`):
 * the same walk, so the same bytes as `writeLayerFromDir`.
 */
export async function* dirToLayerEntries(root: string, opts: DirToLayerOptions = {}): AsyncGenerator<TarWriteEntry> {
  for (const e of await walkLayerDir(root, opts)) {
    const src = e.source;
    yield src === undefined ? { header: e.header } : { header: e.header, body: () => createReadStream(src) };
  }
}

/**
 * Writes the layer tar of `dir` to `out` (or only hashes it when `out` is
 * undefined: what a commit needs) and returns its diffId, size and entry count.
 */
export async function writeLayerFromDir(dir: string, out?: Writable, opts: WriteLayerOptions = {}): Promise<LayerDigestInfo> {
  return writeLayerEntries(await walkLayerDir(dir, opts), out, opts);
}

/** Serialises walked entries (see writeLayerFromDir). */
export async function writeLayerEntries(entries: Iterable<LayerDirEntry>, out?: Writable, opts: { end?: boolean } = {}): Promise<LayerDigestInfo> {
  const sink = new ChunkSink(out);
  let count = 0;
  for (const e of entries) {
    count++;
    await sink.put(encodeHeader(e.header));
    if (e.source !== undefined && e.header.size > 0) {
      await sink.file(e.source, e.header.size, e.header.path);
      await sink.zeros(padding(e.header.size));
    }
  }
  await sink.put(END_OF_ARCHIVE);
  await sink.flush();
  if (out && opts.end !== false) {
    out.end();
    if (!out.writableFinished) await once(out, 'finish');
  }
  return { diffId: `sha256:${sink.hash.digest('hex')}`, size: sink.size, entries: count };
}

/** The layer tar of `dir` as a stream (backpressure from the reader). */
export function layerDirTar(dir: string, opts: DirToLayerOptions = {}): Readable {
  const out = new PassThrough({ highWaterMark: CHUNK });
  writeLayerFromDir(dir, out, opts).catch((e: unknown) => out.destroy(e as Error));
  return out;
}

const CHUNK = 1 << 20;

/** Collects output in 1 MiB chunks: hashed, counted and written (with backpressure) a chunk at a time. */
class ChunkSink {
  readonly hash = createHash('sha256');
  size = 0;
  #buf = Buffer.allocUnsafe(CHUNK);
  #pos = 0;
  #lastYield = Date.now();
  readonly #out: Writable | undefined;

  constructor(out: Writable | undefined) {
    this.#out = out;
  }

  async flush(): Promise<void> {
    if (this.#pos > 0) {
      const chunk = this.#buf.subarray(0, this.#pos);
      this.hash.update(chunk);
      this.size += chunk.length;
      this.#pos = 0;
      if (this.#out) {
        // the stream keeps `chunk`; write the next bytes into a fresh buffer
        this.#buf = Buffer.allocUnsafe(CHUNK);
        if (!this.#out.write(chunk)) await waitDrain(this.#out);
      }
    }
    if (Date.now() - this.#lastYield > 20) {
      await new Promise((r) => setImmediate(r));
      this.#lastYield = Date.now();
    }
  }

  async put(b: Buffer): Promise<void> {
    for (let off = 0; off < b.length;) {
      if (this.#pos === CHUNK) await this.flush();
      const n = b.copy(this.#buf, this.#pos, off);
      this.#pos += n;
      off += n;
    }
  }

  async zeros(n: number): Promise<void> {
    while (n > 0) {
      if (this.#pos === CHUNK) await this.flush();
      const k = Math.min(n, CHUNK - this.#pos);
      this.#buf.fill(0, this.#pos, this.#pos + k);
      this.#pos += k;
      n -= k;
    }
  }

  /**
   * Exactly `size` bytes of a file, read straight into the chunk. A file that
   * is shorter or longer than its lstat said is an error (the tree changed
   * while it was archived). The last read asks for one byte more, so EOF costs
   * no extra call when the chunk has room.
   */
  async file(abs: string, size: number, name: string): Promise<void> {
    const fd = openSync(abs, 'r');
    try {
      let got = 0;
      for (;;) {
        if (this.#pos === CHUNK) await this.flush();
        const room = CHUNK - this.#pos;
        const left = size - got;
        const want = left < room ? left + 1 : room;
        const n = readSync(fd, this.#buf, this.#pos, want, got);
        if (n > left) throw changed(name, size);
        this.#pos += n;
        got += n;
        if (got === size && (want > left || readSync(fd, Buffer.allocUnsafe(1), 0, 1, got) === 0)) return;
        if (n === 0) throw changed(name, size);
        if (got === size) throw changed(name, size);
      }
    } finally {
      closeSync(fd);
    }
  }
}

function changed(name: string, size: number): TarWriteError {
  return new TarWriteError(`${name} changed size while the layer was written (expected ${size} bytes)`);
}

function waitDrain(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (err) reject(err); else resolve();
    };
    const onDrain = (): void => done();
    const onError = (e: unknown): void => done(e);
    const onClose = (): void => done(new TarWriteError('layer output closed before the layer was written'));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}
