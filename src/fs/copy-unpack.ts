/**
 * ADD of a local tar archive: detect it by content (never by name), then
 * extract it into the destination directory like `tar -x` over what is
 * already there (containerd's rules: an entry replaces whatever is at its
 * path unless both are directories). Everything is scoped to destRoot:
 * parent paths resolve through the image's symlinks inside the root, the
 * last component is never followed, `..` escapes and hardlinks to outside
 * the archive are refused.
 *
 * Owners come from the archive (as BuildKit's unpack keeps them) unless
 * --chown is given; modes, mtimes, xattrs, links and device nodes are kept.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, link, lutimes, mkdir, open, rm, symlink } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StagecraftError } from '../errors.js';
import { decompressor, findExecutable, processStream } from '../tar/compression.js';
import type { TarHeader } from '../tar/header.js';
import { readTar } from '../tar/reader.js';
import { writeXattrs } from '../tar/xattrs.js';
import { lstatMaybe, setOwner } from './copy-tree.js';
import { cleanPath, resolveInRoot } from './scoped-path.js';
import type { Owner } from './users.js';
import { builtin } from '../util/builtin.js';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** Does this 512-byte block look like a tar header (its checksum adds up)? */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const field = Buffer.from(block.subarray(148, 156)).toString('latin1').replace(/[\0 ]+$/g, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === Number.parseInt(field, 8);
}

function kindOf(head: Uint8Array): ArchiveKind | 'none' {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

function decompress(kind: ArchiveKind): NodeJS.ReadWriteStream | undefined {
  switch (kind) {
    case 'tar':
      return undefined;
    case 'gzip':
      return builtin('node:zlib').createGunzip();
    case 'zstd':
      return decompressor('zstd');
    case 'bzip2':
    case 'xz': {
      const tool = findExecutable(kind);
      if (!tool) throw new StagecraftError('UNSUPPORTED', `ADD of a ${kind} archive needs the ${kind} command`, { hint: `apt-get install ${kind === 'xz' ? 'xz-utils' : 'bzip2'}` });
      return processStream(tool, ['-d', '-c']);
    }
  }
}

/** A read stream that refuses to follow a symlink at `host`. */
async function readNoFollow(host: string): Promise<Readable> {
  const fh = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW);
  return fh.createReadStream();
}

/** The uncompressed bytes of an archive file (streamed). */
async function archiveStream(host: string, kind: ArchiveKind): Promise<Readable> {
  const raw = await readNoFollow(host);
  const d = decompress(kind);
  if (!d) return raw;
  raw.on('error', (e) => (d as unknown as Readable).destroy(e));
  const out = raw.pipe(d) as unknown as Readable;
  // A caller that stops early (firstBytes: is it an archive?) destroys `out`; the file's stream,
  // paused behind it, would otherwise keep its handle open until garbage collection.
  out.on('close', () => raw.destroy());
  return out;
}

