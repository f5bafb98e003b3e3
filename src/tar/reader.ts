import { BLOCK, decodeBlock, decodePax, finishHeader, isZeroBlock, padding, TarFormatError, type TarHeader } from './header.js';

/** One entry of a tar stream. Drain `body` before asking for the next entry, or it is skipped. */
export interface TarEntry {
  header: TarHeader;
  /** Byte offset of the entry's content in the (uncompressed) tar stream. */
  dataOffset: number;
  body: AsyncIterable<Buffer>;
}

/** Pulls exact byte counts out of an async iterable of chunks. */
class ChunkReader {
  #it: AsyncIterator<Uint8Array>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;
  offset = 0;

  constructor(src: AsyncIterable<Uint8Array>) {
    this.#it = src[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done) { this.#done = true; return false; }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    return true;
  }

  /** Exactly n bytes, or null at a clean end of input; throws on a short read. */
  async read(n: number): Promise<Buffer | null> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return null;
        throw new TarFormatError(`unexpected end of tar stream at byte ${this.offset + this.#buf.length}`);
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.offset += n;
    return out;
  }

  /** Yields the next n bytes in pieces as they arrive. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0 && !(await this.#fill())) throw new TarFormatError(`unexpected end of tar stream at byte ${this.offset}`);
      const piece = this.#buf.subarray(0, Math.min(left, this.#buf.length));
      this.#buf = this.#buf.subarray(piece.length);
      this.offset += piece.length;
      left -= piece.length;
      yield piece;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) { /* discard */ }
  }

  async return(): Promise<void> {
    await this.#it.return?.();
  }
}

const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);
const MAX_META = 1 << 20; // PAX / GNU long-name records larger than 1 MiB are refused

/**
 * Reads a tar stream entry by entry (ustar, PAX, GNU long names).
 * Memory stays flat: content is streamed through each entry's `body`.
 */
export async function* readTar(src: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const r = new ChunkReader(src);
  let globalPax = new Map<string, Buffer>();
  let pax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      const block = await r.read(BLOCK);
      if (block === null) return; // tolerate a missing end-of-archive marker
      if (isZeroBlock(block)) return;
      const raw = decodeBlock(block);
      const dataSize = HEADER_ONLY.has(raw.typeflag) ? 0 : raw.size;
      if (raw.typeflag === 'x' || raw.typeflag === 'g' || raw.typeflag === 'L' || raw.typeflag === 'K') {
        if (raw.size > MAX_META) throw new TarFormatError(`tar metadata record of ${raw.size} bytes is too large`);
        const data = (await r.read(raw.size)) ?? Buffer.alloc(0);
        await r.skip(padding(raw.size));
        if (raw.typeflag === 'x') for (const [k, v] of decodePax(data)) pax.set(k, v);
        else if (raw.typeflag === 'g') globalPax = new Map([...globalPax, ...decodePax(data)]);
        else {
          const s = data.toString('utf8').replace(/\0+$/, '');
          if (raw.typeflag === 'L') longName = s; else longLink = s;
        }
        continue;
      }
      const header = finishHeader(raw, new Map([...globalPax, ...pax]), longName, longLink);
      pax = new Map();
      longName = undefined;
      longLink = undefined;
      const size = header.type === 'file' ? header.size : dataSize;
      const dataOffset = r.offset;
      let consumed = 0;
      const body = header.type === 'file' ? (async function* () {
        for await (const piece of r.take(size)) { consumed += piece.length; yield piece; }
      })() : (async function* () { /* no content */ })();
      yield { header, dataOffset, body };
      await r.skip(size - consumed);
      await r.skip(padding(size));
    }
  } finally {
    await r.return();
  }
}

/** Collects a body into one Buffer (for small entries such as JSON files). */
export async function readAll(body: AsyncIterable<Buffer>, limit = 64 << 20): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const p of body) {
    n += p.length;
    if (n > limit) throw new TarFormatError(`entry larger than ${limit} bytes`);
    parts.push(p);
  }
  return Buffer.concat(parts);
}
