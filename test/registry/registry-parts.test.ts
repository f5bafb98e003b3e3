/**
 * The pure and in-process parts of the registry client: auth challenge
 * parsing, loopback detection, the verifying stream, the concurrency limiter.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { StagecraftError } from '../../src/errors.js';
import { parseAuthChallenges, pullScope, VerifyingStream, verifyBytes, isLoopbackHost } from '../../src/registry/index.js';
import { Limiter } from '../../src/registry/limiter.js';
import { Transport, hostname } from '../../src/registry/transport.js';

let passed = 0;
after(() => console.log(`registry parts: ${passed} cases passed`));

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('parseAuthChallenges', () => {
  const rows: [string, ReturnType<typeof parseAuthChallenges>][] = [
    ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }]],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    ['bearer realm=https://r.example/token, service=reg', [{ scheme: 'bearer', params: { realm: 'https://r.example/token', service: 'reg' } }]],
    ['Bearer realm="a\\"b",scope="repository:x:pull,push"', [{ scheme: 'bearer', params: { realm: 'a"b', scope: 'repository:x:pull,push' } }]],
    ['Basic realm="a", Bearer realm="https://t/token",service="s"',
      [{ scheme: 'basic', params: { realm: 'a' } }, { scheme: 'bearer', params: { realm: 'https://t/token', service: 's' } }]],
    ['', []],
  ];
  for (const [header, want] of rows) {
    it(JSON.stringify(header), () => {
      assert.deepEqual(parseAuthChallenges(header), want);
      passed++;
    });
  }
  it('never throws on arbitrary headers', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      const out = parseAuthChallenges(s);
      assert.ok(Array.isArray(out));
    }), { numRuns: 2000 });
    passed++;
  });
  it('pullScope', () => {
    assert.equal(pullScope('library/busybox'), 'repository:library/busybox:pull');
    passed++;
  });
});

describe('isLoopbackHost', () => {
  const rows: [string, boolean][] = [
    ['127.0.0.1:5000', true], ['127.1.2.3', true], ['localhost', true], ['localhost:5000', true],
    ['[::1]:5000', true], ['[::1]', true], ['registry-1.docker.io', false], ['10.0.0.1:5000', false],
    ['128.0.0.1', false], ['localhost.example.com', false], ['[fe80::1]:5000', false],
  ];
  for (const [host, want] of rows) {
    it(`${host} → ${want}`, () => {
      assert.equal(isLoopbackHost(host), want);
      passed++;
    });
  }
});

describe('Transport.scheme', () => {
  it('uses plain HTTP first only for loopback; insecure registries start with unverified HTTPS', () => {
    const t = new Transport({ insecureRegistries: ['Registry.Internal:5000'], userAgent: 'test', retries: 0, retryBaseMs: 1, timeoutMs: 1000 });
    try {
      assert.equal(t.scheme('127.0.0.1:5000'), 'http');
      assert.equal(t.scheme('localhost'), 'http');
      assert.equal(t.scheme('[::1]:5000'), 'http');
      assert.equal(t.scheme('registry.internal:5000'), 'https', 'insecure: HTTPS without verification, then HTTP');
      assert.equal(t.scheme('registry.internal'), 'https', 'insecure is per host:port');
      assert.equal(t.scheme('registry-1.docker.io'), 'https');
      assert.equal(t.scheme('10.0.0.5:5000'), 'https');
      assert.equal(hostname('[::1]:5000'), '::1');
      assert.equal(hostname('host:1'), 'host');
    } finally {
      t.close();
    }
    passed++;
  });
});

describe('VerifyingStream', () => {
  const data = Buffer.from('hello, layer\n'.repeat(1000));
  const chunks = (b: Buffer, n: number): Buffer[] => Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));
  const collect = async (src: Buffer[], digest: string, size: number | undefined): Promise<Buffer> => {
    const out: Buffer[] = [];
    const v = new VerifyingStream(digest, size, 'blob under test');
    await pipeline(Readable.from(src), v, async (s: AsyncIterable<Buffer>) => { for await (const c of s) out.push(c); });
    return Buffer.concat(out);
  };

  it('passes matching content through unchanged', async () => {
    assert.deepEqual(await collect(chunks(data, 777), sha(data), data.length), data);
    passed++;
  });
  it('errors on a digest mismatch instead of ending', async () => {
    const bad = Buffer.from(data);
    bad[5] = 0;
    await assert.rejects(collect(chunks(bad, 100), sha(data), data.length), (e: unknown) => {
      assert.ok(e instanceof StagecraftError && e.code === 'DIGEST');
      assert.equal(e.message, `blob under test: content has digest ${sha(bad)}, expected ${sha(data)}`);
      return true;
    });
    passed++;
  });
  it('errors on short content and as soon as content runs long', async () => {
    await assert.rejects(collect([data.subarray(0, 10)], sha(data), data.length), /received 10 bytes, its descriptor declares 13000/);
    await assert.rejects(collect(chunks(data, 1000), sha(data), 5000), /received more than the 5000 bytes/);
    passed++;
  });
  it('verifyBytes checks buffers and sha512 digests', () => {
    const d512 = `sha512:${createHash('sha512').update(data).digest('hex')}`;
    verifyBytes(data, d512, data.length, 'x');
    verifyBytes(data, sha(data), undefined, 'x');
    assert.throws(() => verifyBytes(data, sha(Buffer.from('other')), undefined, 'x'), /content has digest/);
    assert.throws(() => verifyBytes(data, `md5:${'0'.repeat(32)}`, undefined, 'x'), /unsupported digest algorithm/);
    passed++;
  });
  it('property: any chunking of the right bytes verifies; any single flipped byte does not', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uint8Array({ minLength: 1, maxLength: 4096 }), fc.integer({ min: 1, max: 512 }), fc.nat(),
      async (bytes, chunk, flipAt) => {
        const b = Buffer.from(bytes);
        assert.deepEqual(await collect(chunks(b, chunk), sha(b), b.length), b);
        const bad = Buffer.from(b);
        bad[flipAt % bad.length]! ^= 0x01;
        await assert.rejects(collect(chunks(bad, chunk), sha(b), b.length), /content has digest/);
      }), { numRuns: 200 });
    passed++;
  });
});

describe('Limiter', () => {
  it('never runs more than the limit, even with callers arriving as tasks finish', async () => {
    for (const limit of [1, 2, 3]) {
      const l = new Limiter(limit);
      let active = 0;
      let max = 0;
      const task = async (ms: number): Promise<number> => {
        active++;
        max = Math.max(max, active);
        await new Promise((r) => setTimeout(r, ms));
        active--;
        return ms;
      };
      const first = Array.from({ length: 8 }, (_, i) => l.run(() => task(i % 3)));
      // Callers that arrive while slots are being handed over.
      const late = first.map((p) => p.then(() => l.run(() => task(1))));
      const results = await Promise.all([...first, ...late]);
      assert.equal(results.length, 16);
      assert.equal(max, limit);
      assert.equal(active, 0);
    }
    assert.throws(() => new Limiter(0), RangeError);
    passed++;
  });
  it('releases the slot when a task throws', async () => {
    const l = new Limiter(1);
    await assert.rejects(l.run(async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await l.run(async () => 42), 42);
    passed++;
  });
});
