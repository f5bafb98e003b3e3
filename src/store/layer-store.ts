import { lstatSync, readFileSync, renameSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { appendFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import { digestHex, isDigest, type Digest } from '../oci/digest.js';
import { layerCompression, MediaType, ociLayerMediaType, type Compression } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { compressor, decompressor } from '../tar/compression.js';
import { extractLayer, type ExtractOptions } from '../tar/extract.js';
import { layerDirTar } from '../tar/from-dir.js';
import { tmpName, writeFileAtomic } from './atomic.js';
import type { BlobStore } from './blob-store.js';
import type { PendingSync } from './pending-sync.js';
import { StoreLock } from './lock.js';
import { spreadChildren } from './spread-dirs.js';

/** What the store knows about one unpacked layer (`<root>/layers/<hex>.json`). */
export interface LayerInfo {
  diffId: Digest;
  /** Bytes of the uncompressed tar. */
  size: number;
  /** Sum of regular file sizes, when the store unpacked the layer itself. */
  unpackedSize?: number;
  /** Blobs known to hold this layer (the uncompressed tar and/or compressed forms). */
  blobs: Descriptor[];
  /**
   * The layers whose files this layer's directory shares by hardlink (COPY
   * --from links files instead of copying them: src/fs/copy-links.ts); []
   * when it shares none. Absent on layers recorded before links were
   * tracked: unknown, so their files are linked only when they have no other
   * name.
   */
  linkedFrom?: Digest[];
}

/**
 * Unpacked, overlay-ready layer directories under `<root>/layers/<hex>/`
 * (usable as overlayfs lowerdirs), with a JSON record beside each.
 */
export class LayerStore {
  readonly dir: string;
  readonly #tmp: string;
  readonly #blobs: BlobStore;
  readonly #compressing = new Map<string, Promise<Descriptor>>();

  readonly #pending: PendingSync | undefined;

  /** `pending` notes what is written unsynced (layer directories and records) for the store's next sync. */
  constructor(root: string, tmpDir: string, blobs: BlobStore, pending?: PendingSync) {
    this.dir = join(root, 'layers');
    this.#tmp = tmpDir;
    this.#blobs = blobs;
    this.#pending = pending;
  }

  layerDir(diffId: Digest): string {
    if (!isDigest(diffId)) throw new StagecraftError('DIGEST', `not a sha256 diffId: ${JSON.stringify(diffId)}`);
    return join(this.dir, digestHex(diffId));
  }

  #infoPath(diffId: Digest): string {
    return `${this.layerDir(diffId)}.json`;
  }

  /** `<hex>.links`: the layers that took hardlinks to this layer's files, one hex diffId a line (appended). */
  #linksPath(diffId: Digest): string {
    return `${this.layerDir(diffId)}.links`;
  }

  /**
   * The layers whose directories hold hardlinks to files of `diffId`'s
   * directory (recorded before each such layer entered the store). Only
   * complete lines count: a line being appended belongs to a layer that is
   * not in the store yet. Synchronous inside, as info() below: COPY --from
   * asks for every layer of its source stage.
   */
  async linkedInto(diffId: Digest): Promise<Digest[]> {
    let text: string;
    try {
      text = readFileSync(this.#linksPath(diffId), 'utf8');
    } catch {
      return [];
    }
    const lines = text.split('\n');
    lines.pop(); // the part after the last newline: empty, or a line still being written
    return lines.filter((l) => /^[a-f0-9]{64}$/.test(l)).map((l) => `sha256:${l}` as Digest);
  }

  // hasLayer and info are synchronous inside: a stat or a read of a small record, which a rebuild
  // does for every layer of every stage in turn, costs ~10x as long through the thread pool.
  async hasLayer(diffId: Digest): Promise<boolean> {
    return (statSync(this.layerDir(diffId), { throwIfNoEntry: false })?.isDirectory() ?? false)
      && (statSync(this.#infoPath(diffId), { throwIfNoEntry: false })?.isFile() ?? false);
  }

  async info(diffId: Digest): Promise<LayerInfo | undefined> {
    try {
      return JSON.parse(readFileSync(this.#infoPath(diffId), 'utf8')) as LayerInfo;
    } catch {
      return undefined;
    }
  }

  // Not fsynced: a layer's directory is not fsynced file by file either. Whatever names a layer
  // durably (a build's cache records, a tag) is written after one sync (Store.sync: pull, load;
  // Store.syncWritten: build), which covers the directory and this record alike (pending-sync.ts).
  async #writeInfo(info: LayerInfo): Promise<void> {
    await writeFileAtomic(this.#infoPath(info.diffId), JSON.stringify(info, null, 1), this.#tmp, 0o644, { durable: false });
    this.#pending?.file(this.#infoPath(info.diffId));
  }

  /** Records that `blob` holds the layer (idempotent). */
  async addBlob(diffId: Digest, blob: Descriptor): Promise<void> {
    const info = await this.info(diffId);
    if (!info) throw new StagecraftError('NOT_FOUND', `layer ${diffId} is not in the local store`);
    if (info.blobs.some((b) => b.digest === blob.digest)) return;
    info.blobs.push({ mediaType: blob.mediaType, digest: blob.digest, size: blob.size });
    await this.#writeInfo(info);
  }

  async list(): Promise<LayerInfo[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: LayerInfo[] = [];
    for (const n of names) {
      if (!/^[a-f0-9]{64}\.json$/.test(n)) continue;
      const info = await this.info(`sha256:${n.slice(0, 64)}`);
      if (info) out.push(info);
    }
    return out;
  }

  /**
   * Unpacks a stored layer blob into an overlay-ready directory (into the
   * scratch dir first, renamed into place when complete and verified).
   */
  async unpackLayer(blob: Descriptor | Digest, opts: Pick<ExtractOptions, 'devices' | 'expectedDiffId'> = {}): Promise<{ diffId: Digest; size: number }> {
    const desc: Descriptor = typeof blob === 'string' ? { mediaType: MediaType.ociLayer, digest: blob, size: await this.#blobs.size(blob) } : blob;
    if (opts.expectedDiffId && (await this.hasLayer(opts.expectedDiffId))) {
      await this.addBlob(opts.expectedDiffId, desc);
      return { diffId: opts.expectedDiffId, size: (await this.info(opts.expectedDiffId))!.size };
    }
    await spreadChildren(this.#tmp); // a store made by an older version gets the flag at its first pull
    const work = tmpName(this.#tmp, 'layer');
    try {
      const r = await extractLayer(this.#blobs.get(desc.digest), work, opts).catch((e: unknown) => { throw unpackError(desc, e); });
      await this.#commitUnpacked(work, r, desc);
      return { diffId: r.diffId, size: r.tarSize };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Stores a layer blob from `body` and unpacks it in the same pass: the
   * bytes go to the blob store and to the extractor at once (the faster waits
   * for the slower), so unpacking overlaps the download instead of following
   * it. Nothing is kept unless the blob matches `desc` and, with
   * `expectedDiffId`, the tar matches it. `durable` as for BlobStore.put.
   */
  async putAndUnpack(desc: Descriptor, body: Readable, opts: Pick<ExtractOptions, 'devices' | 'expectedDiffId'> & { durable?: boolean } = {}): Promise<{ diffId: Digest; size: number }> {
    const { durable, ...extract } = opts;
    if (opts.expectedDiffId && (await this.hasLayer(opts.expectedDiffId))) {
      await this.#blobs.put(desc, body, { durable });
      await this.addBlob(opts.expectedDiffId, desc);
      return { diffId: opts.expectedDiffId, size: (await this.info(opts.expectedDiffId))!.size };
    }
    const toBlob = new PassThrough({ highWaterMark: 1 << 20 });
    const toTar = new PassThrough({ highWaterMark: 1 << 20 });
    const stopAll = (e: unknown): void => {
      const err = e instanceof Error ? e : new Error(String(e));
      body.destroy(err);
      toBlob.destroy(err);
      toTar.destroy(err);
    };
    body.on('error', stopAll); // kept: the download may still fail after this returns
    // Errors reach the caller through the two promises below; a branch whose reader has already
    // stopped must not turn a later error into an uncaught exception.
    toBlob.on('error', () => undefined);
    toTar.on('error', () => undefined);
    await spreadChildren(this.#tmp); // a store made by an older version gets the flag at its first pull
    body.pipe(toBlob);
    body.pipe(toTar);
    const work = tmpName(this.#tmp, 'layer');
    try {
      // The blob failing stops everything. The unpacking failing lets the download finish into
      // the blob store alone (bounded by the blob's size): a corrupt download then reports its
      // digest, as without the unpacking, rather than whatever the bad bytes did to gunzip or tar.
      // toBlob ends only when body does: a self-verifying body (a registry download) vouches for it.
      const stored = this.#blobs.put(desc, toBlob, { durable, verifiedBy: body }).catch((e: unknown) => { stopAll(e); throw e; });
      const unpacked = extractLayer(toTar, work, extract).catch((e: unknown) => {
        body.unpipe(toTar);
        toTar.resume();
        throw unpackError(desc, e);
      });
      const [s, u] = await Promise.allSettled([stored, unpacked]);
      if (s.status === 'rejected') throw s.reason;
      if (u.status === 'rejected') throw u.reason;
      await this.#commitUnpacked(work, u.value, desc);
      return { diffId: u.value.diffId, size: u.value.tarSize };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Moves an unpacked, verified layer directory into the store (or records the blob on the one there). */
  async #commitUnpacked(work: string, r: { diffId: Digest; tarSize: number; unpackedSize: number }, desc: Descriptor): Promise<void> {
    const blobs: Descriptor[] = [{ mediaType: desc.mediaType, digest: desc.digest, size: desc.size }];
    await this.#commit(r.diffId, async () => {
      if (await this.hasLayer(r.diffId)) {
        await this.addBlob(r.diffId, desc);
        return;
      }
      await rm(this.layerDir(r.diffId), { recursive: true, force: true }); // no record under the lock: debris from a crash
      await rename(work, this.layerDir(r.diffId));
      this.#pending?.everything(); // an unpacked layer: thousands of files, one syncfs
      await this.#writeInfo({ diffId: r.diffId, size: r.tarSize, unpackedSize: r.unpackedSize, blobs, linkedFrom: [] });
    });
  }

  /**
   * Moves an already overlay-formatted directory (e.g. an overlay upper dir,
   * on the same filesystem) into the store by rename. `size` is the byte
   * length of the layer's uncompressed tar; `linkedFrom`, the layers whose
   * files the directory holds hardlinks to: each of them records this layer
   * in its `.links` list before the directory enters the store.
   */
  async commitLayerDir(dir: string, diffId: Digest, size: number, linkedFrom: readonly Digest[] = []): Promise<void> {
    await this.#commit(diffId, async () => {
      if (await this.hasLayer(diffId)) {
        await rm(dir, { recursive: true, force: true });
        return;
      }
      // One short O_APPEND write per source layer: concurrent writers never interleave within a line.
      for (const src of new Set(linkedFrom)) {
        await appendFile(this.#linksPath(src), `${digestHex(diffId)}\n`);
        this.#pending?.file(this.#linksPath(src));
      }
      // A directory left by an interrupted commit (no record: hasLayer said no) is replaced. The
      // checks and the rename are synchronous: microseconds, where each took a thread-pool round trip.
      if (lstatSync(this.layerDir(diffId), { throwIfNoEntry: false })) await rm(this.layerDir(diffId), { recursive: true, force: true });
      try {
        renameSync(dir, this.layerDir(diffId));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new StagecraftError('STORE', `cannot move ${dir} into the layer store: ${code ?? (e as Error).message}`, {
          cause: e, hint: code === 'EXDEV' ? 'the directory must be on the same filesystem as the store root' : undefined,
        });
      }
      this.#pending?.tree(this.layerDir(diffId));
      const existing = await this.#blobs.has(diffId);
      await this.#writeInfo({ diffId, size, blobs: existing ? [{ mediaType: MediaType.ociLayer, digest: diffId, size }] : [], linkedFrom: [...new Set(linkedFrom)] });
    });
  }

  /** Runs the check-rename-record step for one layer under a per-layer lock (across processes too). */
  #commit(diffId: Digest, fn: () => Promise<void>): Promise<void> {
    return new StoreLock(`${this.layerDir(diffId)}.lock`).run(fn);
  }

  /**
   * The uncompressed tar of a layer: from the stored tar blob, else by
   * decompressing a stored compressed blob, else by archiving the layer
   * directory (stored as a blob first, so its digest is checked against the
   * diffId before anything is returned).
   */
  async layerTar(diffId: Digest): Promise<Readable> {
    if (await this.#blobs.has(diffId)) return this.#blobs.get(diffId);
    const info = await this.info(diffId);
    for (const b of info?.blobs ?? []) {
      const c = layerCompression(b.mediaType);
      if (c && c !== 'none' && (await this.#blobs.has(b.digest))) {
        const d = decompressor(c);
        const src = this.#blobs.get(b.digest);
        src.on('error', (e) => d.destroy(e));
        return src.pipe(d) as unknown as Readable;
      }
    }
    if (!(await this.hasLayer(diffId))) throw new StagecraftError('NOT_FOUND', `layer ${diffId} is not in the local store`);
    // Streamed from the layer directory and checked against the diffId as it
    // ends, not stored as a blob first: a save or a compression reads it once,
    // and a stored copy would double the disk the layer takes (and the writes
    // of a save). A stream that does not match fails at its end; the archive
    // or compressed blob being written from it is then discarded.
    return verifiedTar(layerDirTar(this.layerDir(diffId)), diffId);
  }

  /** Byte length of the layer's uncompressed tar. */
  async tarSize(diffId: Digest): Promise<number> {
    if (await this.#blobs.has(diffId)) return this.#blobs.size(diffId);
    const info = await this.info(diffId);
    if (info) return info.size;
    throw new StagecraftError('NOT_FOUND', `layer ${diffId} is not in the local store`);
  }

  /**
   * A compressed blob of the layer, made once (when an output first needs it)
   * and remembered in the layer record. gzip runs through pigz when present.
   */
  compressedBlob(diffId: Digest, compression: Exclude<Compression, 'none'>): Promise<Descriptor> {
    const key = `${diffId}/${compression}`;
    const running = this.#compressing.get(key);
    if (running) return running;
    const p = this.#compress(diffId, compression).finally(() => this.#compressing.delete(key));
    this.#compressing.set(key, p);
    return p;
  }

  async #compress(diffId: Digest, compression: Exclude<Compression, 'none'>): Promise<Descriptor> {
    const mediaType = ociLayerMediaType(compression);
    const info = await this.info(diffId);
    for (const b of info?.blobs ?? []) {
      if (layerCompression(b.mediaType) === compression && (await this.#blobs.has(b.digest))) return { mediaType, digest: b.digest, size: b.size };
    }
    const tar = await this.layerTar(diffId);
    const z = compressor(compression);
    tar.on('error', (e) => z.destroy(e));
    const r = await this.#blobs.put(undefined, tar.pipe(z) as unknown as Readable);
    const desc: Descriptor = { mediaType, digest: r.digest, size: r.size };
    if (info) await this.addBlob(diffId, desc);
    return desc;
  }

  /** Compresses several layers, a few at a time. */
  async compressedBlobs(diffIds: Digest[], compression: Exclude<Compression, 'none'>): Promise<Descriptor[]> {
    const out: Descriptor[] = new Array(diffIds.length);
    let next = 0;
    const workers = Array.from({ length: Math.max(1, Math.min(diffIds.length, Math.ceil(cpus().length / 2))) }, async () => {
      while (next < diffIds.length) {
        const i = next++;
        out[i] = await this.compressedBlob(diffIds[i]!, compression);
      }
    });
    await Promise.all(workers);
    return out;
  }

  /** Layer directories that have no record beside them. */
  async orphanDirs(): Promise<Digest[]> {
    const names = new Set(await readdir(this.dir).catch(() => [] as string[]));
    return [...names].filter((n) => /^[a-f0-9]{64}$/.test(n) && !names.has(`${n}.json`)).map((n) => `sha256:${n}` as Digest);
  }

  async remove(diffId: Digest): Promise<void> {
    await rm(this.#infoPath(diffId), { force: true });
    await rm(this.#linksPath(diffId), { force: true });
    await rm(this.layerDir(diffId), { recursive: true, force: true });
  }
}

function unpackError(desc: Descriptor, e: unknown): unknown {
  if (e instanceof StagecraftError) return e;
  return new StagecraftError('STORE', `cannot unpack layer ${desc.digest}: ${(e as Error).message}`, { cause: e });
}

/** `tar` passed through, failing at its end when its SHA-256 is not `diffId`. */
function verifiedTar(tar: Readable, diffId: Digest): Readable {
  const hash = createHash('sha256');
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) { hash.update(chunk); cb(null, chunk); },
    flush(cb) {
      const got = `sha256:${hash.digest('hex')}`;
      if (got === diffId) cb();
      else cb(new StagecraftError('STORE', `layer directory for ${diffId} no longer reproduces its diffId: its tar has ${got}`, { hint: 'prune the store and rebuild' }));
    },
  });
  tar.on('error', (e) => out.destroy(new StagecraftError('STORE', `cannot read the layer directory of ${diffId}: ${e.message}`, { cause: e })));
  return tar.pipe(out);
}
