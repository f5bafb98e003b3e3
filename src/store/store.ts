import { chmod, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import { encodeDocument, buildManifest, parseImageConfig, parseManifest } from '../oci/documents.js';
import { isDigest, sha256, type Digest } from '../oci/digest.js';
import { isManifestMediaType, MediaType, type Compression } from '../oci/media-types.js';
import { Annotation, type Descriptor, type ImageConfig, type Manifest } from '../oci/types.js';
import type { ExtractOptions } from '../tar/extract.js';
import { BlobStore } from './blob-store.js';
import { CacheRecords } from './cache-records.js';
import { collectGarbage, type PruneResult } from './gc.js';
import { LayerStore, type LayerInfo } from './layer-store.js';
import { StoreLock } from './lock.js';
import { refOf, TagIndex } from './tags.js';
import { runHelper } from '../util/helper-shell.js';
import { spreadChildren } from './spread-dirs.js';
import { removeTree } from '../util/remove-tree.js';
import { fsyncPaths, PendingSync, type SyncPlan } from './pending-sync.js';

export type { LayerInfo, PruneResult };

/** An image found in the store. */
export interface ResolvedLocalImage {
  /** The reference it was found by, when it was found by a tag. */
  ref?: string;
  manifestDigest: Digest;
  manifest: Manifest;
  configDigest: Digest;
  config: ImageConfig;
}

export interface ImageSummary {
  ref: string;
  manifestDigest: Digest;
  configDigest: Digest;
  /** config.created, when the image has one. */
  created?: string;
  /** Sum of the layers' uncompressed tar sizes plus the config. */
  size: number;
}

/** An image for Store.writeImage: its config (raw bytes are stored exactly) and layer descriptors. */
export interface ImageToWrite {
  config: ImageConfig | Uint8Array;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/**
 * The local content-addressed store:
 *
 *     <root>/blobs/sha256/<hex>        blobs (layers as pulled or built, configs, manifests)
 *     <root>/layers/<hex>/             unpacked overlay-ready layer dirs, by diffId
 *     <root>/layers/<hex>.json         LayerInfo for each
 *     <root>/index.json                OCI index of tagged images (ref.name = full reference)
 *     <root>/cache/<hex>.json          build-cache records
 *     <root>/tmp/                      scratch space for atomic renames
 *     <root>/lock                      inter-process lock for tag changes and prune
 *
 * Blob and layer writes are atomic renames of complete, verified content and
 * need no lock; tag changes and garbage collection take the lock.
 */
export class Store {
  readonly root: string;
  readonly blobs: BlobStore;
  readonly layers: LayerStore;
  readonly #tags: TagIndex;
  readonly #cache: CacheRecords;
  readonly #lock: StoreLock;
  readonly tmpDir: string;
  /** Unsynced writes since the last sync (pending-sync.ts). */
  readonly #pending = new PendingSync();
  /** Scratch directories being removed (discard). */
  readonly #discarding = new Set<Promise<void>>();

  private constructor(root: string) {
    this.root = root;
    this.tmpDir = join(root, 'tmp');
    this.blobs = new BlobStore(root, this.tmpDir, this.#pending);
    this.layers = new LayerStore(root, this.tmpDir, this.blobs, this.#pending);
    this.#tags = new TagIndex(root, this.tmpDir);
    this.#cache = new CacheRecords(root, this.tmpDir);
    this.#lock = new StoreLock(join(root, 'lock'));
  }

  /** Opens (creating when needed) a store at `root`. The root is private (0700): layer dirs may hold device nodes and setuid files. */
  static async open(root: string): Promise<Store> {
    try {
      await mkdir(root, { recursive: true, mode: 0o700 });
      await chmod(root, 0o700);
      for (const d of ['blobs/sha256', 'layers', 'cache']) await mkdir(join(root, d), { recursive: true, mode: 0o700 });
      // A new scratch directory is marked at once, so that a new store's first steps are spread too (spread-dirs.ts).
      if (await mkdir(join(root, 'tmp'), { recursive: true, mode: 0o700 }) !== undefined) await spreadChildren(join(root, 'tmp'));
    } catch (e) {
      throw new StagecraftError('STORE', `cannot open the image store at ${root}: ${(e as Error).message}`, { cause: e, hint: 'set STAGECRAFT_ROOT to a writable directory' });
    }
    return new Store(root);
  }

  // ------------------------------------------------------------- blobs

  has(digest: Digest): Promise<boolean> { return this.blobs.has(digest); }
  path(digest: Digest): string { return this.blobs.path(digest); }
  /** Stores a blob, verified against `desc` when given (the registry client's BlobSink). */
  put(desc: Pick<Descriptor, 'digest' | 'size'> | undefined, body: Readable | AsyncIterable<Uint8Array> | Uint8Array): Promise<{ digest: Digest; size: number }> {
    return this.blobs.put(desc, body);
  }
  get(digest: Digest): Readable { return this.blobs.get(digest); }
  /** This store as the registry client's BlobSink (`has` + verified `put`). */
  get sink(): { has(digest: Digest): Promise<boolean>; put(desc: Descriptor, body: Readable): Promise<void> } {
    return { has: (d) => this.blobs.has(d), put: async (desc, body) => { await this.blobs.put(desc, body); } };
  }
  getBytes(digest: Digest): Promise<Buffer> { return this.blobs.getBytes(digest); }
  getJSON<T = unknown>(digest: Digest): Promise<T> { return this.blobs.getJSON<T>(digest); }

  // ------------------------------------------------------------ layers

  hasLayer(diffId: Digest): Promise<boolean> { return this.layers.hasLayer(diffId); }
  layerDir(diffId: Digest): string { return this.layers.layerDir(diffId); }
  layerInfo(diffId: Digest): Promise<LayerInfo | undefined> { return this.layers.info(diffId); }
  /** Stores a layer blob and unpacks it in one pass (LayerStore.putAndUnpack). */
  putAndUnpackLayer(desc: Descriptor, body: Readable, opts: Pick<ExtractOptions, 'devices' | 'expectedDiffId'> & { durable?: boolean } = {}): Promise<{ diffId: Digest; size: number }> {
    return this.layers.putAndUnpack(desc, body, opts);
  }

  /** Unpacks a stored layer blob; `mediaType` is recorded with the blob (compression is detected from the bytes). */
  async unpackLayer(blobDigest: Digest, mediaType: string, opts: Pick<ExtractOptions, 'devices' | 'expectedDiffId'> = {}): Promise<{ diffId: Digest; size: number }> {
    return this.layers.unpackLayer({ mediaType, digest: blobDigest, size: await this.blobs.size(blobDigest) }, opts);
  }
  commitLayerDir(dir: string, diffId: Digest, size: number, linkedFrom?: readonly Digest[]): Promise<void> { return this.layers.commitLayerDir(dir, diffId, size, linkedFrom); }
  /** The layers holding hardlinks to files of this layer (LayerStore.linkedInto). */
  linkedInto(diffId: Digest): Promise<Digest[]> { return this.layers.linkedInto(diffId); }
  layerTar(diffId: Digest): Promise<Readable> { return this.layers.layerTar(diffId); }
  compressedBlob(diffId: Digest, compression: Exclude<Compression, 'none'>): Promise<Descriptor> { return this.layers.compressedBlob(diffId, compression); }
  compressedBlobs(diffIds: Digest[], compression: Exclude<Compression, 'none'>): Promise<Descriptor[]> { return this.layers.compressedBlobs(diffIds, compression); }

  // ------------------------------------------------------------ images

  /**
   * Stores a config and an OCI manifest referencing `layers`: blobs already in
   * the store, or built layers (uncompressed media type, digest = diffId) that
   * exist only as a layer directory until `layerTar`/`compressedBlob` is
   * called for an export. Returns the manifest digest.
   */
  async writeImage(image: ImageToWrite): Promise<Digest> {
    return (await this.#writeImage(image, true)).digest;
  }

  /**
   * writeImage without fsyncing the config and manifest: for a caller that
   * syncs the store's filesystem (sync()) before anything names the image,
   * when `wrote` says a blob was new (a build: one sync covers its layers,
   * cache records and image).
   */
  writeImageDeferred(image: ImageToWrite): Promise<{ digest: Digest; wrote: boolean }> {
    return this.#writeImage(image, false);
  }

  async #writeImage(image: ImageToWrite, durable: boolean): Promise<{ digest: Digest; wrote: boolean }> {
    // Raw config bytes are stored exactly (a loaded image keeps its image id).
    const parsed = image.config instanceof Uint8Array ? parseImageConfig(image.config) : image.config;
    const diffIds = parsed.rootfs.diff_ids;
    if (diffIds.length !== image.layers.length) {
      throw new StagecraftError('INTERNAL', `image config lists ${diffIds.length} diff_ids but ${image.layers.length} layers were given`);
    }
    for (const [i, l] of image.layers.entries()) {
      if (await this.blobs.has(l.digest)) continue;
      // A built layer (uncompressed, digest = diffId) may exist only as its
      // directory; layerTar() streams its tar from there when an output needs it.
      if (l.digest === diffIds[i] && (await this.layers.hasLayer(l.digest))) continue;
      throw new StagecraftError('NOT_FOUND', `layer blob ${l.digest} is not in the local store`);
    }
    const config = image.config instanceof Uint8Array
      ? { raw: image.config, descriptor: { mediaType: MediaType.ociConfig, digest: sha256(image.config), size: image.config.byteLength } }
      : encodeDocument(image.config, MediaType.ociConfig);
    const manifest = encodeDocument(buildManifest(config.descriptor, image.layers, image.annotations), MediaType.ociManifest);
    let wrote = false;
    for (const doc of [config, manifest]) {
      if (await this.blobs.has(doc.descriptor.digest)) continue;
      await this.blobs.put(doc.descriptor, doc.raw, { durable });
      wrote = true;
    }
    return { digest: manifest.descriptor.digest, wrote };
  }

  /** Points `ref` (a full, normalised reference) at a stored manifest, replacing any previous target. */
  async tag(ref: string, manifestDigest: Digest): Promise<void> {
    await this.tagAll([ref], manifestDigest);
  }

  /**
   * Points every ref at the image in one write of the tag index. With `after` (a build: the sync
   * of the image's layers and documents), the new index is written and fsynced while `after` is
   * pending and renamed into place once it resolves, so no tag names an image before it is on disk
   * and the build waits for one fsync fewer; when `after` rejects, no tag changes.
   */
  async tagAll(refs: readonly string[], manifestDigest: Digest, after?: Promise<unknown>): Promise<void> {
    after?.catch(() => undefined); // its rejection is thrown below, once awaited
    const { manifest, mediaType, size } = await this.#manifest(manifestDigest);
    const config = parseImageConfig(await this.blobs.getBytes(manifest.config.digest));
    await this.#lock.run(async () => {
      const index = await this.#tags.read();
      for (const ref of refs) {
        const annotations: Record<string, string> = { [Annotation.refName]: ref };
        if (config.created) annotations[Annotation.created] = config.created;
        index.manifests = index.manifests.filter((d) => refOf(d) !== ref);
        index.manifests.push({ mediaType, digest: manifestDigest, size, annotations });
      }
      await this.#tags.write(index, after);
    });
  }

  /** Removes a tag. Returns false when there was none. */
  untag(ref: string): Promise<boolean> {
    return this.#lock.run(async () => {
      const index = await this.#tags.read();
      const kept = index.manifests.filter((d) => refOf(d) !== ref);
      if (kept.length === index.manifests.length) return false;
      await this.#tags.write({ ...index, manifests: kept });
      return true;
    });
  }

  /**
   * Finds an image by tag (exact reference string), by manifest or config
   * digest (`sha256:<hex>`), or by a unique prefix of at least 4 hex digits of
   * either (Docker's short image ids are config digest prefixes).
   */
  async resolve(refOrDigest: string): Promise<ResolvedLocalImage> {
    const index = await this.#tags.read();
    const tagged = index.manifests.find((d) => refOf(d) === refOrDigest);
    if (tagged) return { ref: refOrDigest, ...(await this.#image(tagged.digest)) };
    if (isDigest(refOrDigest) && (await this.blobs.has(refOrDigest))) {
      const raw = await this.blobs.getJSON<{ mediaType?: string; config?: unknown }>(refOrDigest);
      if (raw.config !== undefined) return this.#image(refOrDigest);
    }
    const prefix = refOrDigest.replace(/^sha256:/, '');
    if (/^[a-f0-9]{4,64}$/.test(prefix)) {
      const hits = new Map<Digest, Digest>();
      for (const d of index.manifests) {
        const img = await this.#image(d.digest).catch(() => undefined);
        if (!img) continue;
        if (img.manifestDigest.slice(7).startsWith(prefix) || img.configDigest.slice(7).startsWith(prefix)) hits.set(img.manifestDigest, img.configDigest);
      }
      const configs = new Set(hits.values());
      if (hits.size === 1 || (hits.size > 1 && configs.size === 1 && [...configs][0]!.slice(7).startsWith(prefix))) return this.#image([...hits.keys()][0]!);
      if (hits.size > 1) throw new StagecraftError('NOT_FOUND', `image id prefix ${refOrDigest} is ambiguous (${hits.size} images match)`, { hint: 'use more digits' });
    }
    throw new StagecraftError('NOT_FOUND', `image ${refOrDigest} is not in the local store`, { hint: 'build or pull it first; `stagecraft images` lists what is there' });
  }

  /** Tagged images, sorted by reference. */
  async list(): Promise<ImageSummary[]> {
    const index = await this.#tags.read();
    const out: ImageSummary[] = [];
    for (const d of index.manifests) {
      const img = await this.#image(d.digest);
      let size = img.manifest.config.size;
      for (const [i, l] of img.manifest.layers.entries()) {
        const diffId = img.config.rootfs.diff_ids[i];
        size += (diffId && (await this.layers.info(diffId))?.size) ?? l.size;
      }
      const s: ImageSummary = { ref: refOf(d), manifestDigest: d.digest, configDigest: img.configDigest, size };
      if (img.config.created) s.created = img.config.created;
      out.push(s);
    }
    return out;
  }

  /**
   * Removes a scratch directory (a step's snapshot dir, already unmounted) in
   * the background. Why: a step's scratch takes 3-6 ms to remove on the build
   * VM, on the critical path of every step when awaited, and nothing reads it
   * again. `discarded()` waits for every removal started; a build calls it
   * before it returns. A removal that fails leaves the directory for prune
   * (scratch older than an hour), as an awaited rm with `force` would.
   * removeTree takes half the thread-pool round trips of a recursive rm.
   */
  discard(dir: string): void {
    const p: Promise<void> = removeTree(dir).catch(() => undefined).finally(() => { this.#discarding.delete(p); });
    this.#discarding.add(p);
  }

  /** Resolves when every removal `discard` started so far is done. */
  async discarded(): Promise<void> {
    while (this.#discarding.size > 0) await Promise.all([...this.#discarding]);
  }

  /**
   * Removes blobs and layers not reachable from a tag or a build-cache record
   * (any `sha256:<hex>` string in a record's value is a root). `all` also
   * drops every cache record first. Scratch files older than an hour go too.
   */
  prune(opts: { all?: boolean } = {}): Promise<PruneResult> {
    return this.#lock.run(async () => {
      const cacheRecords = opts.all ? await this.#cache.clear() : 0;
      const index = await this.#tags.read();
      const r = await collectGarbage(this.blobs, this.layers, index.manifests.map((d) => d.digest), this.#cache.values());
      r.cacheRecordsRemoved = cacheRecords;
      const now = Date.now();
      for (const n of await readdir(this.tmpDir).catch(() => [] as string[])) {
        const p = join(this.tmpDir, n);
        const st = await stat(p).catch(() => undefined);
        if (st && now - st.mtimeMs > 3600_000) await rm(p, { recursive: true, force: true });
      }
      return r;
    });
  }

  /**
   * Writes everything the store's filesystem holds in memory to disk
   * (syncfs(2) through the syscall helper, else `sync -f`). Step snapshots
   * are mounted `volatile` (overlay.ts): their unmount no longer syncs the
   * whole filesystem once per step, so a build calls this once, before its
   * cache records and tags may point at the new layers.
   */
  async sync(): Promise<void> {
    const plan = this.#pending.take();
    try {
      await this.#syncFilesystem();
    } catch (e) {
      this.#pending.restore(plan);
      throw e;
    }
  }

  /** What the next syncWritten would cover (nothing is taken). */
  pendingWrites(): SyncPlan {
    return this.#pending.plan();
  }

  /**
   * Makes what the store wrote unsynced since the last sync durable: an fsync
   * of each of those files and directories when they are few (a build's
   * small step layers, its config and manifest), else one sync of the whole
   * filesystem (pending-sync.ts says why).
   */
  async syncWritten(): Promise<void> {
    const plan = this.#pending.take();
    try {
      if (plan.kind === 'filesystem') await this.#syncFilesystem();
      else if (plan.kind === 'paths') await fsyncPaths(plan.files, plan.dirs);
    } catch (e) {
      this.#pending.restore(plan);
      if (e instanceof StagecraftError) throw e;
      throw new StagecraftError('STORE', `cannot sync the store (${this.root}): ${(e as Error).message}`, { cause: e });
    }
  }

  async #syncFilesystem(): Promise<void> {
    const r = await runHelper('sync', ['-f', this.root]);
    if (r.code !== 0) throw new StagecraftError('STORE', `cannot sync the store's filesystem (${this.root}): ${r.stderr.trim() || `sync exited ${r.code}`}`);
  }

  // ------------------------------------------------------------- cache

  cacheGet<T = unknown>(key: string): Promise<T | undefined> { return this.#cache.get<T>(key); }
  cachePut(key: string, value: unknown): Promise<void> { return this.#cache.put(key, value); }

  // ----------------------------------------------------------- private

  async #manifest(digest: Digest): Promise<{ manifest: Manifest; mediaType: string; size: number }> {
    const raw = await this.blobs.getBytes(digest);
    let manifest: Manifest;
    try {
      manifest = parseManifest(raw);
    } catch (e) {
      throw new StagecraftError('STORE', `blob ${digest} is not an image manifest: ${(e as Error).message}`, { cause: e });
    }
    const mediaType = manifest.mediaType && isManifestMediaType(manifest.mediaType) ? manifest.mediaType : MediaType.ociManifest;
    return { manifest, mediaType, size: raw.length };
  }

  async #image(manifestDigest: Digest): Promise<ResolvedLocalImage> {
    const { manifest } = await this.#manifest(manifestDigest);
    const config = parseImageConfig(await this.blobs.getBytes(manifest.config.digest));
    return { manifestDigest, manifest, configDigest: manifest.config.digest, config };
  }
}
