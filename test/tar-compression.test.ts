import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { HashingStream, sha256 } from '../src/oci/digest.js';
import { compressor, decompressor, findExecutable, pureZstdDecompressor, uncompressed } from '../src/tar/compression.js';

/** ~N MiB of tar-like data: text, zeros and incompressible noise, as layers have. */
function sample(mib: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < mib * 4; i++) {
    const chunk = Buffer.alloc(256 * 1024);
    if (i % 4 === 0) randomFillSync(chunk);
    else if (i % 4 === 1) chunk.write('export function hello(world) { return world.map((x) => x * 2); }\n'.repeat(4000).slice(0, chunk.length));
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

async function through(data: Buffer, ...stages: NodeJS.ReadWriteStream[]): Promise<{ digest: string; size: number; ms: number }> {
  const t = performance.now();
  const h = new HashingStream();
  await pipeline([Readable.from([data]), ...stages, h, new Writable({ write(_c, _e, cb) { cb(); } })] as NodeJS.ReadWriteStream[]);
  return { ...h.result(), ms: Math.round(performance.now() - t) };
}

async function collect(data: Buffer, stage: NodeJS.ReadWriteStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from([data]), stage, new Writable({ write(c, _e, cb) { parts.push(c); cb(); } }));
  return Buffer.concat(parts);
}

describe('layer compression', () => {
  const data = sample(16);
  const want = sha256(data);

  it('gzip via pigz and via zlib both round-trip; timings are printed', async () => {
    const results: string[] = [];
    for (const pigz of [true, false]) {
      if (pigz && !findExecutable('pigz')) { results.push('pigz: not installed'); continue; }
      process.env.STAGECRAFT_NO_PIGZ = pigz ? '0' : '1';
      const t = performance.now();
      const gz = await collect(data, compressor('gzip'));
      const ms = Math.round(performance.now() - t);
      const back = await through(gz, decompressor('gzip'));
      assert.equal(back.digest, want);
      results.push(`${pigz ? 'pigz' : 'zlib'} gzip 16MiB: ${ms} ms -> ${gz.length} bytes`);
    }
    delete process.env.STAGECRAFT_NO_PIGZ;
    console.log(`compression timings: ${results.join('; ')}`);
  });

  it('zstd via the CLI round-trips, and the pure-JS decompressor reads the same stream', { skip: findExecutable('zstd') ? false : 'zstd command not installed' }, async () => {
    const zst = await collect(data, compressor('zstd'));
    const cli = await through(zst, decompressor('zstd'));
    const pure = await through(zst, pureZstdDecompressor());
    assert.equal(cli.digest, want);
    assert.equal(pure.digest, want);
    console.log(`zstd decompress 16MiB: cli ${cli.ms} ms, fzstd ${pure.ms} ms`);
  });

  it('sniffing finds the compression whatever the chunking, and passes plain tar through', async () => {
    const gz = execFileSync('gzip', ['-c'], { input: data.subarray(0, 100000) });
    for (const [bytes, kind] of [[gz, 'gzip'], [data.subarray(0, 100000), 'none']] as const) {
      const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)];
      const { compression, stream } = await uncompressed(Readable.from(chunks));
      assert.equal(compression, kind);
      const parts: Buffer[] = [];
      for await (const c of stream) parts.push(c);
      assert.equal(sha256(Buffer.concat(parts)), sha256(data.subarray(0, 100000)));
    }
  });

  it('a corrupt zstd stream never yields the original content (the CLI errors; fzstd output then fails the diffId check)', async () => {
    const zst = await collect(data.subarray(0, 1 << 20), compressor('zstd'));
    const bad = Buffer.from(zst);
    bad.fill(0x55, 1000, 1400);
    await assert.rejects(through(bad, decompressor('zstd')), /zstd exited/);
    const pure = await through(bad, pureZstdDecompressor()).catch((e: Error) => e);
    assert.ok(pure instanceof Error || pure.digest !== sha256(data.subarray(0, 1 << 20)));
  });
});
