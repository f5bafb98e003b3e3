import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readFileSync, symlinkSync, utimesSync, writevSync, type Stats } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { HashingStream, type Digest } from '../oci/digest.js';
import type { Compression } from '../oci/media-types.js';
import { uncompressed } from './compression.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './from-dir.js';
import type { TarHeader } from './header.js';
import { readTar } from './reader.js';
import { writeXattrs } from './xattrs.js';

export interface ExtractOptions {
  /**
   * Device nodes in the layer: 'create' them (needs root), 'skip' them, or
   * 'reject' the layer. Whiteouts are always created. Default 'create'.
   */
  devices?: 'create' | 'skip' | 'reject';
  /** Fail (before the caller commits the directory) when the diffId differs. */
  expectedDiffId?: Digest;
}

export interface ExtractResult {
  diffId: Digest;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  /** Sum of regular file sizes written. */
  unpackedSize: number;
  compression: Compression;
  entries: number;
}

/** A layer that tries to write outside its directory, or is otherwise unsafe or malformed. */
export class UnsafeLayerError extends Error {
  override name = 'UnsafeLayerError';
}

/** Xattrs a layer may set. trusted.* would let a layer forge overlayfs metadata. */
function allowedXattr(name: string): boolean {
  return !name.startsWith('trusted.');
}

/**
 * Resolves an entry name to a path inside `dest`, refusing `..` escapes.
 * Absolute names are taken relative to the root (as Docker does).
 */
export function safeRelative(name: string): string {
  const cleaned = posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
  const raw = name.split('/');
  // normalize('/a/../../x') clamps at the root; an entry that needed clamping is an escape attempt.
  let depth = 0;
  for (const part of raw) {
    if (part === '..') { depth--; if (depth < 0) throw new UnsafeLayerError(`layer entry ${JSON.stringify(name)} escapes the layer root (path traversal)`); }
    else if (part !== '' && part !== '.') depth++;
  }
  return cleaned;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim()}`))));
  });
}

async function mknod(path: string, kind: 'c' | 'b' | 'p', major = 0, minor = 0): Promise<void> {
  await run('mknod', kind === 'p' ? [path, 'p'] : [path, kind, String(major), String(minor)]);
}

// Metadata calls are synchronous on purpose: they are page-cache fast, and a
// thread-pool round trip per call made extraction ~6x slower than GNU tar.
// Each one still costs kernel time (tens of µs per call on the build VM, where
// creating a file was most of a pull's system time), so an entry makes only the
// calls that change something: the create is tried first and an existing path
// is looked at only when it fails with EEXIST; a file or directory this
// extraction creates is already owned by the process's uid and gid (no parent
// here is setgid), so it is chowned only to another owner; its mode is given to
// open/mkdir and set again only when the umask or a special bit needs it.

function isEexist(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'EEXIST';
}

/**
 * The process umask, read from /proc without changing it (process.umask()
 * sets it to 0 and back, and a file created meanwhile on another thread would
 * get the wrong mode). Unknown: every mode counts as needing a chmod.
 */
function currentUmask(): number {
  let status = '';
  try { status = readFileSync('/proc/self/status', 'utf8'); } catch { /* not Linux */ }
  const m = /^Umask:\s*([0-7]+)$/m.exec(status);
  return m ? parseInt(m[1]!, 8) : 0o777;
}

function existing(path: string): Stats | undefined {
  try { return lstatSync(path); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function writeAll(fd: number, bufs: Buffer[]): void {
  let rest = bufs;
  while (rest.length) {
    let n = writevSync(fd, rest);
    const next: Buffer[] = [];
    for (const b of rest) {
      if (n >= b.length) { n -= b.length; continue; }
      next.push(n > 0 ? b.subarray(n) : b);
      n = 0;
    }
    rest = next;
  }
}

/**
 * Unpacks a layer (tar, tar+gzip or tar+zstd; detected from its bytes) into
 * `dest` as an overlayfs lower directory:
 *  - `.wh.<name>` becomes a 0:0 character device `<name>`,
 *  - `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory,
 *  - owners, modes, mtimes, xattrs, symlinks and in-layer hardlinks are kept.
 * Nothing is written outside `dest`: `..` escapes, writes through symlinks
 * and hardlinks to paths outside the layer are refused.
 */
