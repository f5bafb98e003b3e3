/**
 * Simple retries: a loopback front that injects faults (503, 429, a
 * connection cut mid-blob, a persistent 500) before passing requests on to
 * the real registry.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import type { Descriptor, Digest } from '../../src/oci/index.js';
import { RegistryClient, RegistryError, type BlobSink } from '../../src/registry/index.js';
import { hostPlatform, pushBaseImages } from '../support/base-images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

const platform = hostPlatform();

class CountingSink implements BlobSink {
  failedPuts = 0;
  constructor(readonly dir: string) {}
  async has(digest: Digest): Promise<boolean> {
    return existsSync(join(this.dir, digest));
  }
  async put(desc: Descriptor, body: Readable): Promise<void> {
    const tmp = join(this.dir, `.tmp-${randomBytes(4).toString('hex')}`);
    try {
      await pipeline(body, createWriteStream(tmp));
      await rename(tmp, join(this.dir, desc.digest));
    } catch (e) {
      this.failedPuts++;
      await rm(tmp, { force: true });
      throw e;
    }
  }
}

type Fault = (req: IncomingMessage, res: ServerResponse, forward: (cut?: number) => void) => boolean;

/** Passes requests to `target` unless `fault` handles them; `forward(cut)` cuts the connection after `cut` body bytes. */
function faultyFront(target: RunningRegistry, fault: { current: Fault | undefined }, seen: string[]): Server {
  return createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const forward = (cut?: number): void => {
      const up = request(`${target.url}${req.url}`, { method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        if (cut === undefined) {
          r.pipe(res);
          return;
        }
        let sent = 0;
        r.on('data', (chunk: Buffer) => {
          const room = cut - sent;
          if (room <= 0) return;
          res.write(chunk.subarray(0, room));
          sent += Math.min(room, chunk.length);
          if (sent >= cut) {
            r.destroy();
            res.socket?.destroy();
          }
        });
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (fault.current?.(req, res, forward)) return;
    forward();
  });
}

describe('registry client retries', () => {
  let reg: RunningRegistry;
  let front: Server;
  let host = '';
  let work: string;
  const fault: { current: Fault | undefined } = { current: undefined };
  const seen: string[] = [];
  let passed = 0;
  const total = 5;

  before(async () => {
    reg = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'stagecraft-retry-'));
    await pushBaseImages(reg.host, ['busybox:latest']);
    front = faultyFront(reg, fault, seen);
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const a = front.address();
    host = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });

  after(async () => {
    front?.closeAllConnections();
    front?.close();
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
    console.log(`registry retries: ${passed}/${total} passed`);
  });

  const count = (pattern: RegExp): number => seen.filter((s) => pattern.test(s)).length;

  it('retries a manifest request through 503 and 429 (Retry-After) answers', async () => {
    let calls = 0;
    fault.current = (req, res) => {
      if (!/\/manifests\//.test(req.url ?? '')) return false;
      calls++;
      if (calls === 1) { res.writeHead(503).end(); return true; }
      if (calls === 2) { res.writeHead(429, { 'retry-after': '0' }).end(); return true; }
      return false;
    };
    const client = new RegistryClient({ retries: 3, retryBaseMs: 10 });
    try {
      const before = count(/manifests/);
      const image = await client.resolve(`${host}/busybox:latest`, platform);
      assert.equal(image.layers.length, 1);
      assert.equal(count(/manifests/) - before, 3);
    } finally {
      fault.current = undefined;
      client.close();
    }
    passed++;
  });

  it('gives up after the configured retries with the status and registry code', async () => {
    fault.current = (req, res) => {
      if (!/\/manifests\//.test(req.url ?? '')) return false;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNKNOWN","message":"storage backend unavailable"}]}');
      return true;
    };
    const client = new RegistryClient({ retries: 2, retryBaseMs: 5 });
    try {
      const before = count(/manifests/);
      await assert.rejects(client.resolve(`${host}/busybox:latest`, platform), (e: unknown) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.message, `registry ${host} answered HTTP 500 for image ${host}/busybox:latest (UNKNOWN): storage backend unavailable`);
        assert.equal(e.retryable, true);
        assert.equal(e.status, 500);
        return true;
      });
      assert.equal(count(/manifests/) - before, 3, 'one try and two retries');
    } finally {
      fault.current = undefined;
      client.close();
    }
    passed++;
  });

  it('resumes a layer with Range after the connection is cut mid-blob, storing it once', async () => {
    const client = new RegistryClient({ retries: 3, retryBaseMs: 10 });
    try {
      const image = await client.resolve(`${host}/busybox:latest`, platform);
      const layer = image.layers[0]!;
      let cuts = 0;
      const ranges: string[] = [];
      fault.current = (req, _res, forward) => {
        if (req.url?.endsWith(`/blobs/${layer.digest}`)) ranges.push(req.headers.range ?? 'none');
        if (!req.url?.endsWith(`/blobs/${layer.digest}`) || cuts > 0) return false;
        cuts++;
        forward(Math.floor(layer.size / 2));
        return true;
      };
      const sink = new CountingSink(await mkdtemp(join(work, 'sink-')));
      assert.equal(await client.fetchBlob(image.reference, layer, sink), 'fetched');
      assert.equal(cuts, 1);
      assert.equal(sink.failedPuts, 0, 'the resumed download reached the sink as one verified stream');
      // The proxy cut after half the body; what reached the client (and so the resume offset) may be a little less.
      assert.equal(ranges.length, 2);
      assert.equal(ranges[0], 'none');
      const from = Number(/^bytes=(\d+)-$/.exec(ranges[1]!)?.[1]);
      assert.ok(from > 0 && from <= Math.floor(layer.size / 2), `the second request asks for the rest only (from ${from})`);
      assert.deepEqual(await readdir(sink.dir), [layer.digest]);
      const stored = readFileSync(join(sink.dir, layer.digest));
      assert.equal(`sha256:${createHash('sha256').update(stored).digest('hex')}`, layer.digest);
    } finally {
      fault.current = undefined;
      client.close();
    }
    passed++;
  });

  it('reads a manifest and config again when their bodies are cut', async () => {
    const cut = { manifest: 0, blob: 0 };
    fault.current = (req, _res, forward) => {
      if (/\/manifests\//.test(req.url ?? '') && cut.manifest === 0) {
        cut.manifest++;
        forward(100);
        return true;
      }
      if (/\/blobs\//.test(req.url ?? '') && cut.blob === 0) {
        cut.blob++;
        forward(50);
        return true;
      }
      return false;
    };
    const client = new RegistryClient({ retries: 2, retryBaseMs: 10 });
    try {
      const image = await client.resolve(`${host}/busybox:latest`, platform);
      assert.deepEqual(cut, { manifest: 1, blob: 1 });
      assert.deepEqual(image.config.parsed.config?.Cmd, ['sh']);
    } finally {
      fault.current = undefined;
      client.close();
    }
    passed++;
  });

  it('does not retry a 404', async () => {
    const client = new RegistryClient({ retries: 3, retryBaseMs: 5 });
    try {
      const before = count(/nope/);
      await assert.rejects(client.resolve(`${host}/busybox:nope`, platform), /not found in registry/);
      assert.equal(count(/nope/) - before, 1);
    } finally {
      client.close();
    }
    passed++;
  });
});
