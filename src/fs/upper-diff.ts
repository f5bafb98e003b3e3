/**
 * A layer from an overlay upper directory.
 *
 * After a step runs, its overlay upper dir holds exactly what changed: new and
 * modified files (whole files, since we mount with metacopy=off), whiteouts for
 * deletions, and opaque directories for "deleted and recreated". We walk ONLY
 * that directory (never the image) and write an OCI layer tar:
 *
 *   overlay whiteout (char device 0:0)  -> `<dir>/.wh.<name>` (empty regular file)
 *   opaque dir (trusted|user.overlay.opaque=y) -> the dir, then `<dir>/.wh..wh..opq`
 *
 * Entries are sorted byte-wise per directory, parents before children, so the
 * same upper dir always gives the same bytes and the same diffId. Ownership,
 * mode, whole-second mtime, symlinks, device nodes, fifos and xattrs (except
 * overlay's own) are kept; hardlinks inside the layer become tar links to the
 * first path in that order. Sockets are skipped (tar cannot hold them).
 */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, promises as fs, readdirSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { once } from 'node:events';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from '../tar/header.js';
import { isOpaqueDir, isOverlayXattr, readTreeXattrs, type Xattrs } from './overlay-xattr.js';

export { cleanUpper } from './overlay-stubs.js';

export interface LayerFromUpperOptions {
  /** Leave out this path (relative, e.g. 'etc/hosts') and, for a directory, all below it. */
  exclude?: (relPath: string) => boolean;
  /** End `out` when done (default true). */
  end?: boolean;
}

export interface LayerDigestInfo {
  /** sha256 of the uncompressed tar, `sha256:<hex>`. */
  diffId: string;
  /** Bytes written. */
  size: number;
  /** Tar entries written (whiteouts included, PAX headers not). */
  entries: number;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

export async function writeLayerFromUpper(
  upperDir: string,
  out: Writable,
  opts: LayerFromUpperOptions = {},
): Promise<LayerDigestInfo> {
  const root = path.resolve(upperDir);
  const rootStat = await fs.lstat(root, { bigint: true }).catch((e: unknown) => {
    throw new StagecraftError('NOT_FOUND', `upper directory ${root} does not exist`, { cause: e });
  });
  if (!rootStat.isDirectory()) throw new StagecraftError('INTERNAL', `${root} is not a directory`);

  const xattrs = await readTreeXattrs(root);
  const sink = new HashingSink(out);
  const links = new Map<string, string>();
  const exclude = opts.exclude ?? (() => false);
  let entries = 0;

  let lastYield = Date.now();
  const emit = async (entry: TarHeader, abs?: string): Promise<void> => {
    const header = encodeHeader(entry);
    entries++;
    if (entry.type === 'file' && entry.size > 0 && abs) {
      const pad = Buffer.alloc(padding(entry.size));
      if (entry.size <= SMALL_FILE) {
        await sink.write(Buffer.concat([header, readSmallFile(abs, entry.size, entry.path), pad]));
      } else {
        await sink.write(header);
        await sink.copyFile(abs, entry.size, entry.path);
        if (pad.length) await sink.write(pad);
      }
    } else {
      await sink.write(header);
    }
    // Metadata and small files are read synchronously (see below); let other work run now and then.
    if (Date.now() - lastYield > 20) {
      await new Promise((r) => setImmediate(r));
      lastYield = Date.now();
    }
  };

  // Depth-first: a directory's entry, then its children in byte order.
  const walkDir = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : path.join(root, rel);
    const names = readdirSync(abs);
    const children: { name: string; tarBase: string; st: BigIntStats }[] = [];
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (exclude(childRel)) continue;
      const st = lstatSync(path.join(abs, name), { bigint: true });
      if (st.isSocket()) continue;
      children.push({ name, tarBase: isWhiteout(st) ? WHITEOUT_PREFIX + name : name, st });
    }
    children.sort((a, b) => Buffer.compare(Buffer.from(a.tarBase), Buffer.from(b.tarBase)));

    for (const c of children) {
      const childRel = rel === '' ? c.name : `${rel}/${c.name}`;
      const childAbs = path.join(abs, c.name);
      const tarName = rel === '' ? c.tarBase : `${rel}/${c.tarBase}`;
      const st = c.st;
      const base = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtime: Number(st.mtimeNs / 1_000_000_000n) };

