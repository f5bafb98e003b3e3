import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import { uncompressed } from '../tar/compression.js';
import { readTar } from '../tar/reader.js';
import type { TarHeader } from '../tar/header.js';
import { safeRelative } from '../tar/extract.js';

/** Read access to the files of an archive: a tar file (random access by offset) or a directory. */
export interface ArchiveSource {
  readonly description: string;
  has(path: string): boolean;
  paths(): string[];
  open(path: string): Readable;
  readBytes(path: string, limit?: number): Promise<Buffer>;
}

function archiveError(message: string, cause?: unknown): StagecraftError {
  return new StagecraftError('ARCHIVE', message, { cause });
}

interface Located { header: TarHeader; dataOffset: number }

/** A tar archive on disk, indexed once; entries are then read by byte range. Links inside the archive are followed. */
export class TarFileSource implements ArchiveSource {
  readonly description: string;
  readonly #file: string;
  readonly #entries: Map<string, Located>;

  private constructor(file: string, entries: Map<string, Located>) {
    this.#file = file;
    this.description = file;
    this.#entries = entries;
  }

  /** Indexes an uncompressed tar file. */
  static async open(file: string): Promise<TarFileSource> {
    const head = Buffer.alloc(4);
    const fh = await open(file, 'r');
    try { await fh.read(head, 0, 4, 0); } finally { await fh.close(); }
    if ((head[0] === 0x1f && head[1] === 0x8b) || head.readUInt32LE(0) === 0xfd2fb528) {
      throw archiveError(`${file} is compressed; decompress it first (gunzip / zstd -d)`);
    }
    const entries = new Map<string, Located>();
    try {
      for await (const e of readTar(createReadStream(file))) {
        entries.set(safeRelative(e.header.path), { header: e.header, dataOffset: e.dataOffset });
      }
    } catch (e) {
      throw archiveError(`${file} is not a readable tar archive: ${(e as Error).message}`, e);
    }
    return new TarFileSource(file, entries);
  }

  #resolve(path: string, depth = 0): Located {
    const key = safeRelative(path);
    const e = this.#entries.get(key);
    if (!e) throw archiveError(`${this.#file} has no entry ${JSON.stringify(path)}`);
    if (depth > 16) throw archiveError(`${this.#file}: too many links resolving ${path}`);
    if (e.header.type === 'symlink') {
      const target = posix.join(posix.dirname(key), e.header.linkname ?? '');
      return this.#resolve(safeRelative(target), depth + 1);
    }
    if (e.header.type === 'hardlink') return this.#resolve(e.header.linkname ?? '', depth + 1);
    if (e.header.type !== 'file') throw archiveError(`${this.#file}: ${path} is not a file`);
    return e;
  }

  has(path: string): boolean {
    try { this.#resolve(path); return true; } catch { return false; }
  }

  paths(): string[] {
    return [...this.#entries.keys()];
  }

  open(path: string): Readable {
    const e = this.#resolve(path);
    if (e.header.size === 0) return Readable.from([]);
    return createReadStream(this.#file, { start: e.dataOffset, end: e.dataOffset + e.header.size - 1 });
  }

  async readBytes(path: string, limit = 64 << 20): Promise<Buffer> {
    const e = this.#resolve(path);
    if (e.header.size > limit) throw archiveError(`${this.#file}: ${path} is larger than ${limit} bytes`);
    const parts: Buffer[] = [];
    for await (const c of this.open(path)) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }
}

/** An unpacked archive / OCI layout directory. */
export class DirSource implements ArchiveSource {
  readonly description: string;
  readonly #dir: string;
  readonly #present = new Set<string>();

  private constructor(dir: string) {
    this.#dir = dir;
    this.description = dir;
  }

  static async open(dir: string): Promise<DirSource> {
    const s = new DirSource(dir);
    const { readdir } = await import('node:fs/promises');
    for (const p of await readdir(dir, { recursive: true })) s.#present.add(safeRelative(String(p)));
    return s;
  }

  #abs(path: string): string {
    return posix.join(this.#dir, safeRelative(path));
  }

  has(path: string): boolean {
    return this.#present.has(safeRelative(path));
  }

  paths(): string[] {
    return [...this.#present];
  }

  open(path: string): Readable {
    if (!this.has(path)) throw archiveError(`${this.#dir} has no file ${JSON.stringify(path)}`);
    return createReadStream(this.#abs(path));
  }

  async readBytes(path: string, limit = 64 << 20): Promise<Buffer> {
    if (!this.has(path)) throw archiveError(`${this.#dir} has no file ${JSON.stringify(path)}`);
    if ((await stat(this.#abs(path))).size > limit) throw archiveError(`${path} is larger than ${limit} bytes`);
    return readFile(this.#abs(path));
  }
}

export async function openArchive(path: string): Promise<ArchiveSource> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new StagecraftError('NOT_FOUND', `archive ${path} does not exist`, { cause: e });
  }
  return st.isDirectory() ? DirSource.open(path) : TarFileSource.open(path);
}

export { uncompressed };
