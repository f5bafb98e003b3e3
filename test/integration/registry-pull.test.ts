/**
 * RegistryClient against a real distribution registry on loopback, holding
 * images pushed by skopeo (OCI and Docker v2 schema 2 manifests, an OCI index
 * and a Docker manifest list).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { StagecraftError } from '../../src/errors.js';
import { MediaType, type Descriptor, type Digest, type Platform } from '../../src/oci/index.js';
import { parseReference } from '../../src/reference/index.js';
import { RegistryClient, RegistryError, type BlobSink } from '../../src/registry/index.js';
import { ensureBaseImages, hostPlatform, pushBaseImages } from '../support/base-images.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { freePort, startRegistry, type RunningRegistry } from '../support/registry.js';

const sha256File = (p: string): string => `sha256:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;

/** A content-addressed directory: temp file, renamed into place only after the stream ended cleanly. */
class DirectorySink implements BlobSink {
  readonly puts: string[] = [];
  active = 0;
  maxActive = 0;
  constructor(readonly dir: string) {}
  path(digest: string): string {
    return join(this.dir, digest.replace(':', '-'));
  }
  async has(digest: Digest): Promise<boolean> {
    return existsSync(this.path(digest));
  }
  async put(desc: Descriptor, body: Readable): Promise<void> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    const tmp = `${this.path(desc.digest)}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await pipeline(body, createWriteStream(tmp));
      await rename(tmp, this.path(desc.digest));
      this.puts.push(desc.digest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    } finally {
      this.active--;
    }
  }
  async files(): Promise<string[]> {
    return (await readdir(this.dir)).sort();
  }
}

interface LayoutManifest { digest: string; size: number; mediaType: string }

function layoutManifest(layout: string): LayoutManifest {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: LayoutManifest[] };
  return index.manifests[0]!;
}

/**
 * An OCI layout whose index.json points at an image index listing `entries`
 * (manifests taken from the cached base-image layouts) under the given
 * platforms. skopeo pushes it with --all.
 */
async function multiPlatformLayout(dir: string, entries: { layout: string; platform: Platform }[]): Promise<string> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const manifests = [];
  for (const e of entries) {
    for (const f of await readdir(join(e.layout, 'blobs', 'sha256'))) {
      const to = join(dir, 'blobs', 'sha256', f);
      if (!existsSync(to)) await link(join(e.layout, 'blobs', 'sha256', f), to).catch(() => copyFile(join(e.layout, 'blobs', 'sha256', f), to));
    }
    const m = layoutManifest(e.layout);
    manifests.push({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: e.platform });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
  await writeFile(join(dir, 'blobs', 'sha256', indexDigest.slice(7)), index);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: MediaType.ociIndex, digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  return indexDigest;
}

function skopeo(...args: string[]): string {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `skopeo ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The registry's filesystem path of a blob's data. */
function blobDataPath(reg: RunningRegistry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(reg.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

describe('RegistryClient against a real registry', () => {
  let reg: RunningRegistry;
  let work: string;
  let client: RegistryClient;
  const host = (): string => reg.host;
  const platform = hostPlatform();
  const arm64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
  let layouts: Awaited<ReturnType<typeof ensureBaseImages>>;
  let ociIndexDigest: string;
  let passed = 0;
  const total = 14;

  before(async () => {
    reg = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'stagecraft-pull-'));
    layouts = await ensureBaseImages(['busybox:latest', 'debian:bookworm-slim']);
    await pushBaseImages(reg.host, ['busybox:latest', 'debian:bookworm-slim']);
    await pushBaseImages(reg.host, ['busybox:latest'], { format: 'v2s2', repoSuffix: '-docker' });
    const multi = join(work, 'multi-layout');
    ociIndexDigest = await multiPlatformLayout(multi, [
      { layout: layouts['busybox:latest'].ociLayout, platform: { os: 'linux', architecture: platform.architecture } },
      { layout: layouts['debian:bookworm-slim'].ociLayout, platform: arm64 },
    ]);
    skopeo('copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${multi}:latest`, `docker://${reg.host}/multi:latest`);
    skopeo('copy', '--quiet', '--all', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${multi}:latest`, `docker://${reg.host}/multi-docker:latest`);
    client = new RegistryClient({ retryBaseMs: 20 });
  });

  after(async () => {
    client?.close();
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
    console.log(`registry pull: ${passed}/${total} passed`);
  });

  it('resolves an OCI image manifest pushed by skopeo, verified against what skopeo reports', async () => {
    const image = await client.resolve(`${host()}/busybox:latest`, platform);
    const raw = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host()}/busybox:latest`);
    assert.deepEqual(Buffer.from(image.rawManifest), Buffer.from(raw));
    assert.equal(image.manifestDigest, `sha256:${createHash('sha256').update(raw).digest('hex')}`);
    assert.equal(image.manifestDigest, layoutManifest(layouts['busybox:latest'].ociLayout).digest);
    assert.equal(image.mediaType, MediaType.ociManifest);
    assert.equal(image.indexDigest, undefined);
    assert.equal(image.layers.length, 1);
    assert.equal(image.layers[0]!.mediaType, MediaType.ociLayerGzip);
    assert.equal(image.config.digest, image.manifest.config.digest);
    assert.equal(`sha256:${createHash('sha256').update(image.config.raw).digest('hex')}`, image.config.digest);
    assert.deepEqual(image.config.parsed.config?.Cmd, ['sh']);
    assert.equal(image.config.parsed.rootfs.diff_ids.length, 1);
    assert.deepEqual(image.platform, { os: 'linux', architecture: platform.architecture });
    assert.equal(image.reference.toString(), `${host()}/busybox:latest`);
    passed++;
  });

  it('resolves a Docker v2 schema 2 manifest (skopeo --format v2s2)', async () => {
    const image = await client.resolve(parseReference(`${host()}/busybox-docker:latest`), platform);
    assert.equal(image.mediaType, MediaType.dockerManifest);
    assert.equal(image.manifest.config.mediaType, MediaType.dockerConfig);
    assert.equal(image.layers[0]!.mediaType, MediaType.dockerLayerGzip);
    assert.deepEqual(image.config.parsed.config?.Cmd, ['sh']);
    const raw = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host()}/busybox-docker:latest`);
    assert.equal(image.manifestDigest, `sha256:${createHash('sha256').update(raw).digest('hex')}`);
    passed++;
  });

  it('picks the platform from an OCI index, variant aware', async () => {
    const amd = await client.resolve(`${host()}/multi:latest`, { os: 'linux', architecture: platform.architecture });
    assert.equal(amd.indexDigest, ociIndexDigest);
    assert.equal(amd.manifestDigest, layoutManifest(layouts['busybox:latest'].ociLayout).digest);
    assert.deepEqual(amd.config.parsed.config?.Cmd, ['sh']);
    const arm = await client.resolve(`${host()}/multi:latest`, arm64);
    assert.equal(arm.manifestDigest, layoutManifest(layouts['debian:bookworm-slim'].ociLayout).digest);
    // arm64 without a variant means v8.
    const armNoVariant = await client.resolve(`${host()}/multi:latest`, { os: 'linux', architecture: 'arm64' });
    assert.equal(armNoVariant.manifestDigest, arm.manifestDigest);
    passed++;
  });

  it('picks the platform from a Docker manifest list', async () => {
    const arm = await client.resolve(`${host()}/multi-docker:latest`, arm64);
    assert.notEqual(arm.indexDigest, undefined);
    const rawList = JSON.parse(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host()}/multi-docker:latest`)) as { mediaType: string; manifests: { digest: string; platform: Platform }[] };
    assert.equal(rawList.mediaType, MediaType.dockerManifestList);
    assert.equal(arm.mediaType, MediaType.dockerManifest);
    assert.equal(arm.manifestDigest, rawList.manifests.find((m) => m.platform.architecture === 'arm64')!.digest);
    assert.deepEqual(arm.config.parsed.config?.Cmd, ['bash']);
    passed++;
  });

  it('takes a config and a platform manifest from documents the caller holds, checked by digest, and asks the registry only for the tag', async () => {
    const proxy = await startFaultProxy(reg);
    const viaProxy = new RegistryClient({ retryBaseMs: 20 });
    try {
      for (const repo of ['multi', 'multi-docker']) {
        const ref = `${proxy.host}/${repo}:latest`;
        proxy.log.length = 0;
        const first = await viaProxy.resolve(ref, arm64);
        const paths = (): string[] => proxy.log.map((e) => `${e.method} ${e.url.replace(/^\/v2\/[^/]+\//, '')}`);
        assert.deepEqual(paths(), ['GET manifests/latest', `GET manifests/${first.manifestDigest}`, `GET blobs/${first.config.digest}`]);
        // What a local store would answer: the manifest and config by digest.
        const held = new Map<string, Uint8Array>([[first.manifestDigest, first.rawManifest], [first.config.digest, first.config.raw]]);
        let asked: string[] = [];
        proxy.log.length = 0;
        const again = await viaProxy.resolve(ref, arm64, { known: async (d) => { asked.push(d); return held.get(d); } });
        assert.deepEqual(paths(), ['GET manifests/latest'], `${repo}: only the tag goes to the registry`);
        assert.deepEqual(asked, [first.manifestDigest, first.config.digest]);
        assert.equal(again.manifestDigest, first.manifestDigest);
        assert.equal(again.indexDigest, first.indexDigest);
        assert.equal(again.mediaType, first.mediaType);
        assert.deepEqual(again.config.parsed, first.config.parsed);
        assert.deepEqual(Buffer.from(again.rawManifest), Buffer.from(first.rawManifest));
        // Held bytes that do not match their digest (or a lookup that fails) are fetched instead.
        const wrong = Buffer.from(first.config.raw);
        wrong[wrong.length - 2] = wrong[wrong.length - 2]! ^ 1;
        asked = [];
        proxy.log.length = 0;
        const fixed = await viaProxy.resolve(ref, arm64, {
          known: async (d) => {
            asked.push(d);
            if (d === first.config.digest) return wrong;
            throw new Error('store unreadable');
          },
        });
        assert.deepEqual(paths(), ['GET manifests/latest', `GET manifests/${first.manifestDigest}`, `GET blobs/${first.config.digest}`]);
        assert.deepEqual(Buffer.from(fixed.config.raw), Buffer.from(first.config.raw));
        assert.equal(fixed.mediaType, first.mediaType);
      }
    } finally {
      viaProxy.close();
      await proxy.stop();
    }
    passed++;
  });

  it('names the available platforms when none matches', async () => {
    await assert.rejects(client.resolve(`${host()}/multi:latest`, { os: 'linux', architecture: 's390x' }), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.message, `image ${host()}/multi:latest has no manifest for linux/s390x (available: linux/${platform.architecture}, linux/arm64)`);
      return true;
    });
    passed++;
  });

