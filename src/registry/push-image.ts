/**
 * Pushing images from the local store: layers are compressed once (the store
 * caches the compressed blob), blobs go up in parallel, skipping what the
 * registry has and mounting what another repository there has; then the
 * manifest under every tag. A multi-platform index pushes each image by
 * digest first, then the index under the tags.
 *
 *   const r = await pushImage(store, ['reg:5000/app:1', 'reg:5000/app:latest'], { client });
 *   r.digest  // what the registry now serves for both tags
 */
import type { Readable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import {
  dockerLayerMediaType, encodeDocument, layerCompression, MediaType, ociLayerMediaType, sha256,
  type Compression, type Descriptor, type Digest, type ImageConfig, type Index, type Manifest, type Platform,
} from '../oci/index.js';
import { parseReference, type Reference } from '../reference/index.js';
import { RegistryClient } from './client.js';
import { Limiter } from './limiter.js';
import { pushBlob, pushManifest, type BlobPushResult } from './push.js';
import type { RegistryClientOptions } from './types.js';

/** What pushing needs from the local store (`Store` from src/store satisfies it). */
export interface LocalImages {
  resolve(ref: string): Promise<{ manifestDigest: Digest; manifest: Manifest; configDigest: Digest; config: ImageConfig }>;
  has(digest: Digest): Promise<boolean>;
  get(digest: Digest): Readable;
  getBytes(digest: Digest): Promise<Buffer>;
  layerTar(diffId: Digest): Promise<Readable>;
  compressedBlob(diffId: Digest, compression: Exclude<Compression, 'none'>): Promise<Descriptor>;
  /** Tagged images, to find repositories on the same registry to mount blobs from. */
  list?(): Promise<Array<{ ref: string; manifestDigest: Digest }>>;
}

export type PushEvent =
  | { kind: 'blob'; digest: Digest; size: number; result: BlobPushResult }
  | { kind: 'manifest'; reference: string; digest: Digest };

export interface PushImageOptions {
  /** A client to reuse; otherwise one is made from `clientOptions` and closed afterwards. */
  client?: RegistryClient;
  clientOptions?: RegistryClientOptions;
  /** Compression for layers stored uncompressed (built layers). Default gzip. */
  compression?: Exclude<Compression, 'none'>;
  /** Chunked uploads of this many bytes; monolithic when unset. */
  chunkSize?: number;
  /** Repositories on the target registry to try mounting blobs from, before the ones found in the store's tags. */
  mountFrom?: string[];
  /** The local image to push (a stored reference); default the first of `refs`. */
  source?: string;
  /** Try cross-repository mounts (default true). */
  mount?: boolean;
  /** Blobs uploaded at once. Default 3. */
  concurrency?: number;
  onEvent?: (e: PushEvent) => void;
}

export interface PushResult {
  /** Full references pushed, e.g. `127.0.0.1:5000/app:1`. */
  references: string[];
  /** Digest of the manifest (or index) the tags now point at. */
  digest: Digest;
  mediaType: string;
  size: number;
  blobs: Array<{ digest: Digest; result: BlobPushResult }>;
}

/** The manifest as it goes to a registry: every layer a compressed, stored blob. */
export interface PushableImage {
  raw: Uint8Array;
  digest: Digest;
  mediaType: string;
  manifest: Manifest;
  config: ImageConfig;
  /** Config then layers. */
  blobs: Descriptor[];
}

/**
 * Prepares a local image for a registry. Layers stored uncompressed (built
 * layers) are compressed with `compression` (once; the store keeps the
 * result), which changes the manifest; an image whose layers are all
 * compressed blobs keeps its exact manifest bytes and digest.
 */
export async function pushableImage(store: LocalImages, localRef: string, compression: Exclude<Compression, 'none'> = 'gzip'): Promise<PushableImage> {
  const img = await store.resolve(localRef);
  const diffIds = img.config.rootfs.diff_ids;
  const docker = img.manifest.mediaType === MediaType.dockerManifest;
  let changed = false;
  const layers: Descriptor[] = [];
  for (const [i, layer] of img.manifest.layers.entries()) {
    const diffId = diffIds[i];
    if (layerCompression(layer.mediaType) === 'none' && diffId) {
      const c = await store.compressedBlob(diffId, compression);
      const mediaType = docker ? dockerLayerMediaType(compression) : ociLayerMediaType(compression);
      const out: Descriptor = { mediaType, digest: c.digest, size: c.size };
      if (layer.annotations) out.annotations = { ...layer.annotations };
      layers.push(out);
      changed = true;
      continue;
    }
    if (!(await store.has(layer.digest))) {
      throw new StagecraftError('NOT_FOUND', `layer blob ${layer.digest} of ${localRef} is not in the local store`, { hint: 'pull or build the image again' });
    }
    layers.push(layer);
  }
  let raw: Uint8Array;
  let manifest: Manifest;
  const mediaType = img.manifest.mediaType ?? MediaType.ociManifest;
  if (changed) {
    manifest = { ...img.manifest, mediaType, layers };
    const doc = encodeDocument(manifest, mediaType);
    raw = doc.raw;
  } else {
    raw = new Uint8Array(await store.getBytes(img.manifestDigest));
    manifest = img.manifest;
  }
  return { raw, digest: sha256(raw), mediaType, manifest, config: img.config, blobs: [img.manifest.config, ...layers] };
}

async function withClient<T>(opts: PushImageOptions, fn: (c: RegistryClient) => Promise<T>): Promise<T> {
  if (opts.client) return fn(opts.client);
  const client = new RegistryClient(opts.clientOptions ?? {});
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function targets(refs: string | readonly string[]): Reference[] {
  const list = (typeof refs === 'string' ? [refs] : [...refs]).map((r) => parseReference(r));
  if (list.length === 0) throw new StagecraftError('USAGE', 'nothing to push: give at least one reference');
  return list;
}

/** Blob digest → repositories on `ref`'s registry whose images in the store (by tag) hold that blob. */
type MountSources = (digest: Digest) => string[];

async function mountSources(store: LocalImages, ref: Reference, explicit: readonly string[], earlier: readonly string[], enabled = true): Promise<MountSources> {
  if (!enabled) return () => [];
  const byDigest = new Map<Digest, Set<string>>();
  for (const img of (await store.list?.()) ?? []) {
    let r: Reference;
    try {
      r = parseReference(img.ref);
    } catch {
      continue; // tags that are not references are not sources
    }
    if (r.registry !== ref.registry || r.repository === ref.repository) continue;
    const m = JSON.parse((await store.getBytes(img.manifestDigest)).toString('utf8')) as Partial<Manifest>;
    for (const d of [m.config, ...(m.layers ?? [])]) {
      if (!d) continue;
      const set = byDigest.get(d.digest) ?? new Set<string>();
      set.add(r.repository);
      byDigest.set(d.digest, set);
    }
  }
  return (digest) => [...new Set([...earlier, ...explicit, ...(byDigest.get(digest) ?? [])])].filter((x) => x !== ref.repository);
}

async function pushBlobs(client: RegistryClient, store: LocalImages, ref: Reference, blobs: Descriptor[], opts: PushImageOptions, mountFrom: MountSources): Promise<PushResult['blobs']> {
  const limiter = new Limiter(opts.concurrency ?? 3);
  const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  return Promise.all(unique.map((desc) => limiter.run(async () => {
    const result = await pushBlob(client, ref, desc, async () => store.get(desc.digest), {
      mountFrom: mountFrom(desc.digest), ...(opts.chunkSize !== undefined ? { chunkSize: opts.chunkSize } : {}),
    });
    opts.onEvent?.({ kind: 'blob', digest: desc.digest, size: desc.size, result });
    return { digest: desc.digest, result };
  })));
}

/**
 * Pushes the local image tagged `refs[0]` (a reference as stored, e.g. what
 * `stagecraft build -t` tagged) to every reference in `refs`. Returns the
 * digest the registry serves for them.
 */
export async function pushImage(store: LocalImages, refs: string | readonly string[], opts: PushImageOptions = {}): Promise<PushResult> {
  const list = targets(refs);
  const image = await pushableImage(store, opts.source ?? list[0]!.toString(), opts.compression);
  return withClient(opts, async (client) => {
    const blobs: PushResult['blobs'] = [];
    const pushedTo = new Set<string>();
    for (const ref of list) {
      if (!pushedTo.has(ref.name)) {
        // Repositories pushed a moment ago (other -t names) hold every blob: the best mount sources.
        const earlier = [...pushedTo].filter((n) => n.startsWith(`${ref.registry}/`)).map((n) => n.slice(ref.registry.length + 1));
        const mountFrom = await mountSources(store, ref, opts.mountFrom ?? [], earlier, opts.mount ?? true);
        blobs.push(...(await pushBlobs(client, store, ref, image.blobs, opts, mountFrom)));
        pushedTo.add(ref.name);
      }
      const digest = await pushManifest(client, ref, ref.digest ?? ref.tag ?? 'latest', image.raw, image.mediaType);
      opts.onEvent?.({ kind: 'manifest', reference: ref.toString(), digest });
    }
    return { references: list.map((r) => r.toString()), digest: image.digest, mediaType: image.mediaType, size: image.raw.byteLength, blobs };
  });
}

/**
 * Pushes several local images (one per platform) and an index over them: each
 * manifest by digest, then the index under every reference in `refs`.
 * The index is OCI unless every manifest is Docker v2 schema 2 (then a
 * Docker manifest list), as registries and clients expect.
 */
export async function pushIndex(store: LocalImages, refs: string | readonly string[], localRefs: readonly string[], opts: PushImageOptions = {}): Promise<PushResult> {
  const list = targets(refs);
  if (localRefs.length === 0) throw new StagecraftError('USAGE', 'an index needs at least one image');
  const images = await Promise.all(localRefs.map((r) => pushableImage(store, r, opts.compression)));
  const docker = images.every((i) => i.mediaType === MediaType.dockerManifest);
  const index: Index = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.dockerManifestList : MediaType.ociIndex,
    manifests: images.map((i) => {
      const platform: Platform = { architecture: i.config.architecture, os: i.config.os };
      if (i.config.variant) platform.variant = i.config.variant;
      return { mediaType: i.mediaType, digest: i.digest, size: i.raw.byteLength, platform };
    }),
  };
  const doc = encodeDocument(index, index.mediaType!);
  return withClient(opts, async (client) => {
    const blobs: PushResult['blobs'] = [];
    const pushedTo = new Set<string>();
    for (const ref of list) {
      if (!pushedTo.has(ref.name)) {
        const mountFrom = await mountSources(store, ref, opts.mountFrom ?? [], [], opts.mount ?? true);
        for (const image of images) {
          blobs.push(...(await pushBlobs(client, store, ref, image.blobs, opts, mountFrom)));
          const d = await pushManifest(client, ref, image.digest, image.raw, image.mediaType);
          opts.onEvent?.({ kind: 'manifest', reference: ref.withDigest(d).toString(), digest: d });
        }
        pushedTo.add(ref.name);
      }
      const digest = await pushManifest(client, ref, ref.digest ?? ref.tag ?? 'latest', doc.raw, index.mediaType!);
      opts.onEvent?.({ kind: 'manifest', reference: ref.toString(), digest });
    }
    return { references: list.map((r) => r.toString()), digest: doc.descriptor.digest, mediaType: index.mediaType!, size: doc.raw.byteLength, blobs };
  });
}
