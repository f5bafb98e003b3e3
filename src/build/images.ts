/**
 * Where a stage's base comes from: the local store (an image built or loaded
 * earlier, as `docker build` finds local images) or a registry, pulled into
 * the store with every blob verified and every layer unpacked once.
 */
import { Readable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import type { Descriptor, Digest, ImageConfig, Platform } from '../oci/index.js';
import { parseReference, type Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { Store } from '../store/index.js';

/** One layer of an image, with the blob it came from when there is one. */
export interface LayerRef {
  diffId: Digest;
  /** Uncompressed tar size in bytes. */
  size: number;
  /** The stored blob (compressed, as pulled); absent for layers built here. */
  blob?: Descriptor | undefined;
}

export interface ImageSource {
  ref: string;
  manifestDigest: Digest;
  config: ImageConfig;
  layers: LayerRef[];
  /** Bytes downloaded to get it (0 when everything was already stored). */
  pulledBytes: number;
  /** The index (manifest list) the reference named, when it named one and a platform's manifest was picked from it. */
  indexDigest?: Digest | undefined;
}

/** What `pullImage` reports per layer: already in the store, or fetched, verified and unpacked. */
export type LayerPullEvent = { layer: Descriptor; status: 'exists' | 'pulled' };

export interface PullImageOptions {
  signal?: AbortSignal | undefined;
  onLayer?: ((e: LayerPullEvent) => void) | undefined;
}

/** A reference in full form, with `latest` when neither tag nor digest is given. */
export function normalizeRef(text: string): Reference {
  const r = parseReference(text);
  return r.tag === undefined && r.digest === undefined ? r.withTag('latest') : r;
}

export async function localImage(store: Store, ref: Reference): Promise<ImageSource | undefined> {
  let img;
  try {
    img = await store.resolve(ref.toString());
  } catch (e) {
    if (e instanceof StagecraftError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
  const diffIds = img.config.rootfs.diff_ids;
  const layers: LayerRef[] = [];
  for (const [i, diffId] of diffIds.entries()) {
    const info = await store.layerInfo(diffId);
    if (!info || !(await store.hasLayer(diffId))) return undefined; // incomplete: pull instead
    layers.push({ diffId, size: info.size, blob: img.manifest.layers[i] });
  }
  return { ref: ref.toString(), manifestDigest: img.manifestDigest, config: img.config, layers, pulledBytes: 0 };
}

/**
 * Resolves `ref` for `platform` at its registry and makes the image complete
 * in the store: config and manifest stored, every missing layer fetched,
 * verified and unpacked. Tags nothing (`pull()` in ./pull.ts tags).
 */
export async function pullImage(client: RegistryClient, store: Store, ref: Reference, platform: Platform, opts: PullImageOptions = {}): Promise<ImageSource> {
  const { signal, onLayer } = opts;
  // The config (and a platform's manifest under an index) comes from the store when it holds it, as
  // content addressed by digest: a rebuild asks the registry only where the tag points now.
  const resolved = await client.resolve(ref, platform, { known: (digest) => store.blobs.getBytes(digest) });
  signal?.throwIfAborted();
  await store.put({ digest: resolved.config.digest, size: resolved.config.raw.byteLength }, resolved.config.raw);
  await store.put({ digest: resolved.manifestDigest, size: resolved.rawManifest.byteLength }, resolved.rawManifest);
  const config = resolved.config.parsed;
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== resolved.layers.length) {
    throw new StagecraftError('REGISTRY', `image ${ref.familiar()} is malformed: its config lists ${diffIds.length} layers, its manifest ${resolved.layers.length}`);
  }
  const missing: Array<{ desc: Descriptor; diffId: Digest }> = [];
  for (const [i, desc] of resolved.layers.entries()) {
    const diffId = diffIds[i]!;
    if (!(await store.hasLayer(diffId))) missing.push({ desc, diffId });
    else onLayer?.({ layer: desc, status: 'exists' });
  }
  let pulledBytes = 0;
  if (missing.length > 0) {
    // Each layer is unpacked (into its own directory) while its blob downloads: the bytes go to
    // the blob store and the extractor at once. Not fsynced one by one: whoever names the image
    // (pull's tag, a build's cache records) syncs the store first.
    const results = await Promise.allSettled(missing.map(async (m) => {
      const sink = {
        has: (d: Digest) => store.has(d),
        put: async (desc: Descriptor, body: Readable) => {
          await store.putAndUnpackLayer({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, body, { expectedDiffId: m.diffId, durable: false });
          pulledBytes += desc.size;
        },
      };
      await client.fetchBlobs(ref, [m.desc], sink);
      signal?.throwIfAborted();
      // A blob already in the store is not downloaded (the sink's `has`): unpack it from there.
      if (!(await store.hasLayer(m.diffId))) await store.unpackLayer(m.desc.digest, m.desc.mediaType, { expectedDiffId: m.diffId });
      onLayer?.({ layer: m.desc, status: 'pulled' });
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
  const layers: LayerRef[] = [];
  for (const [i, diffId] of diffIds.entries()) {
    const info = await store.layerInfo(diffId);
    layers.push({ diffId, size: info?.size ?? resolved.layers[i]!.size, blob: resolved.layers[i] });
  }
  return { ref: ref.toString(), manifestDigest: resolved.manifestDigest, config, layers, pulledBytes, ...(resolved.indexDigest ? { indexDigest: resolved.indexDigest } : {}) };
}
