/**
 * `--registry-mirror` for docker.io, with Docker's `registry-mirrors`
 * semantics: mirrors are tried in order for docker.io pulls, and the origin
 * answers whatever they cannot. The "origin" is a loopback registry that
 * docker.io is mapped to with the client's test-only `endpointOverrides`;
 * fault proxies in front of both log who was asked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mirrorHost, pushImage, RegistryClient } from '../../src/registry/index.js';
import { Store } from '../../src/store/index.js';
import { hostPlatform, pushBaseImages } from '../support/base-images.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, storeTestImage, type RunningRegistry } from '../support/registry.js';

const platform = hostPlatform();

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof a === 'object' && a ? a.port : 1;
}

describe('registry mirrors', () => {
  let work: string;
  let origin: RunningRegistry;
  let mirror: RunningRegistry;
  let originProxy: FaultProxy;
  let mirrorProxy: FaultProxy;
  let passed = 0;
  const total = 6;

  const client = (mirrors: string[]): RegistryClient => new RegistryClient({
    registryMirrors: mirrors, endpointOverrides: { 'docker.io': originProxy.host }, retries: 0, retryBaseMs: 1,
  });
  const asked = (p: FaultProxy, from: number): string[] => p.log.slice(from).map((l) => `${l.method} ${l.url}`);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-mirrors-'));
    origin = await startRegistry();
    mirror = await startRegistry();
    await pushBaseImages(origin.host, ['busybox:latest', 'debian:bookworm-slim'], { namespace: 'library' });
    await pushBaseImages(mirror.host, ['busybox:latest'], { namespace: 'library' });
    originProxy = await startFaultProxy(origin);
    mirrorProxy = await startFaultProxy(mirror);
  });

  after(async () => {
    await originProxy?.stop();
    await mirrorProxy?.stop();
    await origin?.stop();
    await mirror?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    console.log(`registry mirrors: ${passed}/${total} passed`);
  });

  it('pulls docker.io images from the mirror when it has them; the origin is not asked', async () => {
    const c = client([mirrorProxy.url]);
    const o = originProxy.log.length;
    const m = mirrorProxy.log.length;
    try {
      const image = await c.resolve('busybox', platform);
      assert.equal(image.reference.toString(), 'docker.io/library/busybox:latest');
      const store = await Store.open(join(work, 'store-1'));
      await c.fetchBlobs(image.reference, image.layers, store.sink);
      for (const l of image.layers) assert.equal(await store.has(l.digest), true);
    } finally {
      c.close();
    }
    assert.deepEqual(asked(originProxy, o), []);
    assert.ok(asked(mirrorProxy, m).some((l) => l.startsWith('GET /v2/library/busybox/manifests/latest')));
    passed++;
  });

  it('falls back to the origin for an image the mirror does not have', async () => {
    const c = client([mirrorProxy.url]);
    const o = originProxy.log.length;
    const m = mirrorProxy.log.length;
    try {
      const image = await c.resolve('debian:bookworm-slim', platform);
      assert.ok(image.layers.length > 0);
    } finally {
      c.close();
    }
    assert.deepEqual(asked(mirrorProxy, m), ['GET /v2/library/debian/manifests/bookworm-slim']);
    assert.ok(asked(originProxy, o).includes('GET /v2/library/debian/manifests/bookworm-slim'));
    passed++;
  });

  it('falls back past a mirror that is down, in the order given', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const c = client([down, mirrorProxy.url]);
    const m = mirrorProxy.log.length;
    try {
      await c.resolve('busybox', platform);
    } finally {
      c.close();
    }
    assert.ok(asked(mirrorProxy, m).length > 0, 'the second mirror answered');
    passed++;
  });

  it('fetches a blob from the origin when the mirror serves it corrupt, storing only the right bytes', async () => {
    const c = client([mirrorProxy.url]);
    try {
      const image = await c.resolve('busybox', platform);
      const layer = image.layers[0]!;
      mirrorProxy.add({ method: 'GET', path: new RegExp(`/blobs/${layer.digest}$`), fault: { kind: 'flip', offset: 10 } });
      const o = originProxy.log.length;
      const store = await Store.open(join(work, 'store-2'));
      assert.equal(await c.fetchBlob(image.reference, layer, store.sink), 'fetched');
      assert.ok(asked(originProxy, o).includes(`GET /v2/library/busybox/blobs/${layer.digest}`));
      const { createHash } = await import('node:crypto');
      assert.equal(`sha256:${createHash('sha256').update(await store.getBytes(layer.digest)).digest('hex')}`, layer.digest);
    } finally {
      mirrorProxy.clear();
      c.close();
    }
    passed++;
  });

  it('never uses mirrors for other registries or for push', async () => {
    const c = client([mirrorProxy.url]);
    const m = mirrorProxy.log.length;
    const store = await Store.open(join(work, 'store-3'));
    try {
      await c.resolve(`${origin.host}/library/busybox:latest`, platform);
      await storeTestImage(store, { tag: 'docker.io/team/app:1', files: { 'x': 'x\n' } });
      const o = originProxy.log.length;
      const r = await pushImage(store, 'docker.io/team/app:1', { client: c });
      assert.ok(asked(originProxy, o).includes('PUT /v2/team/app/manifests/1'));
      assert.ok(r.digest.startsWith('sha256:'));
    } finally {
      c.close();
    }
    assert.deepEqual(asked(mirrorProxy, m), []);
    passed++;
  });

  it('rejects a mirror that is not an http(s) URL', () => {
    assert.equal(mirrorHost('https://mirror.example:5000/'), 'mirror.example:5000');
    assert.throws(() => mirrorHost('mirror.example'), /registry mirror "mirror.example" is not a URL/);
    assert.throws(() => mirrorHost('ftp://mirror.example'), /must be an http:\/\/ or https:\/\/ URL/);
    passed++;
  });
});