      if (isWhiteout(st)) {
        await emit({ path: tarName, type: 'file', size: 0, mode: 0, uid: base.uid, gid: base.gid, mtime: base.mtime });
        continue;
      }
      const attrs = layerXattrs(xattrs.get(childRel));
      if (st.isDirectory()) {
        await emit(withXattrs({ ...base, path: tarName, type: 'dir', size: 0 }, attrs));
        if (isOpaqueDir(xattrs.get(childRel))) {
          await emit({ ...base, path: `${tarName}/${OPAQUE_WHITEOUT}`, type: 'file', size: 0 });
        }
        await walkDir(childRel);
        continue;
      }
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          await emit({ ...base, path: tarName, type: 'hardlink', size: 0, linkname: first });
          continue;
        }
        links.set(key, tarName);
      }
      if (st.isFile()) {
        await emit(withXattrs({ ...base, path: tarName, type: 'file', size: Number(st.size) }, attrs), childAbs);
      } else if (st.isSymbolicLink()) {
        await emit(withXattrs({ ...base, path: tarName, type: 'symlink', size: 0, linkname: readlinkSync(childAbs) }, attrs));
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = splitDev(st.rdev);
        await emit(withXattrs({ ...base, path: tarName, type: st.isCharacterDevice() ? 'chardev' : 'blockdev', size: 0, devmajor: major, devminor: minor }, attrs));
      } else if (st.isFIFO()) {
        await emit(withXattrs({ ...base, path: tarName, type: 'fifo', size: 0 }, attrs));
      }
    }
  };

  await walkDir('');
  await sink.write(END_OF_ARCHIVE);
  if (opts.end !== false) {
    out.end();
    await once(out, 'finish');
  }
  return { diffId: `sha256:${sink.hash.digest('hex')}`, size: sink.size, entries };
}

/**
 * Files up to this size are read synchronously in one call. A layer is mostly
 * small files, and a thread-pool round trip per open/read/close/lstat cost
 * ~5x more than the I/O itself (10k files: 2.9 s async vs well under 1 s).
 * We yield to the event loop every 20 ms, so progress output keeps flowing.
 */
const SMALL_FILE = 256 * 1024;

function readSmallFile(abs: string, size: number, name: string): Buffer {
  const fd = openSync(abs, 'r');
  try {
    const buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
      if (got === buf.length) break;
    }
    if (got !== size) {
      throw new StagecraftError('INTERNAL', `${name} changed size while the layer was written (expected ${size} bytes)`);
    }
    return buf.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

/** Overlay marks a deleted path with a 0:0 character device. */
export function isWhiteout(st: { isCharacterDevice(): boolean; rdev: bigint | number }): boolean {
  return st.isCharacterDevice() && BigInt(st.rdev) === 0n;
}

/** Linux dev_t -> major/minor (glibc's encoding). */
export function splitDev(rdev: bigint | number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n));
  const minor = Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n));
  return { major, minor };
}

/** The attributes a layer keeps: all but overlay's own bookkeeping. */
function layerXattrs(attrs: Xattrs | undefined): Record<string, Buffer> | undefined {
  if (!attrs) return undefined;
  const kept: Record<string, Buffer> = {};
  let any = false;
  for (const [k, v] of attrs) if (!isOverlayXattr(k)) { kept[k] = v; any = true; }
  return any ? kept : undefined;
}

function withXattrs(h: TarHeader, attrs: Record<string, Buffer> | undefined): TarHeader {
  if (attrs) h.xattrs = attrs;
  return h;
}

/** Writes to `out` with backpressure while hashing and counting. */
class HashingSink {
  readonly hash = createHash('sha256');
  size = 0;
  constructor(private readonly out: Writable) {}

  async write(buf: Buffer): Promise<void> {
    this.hash.update(buf);
    this.size += buf.length;
    if (!this.out.write(buf)) await waitDrain(this.out);
  }

  /**
   * Stream exactly `size` bytes of a file; a file that changed size is an
   * error. Buffers are sized to the file (up to 1 MiB), so 10k small files do
   * not cost 10k large allocations.
   */
  async copyFile(abs: string, size: number, name: string): Promise<void> {
    const fh = await fs.open(abs, 'r');
    try {
      let copied = 0;
      while (copied < size) {
        const want = Math.min(size - copied, CHUNK);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, copied);
        if (bytesRead === 0) break;
        await this.write(bytesRead === want ? buf : buf.subarray(0, bytesRead));
        copied += bytesRead;
      }
      const extra = await fh.read(Buffer.alloc(1), 0, 1, copied);
      if (copied !== size || extra.bytesRead !== 0) {
        throw new StagecraftError('INTERNAL', `${name} changed size while the layer was written (expected ${size} bytes)`);
      }
    } finally {
      await fh.close();
    }
  }
}

const CHUNK = 1 << 20;

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
    const onClose = (): void => done(new StagecraftError('INTERNAL', 'layer output closed before the layer was written'));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}