export async function extractLayer(src: AsyncIterable<Uint8Array>, dest: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const devices = opts.devices ?? 'create';
  const { compression, stream } = await uncompressed(src);
  const hash = new HashingStream({ highWaterMark: 4 << 20 }); // deep, as the decompressor's (compression.ts)
  stream.on('error', (e) => hash.destroy(e));
  // The reader sees errors through its iterator; once it has stopped (failed, or at the end
  // marker), a decompressor error arriving later must not become an uncaught exception.
  hash.on('error', () => undefined);
  const tarBytes = stream.pipe(hash);
  await mkdir(dest, { recursive: true });
  const destSetgid = (lstatSync(dest).mode & 0o2000) !== 0;

  const knownDirs = new Set<string>(['']);
  // Who owns what this extraction creates, and which modes open/mkdir give as they are.
  const self = { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };
  const umask = currentUmask();
  const exactMode = (mode: number): boolean => (mode & ~0o777) === 0 && (mode & umask) === 0;
  // A setgid destination would hand its group to what is created in it: then every entry is chowned.
  const ownedAsCreated = (uid: number, gid: number): boolean => uid === self.uid && gid === self.gid && !destSetgid;
  /** Directories this extraction made with their final owner and mode (their end-of-run chown and chmod are skipped). */
  const createdExact = new Set<string>();
  const dirMeta = new Map<string, TarHeader>();
  const xattrs: Array<{ path: string; xattrs: Record<string, Uint8Array> }> = [];
  const opaque = new Set<string>();
  let unpackedSize = 0;
  let entries = 0;
  const abs = (rel: string): string => (rel === '' ? dest : `${dest}/${rel}`);

  /** Makes sure every parent of `rel` is a real directory inside dest (never a symlink). */
  async function parentsOf(rel: string): Promise<void> {
    const parts = rel.split('/');
    let cur = '';
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur === '' ? parts[i]! : `${cur}/${parts[i]}`;
      if (knownDirs.has(cur)) continue;
      const st = existing(abs(cur));
      if (!st) {
        // A parent the layer has no entry for is 0755 (as containerd and Docker make it), whatever the umask.
        mkdirSync(abs(cur), { mode: 0o755 });
        if ((umask & 0o755) !== 0) chmodSync(abs(cur), 0o755);
      }
      else if (st.isSymbolicLink()) throw new UnsafeLayerError(`layer entry ${JSON.stringify(rel)} would be written through the symlink ${JSON.stringify(cur)} (symlink escape)`);
      else if (!st.isDirectory()) throw new UnsafeLayerError(`layer entry ${JSON.stringify(rel)} needs ${JSON.stringify(cur)} to be a directory, but the layer made it a file`);
      knownDirs.add(cur);
    }
  }

  /** Clears the way for a new entry at rel (a directory stays if the new entry is one too). */
  async function replace(rel: string, keepDir: boolean): Promise<void> {
    const st = existing(abs(rel));
    if (!st) return;
    if (keepDir && st.isDirectory()) return;
    await rm(abs(rel), { recursive: true, force: true });
    const gone = (d: string): boolean => d === rel || d.startsWith(`${rel}/`);
    for (const d of knownDirs) if (gone(d)) knownDirs.delete(d);
    // A directory that is gone keeps no metadata to apply at the end (it would land on what replaced it).
    for (const d of dirMeta.keys()) if (gone(d)) { dirMeta.delete(d); createdExact.delete(d); }
  }

  // One iterator over the tar bytes, shared by the reader and the final drain;
  // the reader stopping at the end marker must not close the stream.
  const it = tarBytes[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const shared: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => it.next(), return: async () => ({ done: true as const, value: undefined }) }) };
  try {
  for await (const entry of readTar(shared)) {
    entries++;
    const h = entry.header;
    const rel = safeRelative(h.path);
    const base = posix.basename(rel);
    const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);

    if (base === OPAQUE_MARKER) {
      await parentsOf(`${parent}/x`.replace(/^\//, ''));
      if (parent !== '' && !knownDirs.has(parent)) knownDirs.add(parent);
      opaque.add(parent);
      continue;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const target = parent === '' ? base.slice(WHITEOUT_PREFIX.length) : `${parent}/${base.slice(WHITEOUT_PREFIX.length)}`;
      safeRelative(target);
      if (base.slice(WHITEOUT_PREFIX.length) === '' || base.slice(WHITEOUT_PREFIX.length).includes('/')) throw new UnsafeLayerError(`malformed whiteout ${JSON.stringify(h.path)}`);
      await parentsOf(target);
      await replace(target, false);
      await mknod(abs(target), 'c', 0, 0);
      lchownSync(abs(target), 0, 0);
      chmodSync(abs(target), 0); // as overlayfs creates whiteouts
      lutimesSync(abs(target), h.mtime, h.mtime);
      continue;
    }
    if (rel === '') {
      if (h.type !== 'dir') throw new UnsafeLayerError(`layer entry ${JSON.stringify(h.path)} would replace the layer root`);
      dirMeta.set('', h);
      continue;
    }
    await parentsOf(rel);
    const p = abs(rel);
    switch (h.type) {
      case 'dir': {
        // Made with its final mode when open permissions allow it (root writes into it either way);
        // a mode with special bits is set at the end, after the children, as before.
        // (Not a mode that would keep a process without root from writing the children.)
        const exact = exactMode(h.mode) && ownedAsCreated(h.uid, h.gid) && (self.uid === 0 || (h.mode & 0o300) === 0o300);
        const mode = exact ? h.mode : 0o700;
        let made = false;
        try {
          mkdirSync(p, { mode });
          made = true;
        } catch (e) {
          if (!isEexist(e)) throw e;
          await replace(rel, true);
          if (!existing(p)) { mkdirSync(p, { mode }); made = true; }
        }
        if (made && exact) createdExact.add(rel);
        else createdExact.delete(rel);
        knownDirs.add(rel);
        dirMeta.set(rel, h);
        break;
      }
      case 'file': {
        const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
        const exact = exactMode(h.mode);
        const owned = ownedAsCreated(h.uid, h.gid);
        let fd: number;
        try {
          fd = openSync(p, flags, exact ? h.mode : 0o600);
        } catch (e) {
          if (!isEexist(e)) throw e;
          await replace(rel, false);
          fd = openSync(p, flags, exact ? h.mode : 0o600);
        }
        try {
          // Batch writes (~1 MiB) to keep the syscall count low.
          let pending: Buffer[] = [];
          let pendingBytes = 0;
          for await (const chunk of entry.body) {
            pending.push(chunk);
            pendingBytes += chunk.length;
            if (pendingBytes >= 1 << 20) { writeAll(fd, pending); pending = []; pendingBytes = 0; }
          }
          if (pending.length) writeAll(fd, pending);
          // chown clears setuid and setgid, so the mode comes after it.
          if (!owned) fchownSync(fd, h.uid, h.gid);
          if (!exact || !owned) fchmodSync(fd, h.mode);
          futimesSync(fd, h.mtime, h.mtime); // (the xattrs written at the end leave mtime alone)
        } finally {
          closeSync(fd);
        }
        unpackedSize += h.size;
        break;
      }
      case 'symlink': {
        try {
          symlinkSync(h.linkname ?? '', p);
        } catch (e) {
          if (!isEexist(e)) throw e;
          await replace(rel, false);
          symlinkSync(h.linkname ?? '', p);
        }
        if (!ownedAsCreated(h.uid, h.gid)) lchownSync(p, h.uid, h.gid);
        break;
      }
      case 'hardlink': {
        const targetRel = safeRelative(h.linkname ?? '');
        if (targetRel === '') throw new UnsafeLayerError(`hardlink ${JSON.stringify(h.path)} points at the layer root`);
        await parentsOf(targetRel);
        const t = existing(abs(targetRel));
        if (!t) throw new UnsafeLayerError(`hardlink ${JSON.stringify(h.path)} points at ${JSON.stringify(h.linkname)}, which is not earlier in this layer`);
        if (t.isDirectory()) throw new UnsafeLayerError(`hardlink ${JSON.stringify(h.path)} points at a directory`);
        await replace(rel, false);
        linkSync(abs(targetRel), p);
        continue; // a hardlink shares its target's metadata
      }
      case 'chardev': case 'blockdev': case 'fifo': {
        if (h.type !== 'fifo' && devices === 'reject') throw new UnsafeLayerError(`layer contains device node ${JSON.stringify(h.path)} (${h.devmajor}:${h.devminor})`);
        if (h.type !== 'fifo' && devices === 'skip') continue;
        await replace(rel, false);
        await mknod(p, h.type === 'fifo' ? 'p' : h.type === 'chardev' ? 'c' : 'b', h.devmajor ?? 0, h.devminor ?? 0);
        lchownSync(p, h.uid, h.gid);
        chmodSync(p, h.mode);
        break;
      }
    }
    if (h.xattrs) {
      const x = Object.fromEntries(Object.entries(h.xattrs).filter(([k]) => allowedXattr(k)));
      if (Object.keys(x).length) xattrs.push({ path: p, xattrs: x });
    }
    if (h.type !== 'dir' && h.type !== 'file') lutimesSync(p, h.mtime, h.mtime);
  }

  } catch (e) {
    tarBytes.destroy();
    stream.destroy();
    throw e;
  }

  for (const d of opaque) {
    const st = existing(abs(d));
    if (st?.isDirectory()) xattrs.push({ path: abs(d), xattrs: { 'trusted.overlay.opaque': Buffer.from('y') } });
  }
  // xattrs after chown (chown clears security.capability); they do not touch mtime.
  await writeXattrs(xattrs);
  // Directories last, deepest first: creating children changed their mtimes.
  const dirs = [...dirMeta.keys()].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
  for (const d of dirs) {
    const h = dirMeta.get(d)!;
    if (!createdExact.has(d)) {
      chownSync(abs(d), h.uid, h.gid);
      chmodSync(abs(d), h.mode);
    }
    utimesSync(abs(d), h.mtime, h.mtime);
  }
  // drain anything after the end-of-archive marker so the digest covers the whole blob
  for (let r = await it.next(); !r.done; r = await it.next()) { /* discard */ }
  const { digest, size } = hash.result();
  if (opts.expectedDiffId && opts.expectedDiffId !== digest) {
    throw new UnsafeLayerError(`layer content has diffId ${digest}, expected ${opts.expectedDiffId} (corrupt or wrong layer)`);
  }
  return { diffId: digest, tarSize: size, unpackedSize, compression, entries };
}

/** Convenience: extract from a Buffer or Readable. */
export function extractLayerFrom(src: Uint8Array | Readable, dest: string, opts?: ExtractOptions): Promise<ExtractResult> {
  return extractLayer(src instanceof Uint8Array ? Readable.from([Buffer.from(src)]) : src, dest, opts);
}