async function firstBytes(stream: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of stream) {
      parts.push(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got >= n) break;
    }
  } catch {
    // A corrupt stream is "not an archive", as Docker treats it.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}

/**
 * The archive kind of a regular file, or undefined when it is not a
 * (compressed) tar. An empty file named x.tar.gz is just a file.
 */
export async function detectArchive(host: string): Promise<ArchiveKind | undefined> {
  const head = await firstBytes(await readNoFollow(host), 6);
  if (head.length === 0) return undefined;
  const k = kindOf(head);
  const kind: ArchiveKind = k === 'none' ? 'tar' : k;
  let block: Buffer;
  try {
    block = await firstBytes(await archiveStream(host, kind), 512);
  } catch {
    return undefined;
  }
  return isTarHeader(block) ? kind : undefined;
}

export interface UnpackOptions {
  /** Host path of the archive (a regular file). */
  archive: string;
  kind: ArchiveKind;
  destRoot: string;
  /** In-image directory to extract into (created if missing). */
  dest: string;
  chown?: Owner | undefined;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((res, rej) => execFile(cmd, args, (err, _o, stderr) => (err ? rej(new Error(String(stderr).trim() || err.message)) : res())));
}

/** Extract an archive into `dest` inside `destRoot`. */
export async function unpackArchive(opts: UnpackOptions): Promise<{ files: number; bytes: number }> {
  const describe = (host: string): string => '/' + relative(opts.destRoot, host);
  const destDir = cleanPath(opts.dest);
  const ensureDir = async (inImage: string): Promise<string> => {
    const host = await resolveInRoot(opts.destRoot, inImage);
    const st = await lstatMaybe(host);
    if (st?.isDirectory()) return host;
    if (st) throw new StagecraftError('COPY', `cannot extract into ${inImage}: ${describe(host)} is not a directory`);
    await ensureDir(describe(join(host, '..')));
    await mkdir(host, { mode: 0o755 });
    await setOwner(host, opts.chown ?? { uid: 0, gid: 0 });
    await chmod(host, 0o755);
    return host;
  };
  await ensureDir(destDir);

  const dirTimes: Array<{ host: string; mtime: number }> = [];
  const xattrs: Array<{ path: string; xattrs: Record<string, Uint8Array> }> = [];
  let files = 0;
  let bytes = 0;
  for await (const entry of readTar(await archiveStream(opts.archive, opts.kind))) {
    const h = entry.header;
    const inImage = cleanPath(`${destDir}/${h.path}`);
    if (h.path.split('/').includes('..') || !(inImage === destDir || inImage.startsWith(destDir === '/' ? '/' : `${destDir}/`))) {
      throw new StagecraftError('COPY', `archive entry ${JSON.stringify(h.path)} escapes the destination (path traversal)`, { hint: 'the archive is unsafe; rebuild it with relative paths' });
    }
    if (inImage === destDir && h.type !== 'dir') continue;
    const parent = inImage === destDir ? undefined : await ensureDir(cleanPath(`${inImage}/..`));
    const target = parent === undefined ? await resolveInRoot(opts.destRoot, destDir) : join(parent, basename(inImage));
    const existing = await lstatMaybe(target);
    if (existing && !(existing.isDirectory() && h.type === 'dir')) await rm(target, { recursive: true, force: true });
    switch (h.type) {
      case 'dir':
        if (!existing?.isDirectory()) await mkdir(target, { mode: 0o700 });
        break;
      case 'file': {
        const wh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        let n = 0;
        const counted = Readable.from(
          (async function* () {
            for await (const piece of entry.body) {
              n += piece.length;
              yield piece;
            }
          })(),
        );
        await pipeline(counted, wh.createWriteStream());
        bytes += n;
        files++;
        break;
      }
      case 'symlink':
        await symlink(h.linkname ?? '', target);
        break;
      case 'hardlink': {
        const linkIn = cleanPath(`${destDir}/${h.linkname ?? ''}`);
        if ((h.linkname ?? '').split('/').includes('..') || !linkIn.startsWith(destDir === '/' ? '/' : `${destDir}/`)) {
          throw new StagecraftError('COPY', `archive hardlink ${JSON.stringify(h.path)} -> ${JSON.stringify(h.linkname)} points outside the archive`);
        }
        const from = await resolveInRoot(opts.destRoot, linkIn, { followFinal: false });
        const st = await lstatMaybe(from);
        if (!st || st.isDirectory()) throw new StagecraftError('COPY', `archive hardlink ${JSON.stringify(h.path)} -> ${JSON.stringify(h.linkname)}: target is missing`);
        await link(from, target);
        files++;
        break;
      }
      case 'fifo':
        await run('mknod', [target, 'p']);
        break;
      case 'chardev':
      case 'blockdev':
        await run('mknod', [target, h.type === 'chardev' ? 'c' : 'b', String(h.devmajor ?? 0), String(h.devminor ?? 0)]);
        break;
    }
    await applyHeader(target, h, opts.chown);
    if (h.type === 'dir') dirTimes.push({ host: target, mtime: h.mtime });
    else if (h.type !== 'hardlink') await lutimes(target, h.mtime, h.mtime);
    if (h.xattrs && Object.keys(h.xattrs).length > 0) {
      const keep = Object.fromEntries(Object.entries(h.xattrs).filter(([k]) => !k.startsWith('trusted.') && k !== 'security.selinux'));
      if (Object.keys(keep).length > 0) xattrs.push({ path: target, xattrs: keep });
    }
  }
  try {
    await writeXattrs(xattrs);
  } catch {
    // Best effort, as for COPY.
  }
  // Directory times last (children changed them), deepest first.
  for (const d of dirTimes.reverse()) await lutimes(d.host, d.mtime, d.mtime);
  return { files, bytes };
}

async function applyHeader(target: string, h: TarHeader, chown: Owner | undefined): Promise<void> {
  if (h.type === 'hardlink') return;
  await setOwner(target, chown ?? { uid: h.uid, gid: h.gid });
  if (h.type !== 'symlink') await chmod(target, h.mode & 0o7777);
}
