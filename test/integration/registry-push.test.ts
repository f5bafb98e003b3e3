/**
 * Push against the real registry (no auth): skip existing blobs, mount across
 * repositories (and upload when the mount is refused), monolithic and chunked
 * uploads, the manifest with its exact media type under several tags, a
 * multi-platform index; and round trips with skopeo both ways, byte for byte.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pullImage } from '../../src/build/images.js';
import { MediaType, parseIndex, parseManifest, sha256, type Digest } from '../../src/oci/index.js';
import { parseReference } from '../../src/reference/index.js';
import { blobExists, pushBlob, pushImage, pushIndex, RegistryClient, type PushEvent } from '../../src/registry/index.js';
import { Store } from '../../src/store/index.js';
import { hostPlatform, pushBaseImages } from '../support/base-images.js';
import { skopeo, startRegistry, storeTestImage, type RunningRegistry } from '../support/registry.js';

const platform = hostPlatform();

async function get(url: string, accept?: string): Promise<{ status: number; type: string | null; digest: string | null; body: Buffer }> {
  const res = await fetch(url, accept ? { headers: { accept } } : {});
  return { status: res.status, type: res.headers.get('content-type'), digest: res.headers.get('docker-content-digest'), body: Buffer.from(await res.arrayBuffer()) };
}

const ACCEPT_ALL = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList].join(', ');

describe('registry push', () => {
  let work: string;
  let reg: RunningRegistry;
  let store: Store;
  let client: RegistryClient;
  let passed = 0;
  const total = 11;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-push-'));
    reg = await startRegistry();
    store = await Store.open(join(work, 'store'));
    client = new RegistryClient({ retries: 1, retryBaseMs: 10 });
  });

  after(async () => {
    client?.close();
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    console.log(`registry push: ${passed}/${total} passed`);
  });

  it('pushes a built image under two tags, compressing its layer once; the registry serves the exact manifest', async () => {
    const local = `${reg.host}/app:1`;
    await storeTestImage(store, { tag: local, files: { 'hello.txt': 'hello\n', 'data.bin': randomBytes(200_000) } });
    const events: PushEvent[] = [];
    const r = await pushImage(store, [local, `${reg.host}/app:latest`], { client, onEvent: (e) => events.push(e) });
    assert.equal(r.mediaType, MediaType.ociManifest);
    assert.deepEqual(r.references, [`${reg.host}/app:1`, `${reg.host}/app:latest`]);
    assert.deepEqual(r.blobs.map((b) => b.result).sort(), ['uploaded', 'uploaded']);
    for (const tag of ['1', 'latest']) {
      const m = await get(`${reg.url}/v2/app/manifests/${tag}`, ACCEPT_ALL);
      assert.equal(m.status, 200);
      assert.equal(m.type, MediaType.ociManifest, 'sent with its exact media type');
      assert.equal(sha256(m.body), r.digest);
      assert.equal(m.digest, r.digest);
    }
    const manifest = parseManifest(await get(`${reg.url}/v2/app/manifests/1`, ACCEPT_ALL).then((x) => x.body));
    assert.equal(manifest.layers[0]!.mediaType, MediaType.ociLayerGzip);
    // The gzip blob is the one the store cached: a second push compresses nothing new.
    const again = await pushImage(store, local, { client });
    assert.equal(again.digest, r.digest, 'same compressed layer, same manifest');
    assert.deepEqual(again.blobs.map((b) => b.result), ['exists', 'exists'], 'existing blobs are skipped (HEAD)');
    assert.ok(events.some((e) => e.kind === 'manifest' && e.digest === r.digest));
    passed++;
  });

  it('is read back by skopeo byte for byte: manifest and every blob', async () => {
    const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/app:1`]).stdout;
    const pushed = await get(`${reg.url}/v2/app/manifests/1`, ACCEPT_ALL);
    assert.ok(raw.equals(pushed.body), 'skopeo sees the manifest we pushed');
    const dir = join(work, 'skopeo-dir');
    skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/app:1`, `dir:${dir}`]);
    const manifest = parseManifest(raw);
    for (const d of [manifest.config, ...manifest.layers]) {
      const theirs = await readFile(join(dir, d.digest.slice(7)));
      const ours = await store.getBytes(d.digest as Digest);
      assert.ok(theirs.equals(ours), `blob ${d.digest} differs`);
    }
    passed++;
  });

  it('mounts blobs into another repository of the same registry', async () => {
    const r = await pushImage(store, [`${reg.host}/app:1`, `${reg.host}/team/copy:1`], { client });
    const copy = r.blobs.slice(2);
    assert.deepEqual(copy.map((b) => b.result), ['mounted', 'mounted']);
    const m = await get(`${reg.url}/v2/team/copy/manifests/1`, ACCEPT_ALL);
    assert.equal(sha256(m.body), r.digest);
    passed++;
  });

  it('uploads when the registry refuses a mount (202) and when the source does not have the blob', async () => {
    const ref = parseReference(`${reg.host}/refused:1`);
    const data = randomBytes(5000);
    const desc = { mediaType: 'application/octet-stream', digest: sha256(data), size: data.length };
    assert.equal(await blobExists(client, ref, desc.digest), false);
    const result = await pushBlob(client, ref, desc, async () => Readable.from([data]), { mountFrom: ['no/such-repo'] });
    assert.equal(result, 'uploaded');
    assert.equal(await blobExists(client, ref, desc.digest), true);
    const back = await get(`${reg.url}/v2/refused/blobs/${desc.digest}`);
    assert.ok(back.body.equals(data));
    passed++;
  });

  it('uploads in chunks (PATCH with Content-Range) and the result pulls back identical', async () => {
    const local = `${reg.host}/chunked:1`;
    await storeTestImage(store, { tag: local, files: { 'big.bin': randomBytes(300_000) } });
    const r = await pushImage(store, local, { client, chunkSize: 64 * 1024 });
    assert.ok(r.blobs.every((b) => b.result === 'uploaded'));
    const fresh = await Store.open(join(work, 'store-chunked'));
    const src = await pullImage(client, fresh, parseReference(local), { os: 'linux', architecture: 'amd64' });
    assert.equal(src.manifestDigest, r.digest);
    const layer = parseManifest((await get(`${reg.url}/v2/chunked/manifests/1`, ACCEPT_ALL)).body).layers[0]!;
    assert.ok((await fresh.getBytes(layer.digest)).equals(await store.getBytes(layer.digest)), 'the pulled layer blob equals the pushed one');
    passed++;
  });

  it('pushes built layers zstd-compressed when asked, and they pull back and unpack', async () => {
    const local = `${reg.host}/zstd:1`;
    await storeTestImage(store, { tag: local, files: { 'z.bin': randomBytes(50_000), 'z.txt': 'zstd\n' } });
    const r = await pushImage(store, local, { client, compression: 'zstd' });
    const manifest = parseManifest((await get(`${reg.url}/v2/zstd/manifests/1`, ACCEPT_ALL)).body);
    assert.equal(manifest.layers[0]!.mediaType, MediaType.ociLayerZstd);
    const fresh = await Store.open(join(work, 'store-zstd'));
    const src = await pullImage(client, fresh, parseReference(local), { os: 'linux', architecture: 'amd64' });
    assert.equal(src.manifestDigest, r.digest);
    const diffId = src.layers[0]!.diffId;
    assert.equal(await readFile(join(fresh.layerDir(diffId), 'z.txt'), 'utf8'), 'zstd\n');
    passed++;
  });

  it('pushes a multi-platform index; the client picks each platform from it', async () => {
    const amd = `${reg.host}/multi:amd64`;
    const arm = `${reg.host}/multi:arm64`;
    await storeTestImage(store, { tag: amd, architecture: 'amd64', files: { 'arch': 'amd64\n' } });
    await storeTestImage(store, { tag: arm, architecture: 'arm64', variant: 'v8', files: { 'arch': 'arm64\n' } });
    const r = await pushIndex(store, [`${reg.host}/multi:1`, `${reg.host}/multi:latest`], [amd, arm], { client });
    assert.equal(r.mediaType, MediaType.ociIndex);
    const got = await get(`${reg.url}/v2/multi/manifests/latest`, ACCEPT_ALL);
    assert.equal(got.type, MediaType.ociIndex);
    assert.equal(sha256(got.body), r.digest);
    const index = parseIndex(got.body);
    assert.deepEqual(index.manifests.map((m) => m.platform), [
      { architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux', variant: 'v8' },
    ]);
    const armImage = await client.resolve(`${reg.host}/multi:1`, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.equal(armImage.manifestDigest, index.manifests[1]!.digest);
    assert.equal(armImage.indexDigest, r.digest);
    const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/multi:1`]).stdout;
    assert.ok(raw.equals(got.body), 'skopeo reads the same index');
    passed++;
  });

  it('pushes a pulled image (already compressed) with its exact manifest digest', async () => {
    const refs = await pushBaseImages(reg.host, ['busybox:latest']);
    const ref = parseReference(refs['busybox:latest']);
    const src = await pullImage(client, store, ref, platform);
    await store.tag(ref.toString(), src.manifestDigest as Digest);
    const r = await pushImage(store, [ref.toString(), `${reg.host}/mirror/busybox:1`], { client });
    assert.equal(r.digest, src.manifestDigest, 'nothing recompressed: same manifest bytes');
    assert.ok(r.blobs.slice(0, 2).every((b) => b.result === 'exists'), 'the origin repository has every blob');
    assert.ok(r.blobs.slice(2).every((b) => b.result === 'mounted'), 'the new repository mounts them');
    passed++;
  });

  it('makes a Docker manifest list when every image is Docker v2 schema 2, keeping their manifests', async () => {
    const refs = await pushBaseImages(reg.host, ['busybox:latest'], { format: 'v2s2', repoSuffix: '-docker' });
    const ref = parseReference(refs['busybox:latest']);
    const src = await pullImage(client, store, ref, platform);
    await store.tag(ref.toString(), src.manifestDigest as Digest);
    const r = await pushIndex(store, `${reg.host}/docker-list:1`, [ref.toString()], { client });
    assert.equal(r.mediaType, MediaType.dockerManifestList);
    const got = await get(`${reg.url}/v2/docker-list/manifests/1`, ACCEPT_ALL);
    assert.equal(got.type, MediaType.dockerManifestList);
    const list = parseIndex(got.body);
    assert.equal(list.manifests[0]!.mediaType, MediaType.dockerManifest);
    assert.equal(list.manifests[0]!.digest, src.manifestDigest, 'the Docker manifest went up unchanged');
    assert.equal((await client.resolve(`${reg.host}/docker-list:1`, platform)).manifestDigest, src.manifestDigest);
    passed++;
  });

  it('pulls what skopeo pushed, and what skopeo copied from our push, identically', async () => {
    skopeo(['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/app:1`, `docker://${reg.host}/by-skopeo:1`]);
    const a = await client.resolve(`${reg.host}/app:1`, { os: 'linux', architecture: 'amd64' });
    const b = await client.resolve(`${reg.host}/by-skopeo:1`, { os: 'linux', architecture: 'amd64' });
    assert.equal(b.manifestDigest, a.manifestDigest, 'skopeo kept our manifest byte for byte');
    const fresh = await Store.open(join(work, 'store-skopeo'));
    const src = await pullImage(client, fresh, parseReference(`${reg.host}/by-skopeo:1`), { os: 'linux', architecture: 'amd64' });
    for (const l of b.layers) {
      const blob = await fresh.getBytes(l.digest);
      assert.equal(`sha256:${createHash('sha256').update(blob).digest('hex')}`, l.digest);
    }
    assert.equal(src.layers.length, 1);
    passed++;
  });

  it('reports a clear error for an image that is not in the store', async () => {
    await assert.rejects(pushImage(store, `${reg.host}/never-built:1`, { client }), (e: Error) => {
      assert.match(e.message, /image .*never-built:1 is not in the local store/);
      return true;
    });
    passed++;
  });
});