  it('resolves a digest-pinned reference and refuses an unknown digest', async () => {
    const digest = layoutManifest(layouts['busybox:latest'].ociLayout).digest;
    const pinned = await client.resolve(`${host()}/busybox@${digest}`, platform);
    assert.equal(pinned.manifestDigest, digest);
    const byIndex = await client.resolve(`${host()}/multi@${ociIndexDigest}`, arm64);
    assert.equal(byIndex.indexDigest, ociIndexDigest);
    const missing = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(client.resolve(`${host()}/busybox@${missing}`, platform), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.message, `image ${host()}/busybox@${missing} not found in registry ${host()} (MANIFEST_UNKNOWN)`);
      assert.equal(e.status, 404);
      return true;
    });
    passed++;
  });

  it('reports an unknown image with registry, name and the registry error code', async () => {
    await assert.rejects(client.resolve(`${host()}/nope:latest`, platform), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.message, `image ${host()}/nope:latest not found in registry ${host()} (${e.registryCode})`);
      assert.match(e.registryCode ?? '', /^(NAME_UNKNOWN|MANIFEST_UNKNOWN)$/);
      assert.equal(e.registry, host());
      assert.equal(e.repository, 'nope');
      assert.equal(e.status, 404);
      assert.equal(e.retryable, false);
      console.log(`# unknown image: ${e.message}`);
      return true;
    });
    passed++;
  });

  it('reports an unknown tag of a known repository (MANIFEST_UNKNOWN)', async () => {
    await assert.rejects(client.resolve(`${host()}/busybox:nope`, platform), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.message, `image ${host()}/busybox:nope not found in registry ${host()} (MANIFEST_UNKNOWN)`);
      assert.equal(e.registryCode, 'MANIFEST_UNKNOWN');
      return true;
    });
    passed++;
  });

  it('fetches every layer and config blob into a sink, digests verified; present blobs are skipped', async () => {
    const sink = new DirectorySink(await mkdtemp(join(work, 'sink-')));
    const images = [
      await client.resolve(`${host()}/busybox:latest`, platform),
      await client.resolve(`${host()}/debian:bookworm-slim`, platform),
    ];
    let progressBytes = 0;
    for (const image of images) {
      const results = await client.fetchBlobs(image.reference, [image.manifest.config, ...image.layers], sink, {
        onProgress: (_d, bytes) => { progressBytes = Math.max(progressBytes, bytes); },
      });
      assert.deepEqual(results, ['fetched', ...image.layers.map(() => 'fetched')]);
    }
    const all = images.flatMap((i) => [i.manifest.config, ...i.layers]);
    assert.deepEqual(await sink.files(), all.map((d) => d.digest.replace(':', '-')).sort());
    for (const d of all) assert.equal(sha256File(sink.path(d.digest)), d.digest);
    const debianLayer = images[1]!.layers[0]!;
    assert.ok(debianLayer.size > 10_000_000, `debian layer is ${debianLayer.size} bytes`);
    assert.equal(progressBytes, Math.max(...all.map((d) => d.size)));
    const again = await client.fetchBlobs(images[0]!.reference, images[0]!.layers, sink);
    assert.deepEqual(again, ['present']);
    passed++;
  });

  it('rejects a blob the registry serves corrupted, leaving nothing in the sink', async () => {
    const image = await client.resolve(`${host()}/busybox-docker:latest`, platform);
    const layer = image.layers[0]!;
    const data = blobDataPath(reg, layer.digest);
    const original = await readFile(data);
    const corrupt = Buffer.from(original);
    corrupt[corrupt.length >> 1]! ^= 0xff;
    await writeFile(data, corrupt);
    const sink = new DirectorySink(await mkdtemp(join(work, 'sink-')));
    try {
      await assert.rejects(client.fetchBlob(image.reference, layer, sink), (e: unknown) => {
        assert.ok(e instanceof StagecraftError);
        assert.equal(e.code, 'DIGEST');
        assert.match(e.message, new RegExp(`^layer ${layer.digest} of ${host()}/busybox-docker: content has digest sha256:[a-f0-9]{64}, expected ${layer.digest}$`));
        return true;
      });
      // Too-short declared size: refused as soon as the extra bytes arrive.
      await writeFile(data, original);
      await assert.rejects(client.fetchBlob(image.reference, { ...layer, size: layer.size - 1 }, sink), /received more than the \d+ bytes its descriptor declares/);
      assert.deepEqual(await sink.files(), []);
    } finally {
      await writeFile(data, original);
    }
    assert.equal(await client.fetchBlob(image.reference, layer, sink), 'fetched');
    assert.equal(sha256File(sink.path(layer.digest)), layer.digest);
    passed++;
  });

  it('keeps to the concurrency bound', async () => {
    const one = new RegistryClient({ concurrency: 1 });
    const two = new RegistryClient({ concurrency: 2 });
    try {
      const a = await one.resolve(`${host()}/debian:bookworm-slim`, platform);
      const b = await one.resolve(`${host()}/busybox:latest`, platform);
      const blobs = [a.manifest.config, ...a.layers, b.manifest.config, ...b.layers];
      const s1 = new DirectorySink(await mkdtemp(join(work, 'sink-')));
      await one.fetchBlobs(a.reference, [a.manifest.config, ...a.layers], s1);
      await one.fetchBlobs(b.reference, [b.manifest.config, ...b.layers], s1);
      assert.equal(s1.maxActive, 1);
      assert.equal(s1.puts.length, blobs.length);
      const s2 = new DirectorySink(await mkdtemp(join(work, 'sink-')));
      await Promise.all([
        two.fetchBlobs(a.reference, [a.manifest.config, ...a.layers], s2),
        two.fetchBlobs(b.reference, [b.manifest.config, ...b.layers], s2),
      ]);
      assert.equal(s2.maxActive, 2);
    } finally {
      one.close();
      two.close();
    }
    passed++;
  });

  it('shares one download when the same blob is asked for concurrently', async () => {
    const image = await client.resolve(`${host()}/debian:bookworm-slim`, platform);
    const layer = image.layers[0]!;
    const sink = new DirectorySink(await mkdtemp(join(work, 'sink-')));
    const [a, b] = await Promise.all([
      client.fetchBlobs(image.reference, [layer, layer], sink),
      client.fetchBlob(image.reference, layer, sink),
    ]);
    assert.deepEqual(a, ['fetched', 'fetched']);
    assert.equal(b, 'fetched');
    assert.deepEqual(sink.puts, [layer.digest], 'one put for three requests');
    assert.equal(await client.fetchBlob(image.reference, layer, sink), 'present');
    passed++;
  });

  it('reports a registry that does not answer, after retrying', async () => {
    const port = await freePort();
    const c = new RegistryClient({ retries: 2, retryBaseMs: 10 });
    const started = Date.now();
    await assert.rejects(c.resolve(`127.0.0.1:${port}/busybox:latest`, platform), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.message, `cannot reach registry 127.0.0.1:${port} for busybox: ECONNREFUSED`);
      assert.equal(e.retryable, true);
      return true;
    });
    assert.ok(Date.now() - started >= 30, 'two backoffs of >= 10 and 20 ms');
    c.close();
    passed++;
  });
});
