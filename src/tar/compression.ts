import { spawn } from 'node:child_process';
import { Duplex, PassThrough, Readable, Transform } from 'node:stream';
import { Decompress } from 'fzstd';
import type { ZlibOptions } from 'node:zlib';
import { sniffCompression, type Compression } from '../oci/media-types.js';
import { findExecutable } from '../util/find-executable.js';
import { builtin } from '../util/builtin.js';

export { findExecutable };

/** A child process as a duplex stream: stdin in, stdout out; a non-zero exit becomes a stream error. */
export function processStream(cmd: string, args: string[]): Duplex {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString(); });
  child.stdout.pipe(out, { end: false });
  let stdoutEnded = false;
  let exit: number | null | undefined;
  const finish = (): void => {
    if (!stdoutEnded || exit === undefined) return;
    if (exit === 0) out.end();
    else out.destroy(new Error(`${cmd} exited with ${exit}: ${stderr.trim().split('\n')[0] ?? ''}`));
  };
  child.stdout.on('end', () => { stdoutEnded = true; finish(); });
  child.on('close', (code) => { exit = code; finish(); });
  child.on('error', (e) => out.destroy(e));
  child.stdin.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') out.destroy(e); });
  const d = Duplex.from({ writable: child.stdin, readable: out });
  d.on('close', () => { if (exit === undefined) child.kill('SIGKILL'); });
  return d;
}

/** A decompressor for a compression kind (zstd needs the `zstd` CLI). */
export function decompressor(c: Compression): Duplex {
  switch (c) {
    case 'none': return new PassThrough();
    // Large chunks and a deep output buffer: zlib works on the thread pool, and each chunk it
    // returns waits for a turn of the event loop, which a reader creating files holds up. With
    // 1 MiB chunks it gets 16 times as far per turn as with 64 KiB (a cold pull of two images,
    // five interleaved runs: 6.88 -> 6.28 s; docs/performance.md, eighth pass).
    case 'gzip': return builtin('node:zlib').createGunzip({ chunkSize: 1 << 20, readableHighWaterMark: 4 << 20 } as ZlibOptions);
    case 'zstd': {
      const zstd = process.env.STAGECRAFT_NO_ZSTD_CLI === '1' ? undefined : findExecutable('zstd');
      return zstd ? processStream(zstd, ['-d', '-c', '-q']) : pureZstdDecompressor();
    }
  }
}

/** zstd decompression in JavaScript (fzstd), for machines without the zstd command. */
export function pureZstdDecompressor(): Duplex {
  let dec: Decompress;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try { dec.push(chunk); cb(); } catch (e) { cb(e as Error); }
    },
    flush(cb) {
      try { dec.push(new Uint8Array(0), true); cb(); } catch (e) { cb(e as Error); }
    },
  });
  dec = new Decompress((data) => { t.push(Buffer.from(data)); });
  return t;
}

/** A compressor; gzip uses pigz when installed (parallel), else zlib. */
export function compressor(c: Exclude<Compression, 'none'>, opts: { level?: number } = {}): Duplex {
  if (c === 'gzip') {
    const pigz = findExecutable('pigz');
    const level = opts.level ?? 6;
    if (pigz && process.env.STAGECRAFT_NO_PIGZ !== '1') return processStream(pigz, ['-c', '-n', `-${level}`]);
    return builtin('node:zlib').createGzip({ level });
  }
  const zstd = findExecutable('zstd');
  if (!zstd) throw new Error('zstd compression needs the zstd command (apt-get install zstd)');
  return processStream(zstd, ['-c', '-q', `-${opts.level ?? 3}`, '-T0']);
}

/**
 * Looks at the first bytes of a stream to tell its compression, and returns
 * a stream of the same bytes (nothing is lost).
 */
export async function sniffStream(src: AsyncIterable<Uint8Array>): Promise<{ compression: Compression; stream: Readable }> {
  const it = src[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 4) {
    const r = await it.next();
    if (r.done) { ended = true; break; }
    head = Buffer.concat([head, Buffer.from(r.value)]);
  }
  const compression = sniffCompression(head);
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.from(r.value);
    }
  }
  return { compression, stream: Readable.from(rest(), { objectMode: false }) };
}

/** The uncompressed bytes of a layer blob, whatever its compression. */
export async function uncompressed(src: AsyncIterable<Uint8Array>): Promise<{ compression: Compression; stream: Readable }> {
  const { compression, stream } = await sniffStream(src);
  if (compression === 'none') return { compression, stream };
  const d = decompressor(compression);
  stream.on('error', (e) => d.destroy(e));
  return { compression, stream: stream.pipe(d) as unknown as Readable };
}
