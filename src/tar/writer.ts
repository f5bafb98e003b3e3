import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream, type Digest } from '../oci/digest.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from './header.js';

export type TarBody = Uint8Array | AsyncIterable<Uint8Array> | (() => Readable | AsyncIterable<Uint8Array>);

export interface TarWriteEntry {
  header: TarHeader;
  /** Content of a regular file; exactly header.size bytes. */
  body?: TarBody;
}

export class TarWriteError extends Error {
  override name = 'TarWriteError';
}

/**
 * Produces tar bytes for the entries in the order given, ending with the
 * two-block end marker (no padding to a record size, like Go's archive/tar).
 * The output depends only on the entries, so it is deterministic.
 */
export async function* tarChunks(entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    yield encodeHeader(e.header);
    if (e.header.type !== 'file') continue;
    let n = 0;
    const src = e.body === undefined ? [] : typeof e.body === 'function' ? e.body() : e.body instanceof Uint8Array ? [e.body] : e.body;
    for await (const chunk of src as AsyncIterable<Uint8Array>) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      n += buf.length;
      if (n > e.header.size) throw new TarWriteError(`${e.header.path} grew while being archived (header says ${e.header.size} bytes)`);
      yield buf;
    }
    if (n !== e.header.size) throw new TarWriteError(`${e.header.path} changed while being archived (${n} bytes read, header says ${e.header.size})`);
    const pad = padding(n);
    if (pad) yield Buffer.alloc(pad);
  }
  yield END_OF_ARCHIVE;
}

/** Writes a layer tar to `out` and returns its diffId (sha256 of the uncompressed stream) and size. */
export async function writeLayer(entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>, out: Writable): Promise<{ diffId: Digest; size: number }> {
  const hash = new HashingStream();
  await pipeline(Readable.from(tarChunks(entries), { objectMode: false }), hash, out);
  const { digest, size } = hash.result();
  return { diffId: digest, size };
}
