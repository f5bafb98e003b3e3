/**
 * A bad network between stagecraft and a real registry (test/support/fault-proxy.ts):
 * 500s, 429 with Retry-After, a reset halfway through a blob (resumed with
 * Range), a flipped byte, a slow server; bounded tries and the error text
 * after them; and that the store never keeps anything corrupt or partial.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushImage, RegistryClient, RegistryError } from '../../src/registry/index.js';
import { Store } from '../../src/store/index.js';
import { pullImage } from '../../src/build/images.js';
import { parseReference } from '../../src/reference/reference.js';
import { hostPlatform, pushBaseImages } from '../support/base-images.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, storeTestImage, type RunningRegistry } from '../support/registry.js';

const platform = hostPlatform();

describe('registry faults', () => {
  let work: string;
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let ref: string;
  let passed = 0;
  const total = 10;

  const freshStore = async (name: string): Promise<Store> => Store.open(join(work, name));
  const tmpEmpty = async (store: Store): Promise<void> => {
    assert.deepEqual(await readdir(store.tmpDir), [], 'no partial file left in the store');
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-faults-'));
    reg = await startRegistry();
    await pushBaseImages(reg.host, ['busybox:latest']);
    proxy = await startFaultProxy(reg);
    ref = `${proxy.host}/busybox:latest`;
  });

  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    console.log(`registry faults: ${passed}/${total} passed`);
  });

  it('retries 500s on the manifest and succeeds', async () => {
    proxy.clear();
    proxy.add({ path: /\/manifests\//, fault: { kind: 'status', status: 500 }, times: 2 });
    const client = new RegistryClient({ retries: 3, retryBaseMs: 5 });
    try {
      const start = proxy.log.length;
      const image = await client.resolve(ref, platform);
      assert.equal(image.layers.length > 0, true);
      const manifestGets = proxy.log.slice(start).filter((l) => /\/manifests\//.test(l.url));
      assert.deepEqual(manifestGets.map((l) => l.fault), ['status', 'status', undefined]);
    } finally {
      client.close();
    }
    passed++;
  });

  it('honours Retry-After on 429', async () => {
    proxy.clear();
    proxy.add({ path: /\/manifests\//, fault: { kind: 'status', status: 429, retryAfter: '1', registryCode: 'TOOMANYREQUESTS' } });
    const client = new RegistryClient({ retries: 2, retryBaseMs: 1 });
    try {
      const t0 = Date.now();
      await client.resolve(ref, platform);
      const waited = Date.now() - t0;
      assert.ok(waited >= 950, `waited ${waited} ms, Retry-After said 1 s`);
    } finally {
      client.close();
    }
    passed++;
  });

  it('resumes a blob with Range after a reset halfway, and stores it verified', async () => {
    const client = new RegistryClient({ retries: 3, retryBaseMs: 5 });
    try {
      const image = await client.resolve(ref, platform);
      const layer = image.layers[0]!;
      proxy.clear();
      const half = Math.floor(layer.size / 2);
      proxy.add({ path: new RegExp(`/blobs/${layer.digest}$`), method: 'GET', fault: { kind: 'reset', afterBytes: half } });
      const store = await freshStore('store-reset');
      const start = proxy.log.length;
      assert.equal(await client.fetchBlob(image.reference, layer, store.sink), 'fetched');
      const gets = proxy.log.slice(start).filter((l) => l.url.endsWith(layer.digest));
      assert.deepEqual(gets.map((l) => l.fault), ['reset', undefined]);
      assert.equal(gets[0]!.range, undefined);
      const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
      assert.ok(from > 0 && from <= half, `the second request asks only for the rest (from ${from}; cut at ${half})`);
      const stored = await store.getBytes(layer.digest);
      assert.equal(`sha256:${createHash('sha256').update(stored).digest('hex')}`, layer.digest);
      await tmpEmpty(store);
    } finally {
      client.close();
    }
    passed++;
  });

  it('refuses a blob with one flipped byte and stores nothing', async () => {
    const client = new RegistryClient({ retries: 3, retryBaseMs: 5 });
    try {
      const image = await client.resolve(ref, platform);
      const layer = image.layers[0]!;
      proxy.clear();
      proxy.add({ path: new RegExp(`/blobs/${layer.digest}$`), method: 'GET', fault: { kind: 'flip', offset: 1234 } });
      const store = await freshStore('store-flip');
      await assert.rejects(client.fetchBlob(image.reference, layer, store.sink), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'DIGEST');
        assert.match(e.message, new RegExp(`layer ${layer.digest} of ${proxy.host}/library/busybox|layer ${layer.digest} of ${proxy.host}/busybox`));
        assert.match(e.message, /content has digest sha256:[0-9a-f]{64}, expected/);
        return true;
      });
      assert.equal(await store.has(layer.digest), false, 'the corrupt blob is not in the store');
      await tmpEmpty(store);
    } finally {
      client.close();
    }
    passed++;
  });

  it('gives up on a slow server after its timeout, and succeeds when only the first answer is slow', async () => {
    const client = new RegistryClient({ retries: 2, retryBaseMs: 5, timeoutMs: 300 });
    try {
      proxy.clear();
      proxy.add({ path: /\/manifests\//, fault: { kind: 'slow', delayMs: 1500 } });
      const image = await client.resolve(ref, platform);
      assert.ok(image.manifestDigest.startsWith('sha256:'));
      proxy.clear();
      proxy.add({ path: /\/manifests\//, fault: { kind: 'slow', delayMs: 1500 }, times: Infinity });
      await assert.rejects(client.resolve(ref, platform), (e: Error) => {
        assert.ok(e instanceof RegistryError);
        assert.match(e.message, new RegExp(`cannot reach registry ${proxy.host} for busybox: ETIMEDOUT`));
        return true;
      });
    } finally {
      proxy.clear();
      client.close();
    }
    passed++;
  });

  it('stops after a bounded number of tries, naming registry, repository, status and registry code', async () => {
    proxy.clear();
    proxy.add({ path: /\/manifests\//, fault: { kind: 'status', status: 503, registryCode: 'UNAVAILABLE' }, times: Infinity });
    const client = new RegistryClient({ retries: 2, retryBaseMs: 5 });
    try {
      const start = proxy.log.length;
      await assert.rejects(client.resolve(ref, platform), (e: Error) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.status, 503);
        assert.equal(e.registryCode, 'UNAVAILABLE');
        assert.equal(e.registry, proxy.host);
        assert.equal(e.repository, 'busybox');
        assert.equal(e.message, `registry ${proxy.host} answered HTTP 503 for image ${proxy.host}/busybox:latest (UNAVAILABLE): injected by the fault proxy`);
        return true;
      });
      assert.equal(proxy.log.slice(start).length, 3, 'one try and two retries');
    } finally {
      proxy.clear();
      client.close();
    }
    passed++;
  });

  it('gives up on a blob that is cut every time, storing nothing', async () => {
    const client = new RegistryClient({ retries: 2, retryBaseMs: 5 });
    try {
      const image = await client.resolve(ref, platform);
      const layer = image.layers[0]!;
      proxy.clear();
      proxy.add({ path: new RegExp(`/blobs/${layer.digest}$`), method: 'GET', fault: { kind: 'reset', afterBytes: 100 }, times: Infinity });
      const store = await freshStore('store-cut');
      await assert.rejects(client.fetchBlob(image.reference, layer, store.sink), (e: Error) => {
        assert.ok(e instanceof RegistryError);
        // Cut before or after the headers: either way the text names registry and repository.
        assert.match(e.message, new RegExp(`(download of ${layer.digest} from ${proxy.host}/busybox failed|cannot reach registry ${proxy.host} for busybox): `));
        return true;
      });
      assert.equal(await store.has(layer.digest), false);
      await tmpEmpty(store);
    } finally {
      proxy.clear();
      client.close();
    }
    passed++;
  });

  it('pushes through 500s on uploads and a 429 on the manifest, monolithic and chunked', async () => {
    const store = await freshStore('store-push');
    const local = `${proxy.host}/pushed:1`;
    await storeTestImage(store, { tag: local, files: { 'x.bin': randomBytes(150_000) } });
    const client = new RegistryClient({ retries: 3, retryBaseMs: 5 });
    try {
      proxy.clear();
      proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 500 }, times: 2 });
      proxy.add({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 429, retryAfter: '0' } });
      const r = await pushImage(store, local, { client });
      assert.ok(r.blobs.every((b) => b.result === 'uploaded'));
      const res = await fetch(`${reg.url}/v2/pushed/manifests/1`, { headers: { accept: r.mediaType } });
      assert.equal(res.headers.get('docker-content-digest'), r.digest);
      await res.arrayBuffer();

      proxy.clear();
      proxy.add({ method: 'PATCH', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 502 }, times: 1 });
      const start = proxy.log.length;
      const chunked = await pushImage(store, [`${proxy.host}/pushed-chunked:1`], { client, source: local, chunkSize: 32 * 1024, mount: false });
      const patches = proxy.log.slice(start).filter((l) => l.method === 'PATCH');
      assert.ok(patches.length >= 5, `several chunks were sent (${patches.length} PATCHes)`);
      assert.equal(chunked.digest, r.digest);
      assert.ok(chunked.blobs.every((b) => b.result === 'uploaded'));
    } finally {
      proxy.clear();
      client.close();
    }
    passed++;
  });

  it('names registry, repository, status and code when a push keeps failing', async () => {
    const store = await freshStore('store-push-fail');
    const local = `${proxy.host}/doomed:1`;
    await storeTestImage(store, { tag: local, files: { 'y.txt': 'y\n' } });
    const client = new RegistryClient({ retries: 1, retryBaseMs: 5 });
    try {
      proxy.clear();
      proxy.add({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 500, registryCode: 'UNKNOWN' }, times: Infinity });
      await assert.rejects(pushImage(store, local, { client }), (e: Error) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.message, `registry ${proxy.host} answered HTTP 500 for manifest 1 of ${proxy.host}/doomed:1 (UNKNOWN): injected by the fault proxy`);
        return true;
      });
    } finally {
      proxy.clear();
      client.close();
    }
    const stored = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8')) as { manifests: unknown[] };
    assert.equal(stored.manifests.length, 1, 'the local store is unchanged by a failed push');
    passed++;
  });
  it('a pull unpacks while it downloads: resumed after a reset, and nothing kept from a flipped byte or a cut every time', async () => {
    const client = new RegistryClient({ retries: 2, retryBaseMs: 5 });
    try {
      const image = await client.resolve(ref, platform);
      const layer = image.layers[0]!;
      const blobPath = new RegExp(`/blobs/${layer.digest}$`);
      const noLayer = async (store: Store): Promise<void> => {
        assert.equal(await store.has(layer.digest), false, 'no blob');
        assert.deepEqual((await readdir(join(store.root, 'layers')).catch(() => [])).filter((n) => !n.endsWith('.lock')), [], 'no layer');
        await tmpEmpty(store);
      };

      proxy.clear();
      proxy.add({ path: blobPath, method: 'GET', fault: { kind: 'reset', afterBytes: Math.floor(layer.size / 2) } });
      const resumed = await freshStore('pull-reset');
      const src = await pullImage(client, resumed, parseReference(ref), platform);
      assert.equal(src.pulledBytes, layer.size);
      const diffId = src.config.rootfs.diff_ids[0]!;
      assert.equal(await resumed.hasLayer(diffId), true, 'the layer is unpacked');
      assert.equal(await resumed.has(layer.digest), true, 'and its blob stored');
      assert.ok((await readdir(join(resumed.layerDir(diffId), 'bin'))).includes('busybox'));
      await tmpEmpty(resumed);

      proxy.clear();
      proxy.add({ path: blobPath, method: 'GET', fault: { kind: 'flip', offset: 1234 }, times: Infinity });
      const flipped = await freshStore('pull-flip');
      await assert.rejects(pullImage(client, flipped, parseReference(ref), platform), (e: Error & { code?: string }) => e.code === 'DIGEST' || /digest|unpack/i.test(e.message));
      await noLayer(flipped);

      proxy.clear();
      proxy.add({ path: blobPath, method: 'GET', fault: { kind: 'reset', afterBytes: 100 }, times: Infinity });
      const cut = await freshStore('pull-cut');
      await assert.rejects(pullImage(client, cut, parseReference(ref), platform));
      await noLayer(cut);
    } finally {
      proxy.clear();
      client.close();
    }
    passed++;
  });
});
