import { isDigest, type Digest } from '../oci/digest.js';
import type { BlobStore } from './blob-store.js';
import type { LayerStore } from './layer-store.js';

export interface PruneResult {
  blobsRemoved: number;
  layersRemoved: number;
  bytesFreed: number;
  cacheRecordsRemoved: number;
}

/** Every `sha256:<hex>` string anywhere inside a JSON value. */
function* digestsIn(v: unknown): Generator<Digest> {
  if (typeof v === 'string') {
    for (const m of v.matchAll(/sha256:[a-f0-9]{64}/g)) yield m[0] as Digest;
  } else if (Array.isArray(v)) {
    for (const x of v) yield* digestsIn(x);
  } else if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) yield* digestsIn(x);
  }
}

/**
 * Mark and sweep. Roots: tagged manifests and every digest named by a cache
 * record. From a manifest or index blob, everything it references is live;
 * from a config, its layers (by diffId); a live layer keeps all its blobs.
 */
export async function collectGarbage(blobs: BlobStore, layers: LayerStore, tagged: Digest[], cacheValues: AsyncIterable<unknown>): Promise<PruneResult> {
  const liveBlobs = new Set<Digest>();
  const liveLayers = new Set<Digest>();
  const infos = await layers.list();
  const layerByBlob = new Map<Digest, Digest>();
  for (const info of infos) for (const b of info.blobs) layerByBlob.set(b.digest, info.diffId);
  const diffIds = new Set(infos.map((i) => i.diffId));

  const queue: Digest[] = [...tagged];
  for await (const v of cacheValues) queue.push(...digestsIn(v));
  while (queue.length) {
    const d = queue.pop()!;
    if (diffIds.has(d)) liveLayers.add(d);
    const owner = layerByBlob.get(d);
    if (owner) liveLayers.add(owner);
    if (liveBlobs.has(d) || !(await blobs.has(d))) continue;
    liveBlobs.add(d);
    if ((await blobs.size(d)) > 4 << 20) continue; // large blobs are layers, not JSON documents
    let doc: Record<string, unknown>;
    try {
      doc = await blobs.getJSON<Record<string, unknown>>(d);
    } catch {
      continue;
    }
    if (doc === null || typeof doc !== 'object') continue;
    const config = doc.config as { digest?: unknown } | undefined;
    if (config && isDigest(config.digest)) queue.push(config.digest);
    for (const key of ['layers', 'manifests'] as const) {
      const list = doc[key];
      if (Array.isArray(list)) for (const x of list) if (isDigest((x as { digest?: unknown }).digest)) queue.push((x as { digest: Digest }).digest);
    }
    const subject = doc.subject as { digest?: unknown } | undefined;
    if (subject && isDigest(subject.digest)) queue.push(subject.digest);
    const rootfs = doc.rootfs as { diff_ids?: unknown } | undefined;
    if (rootfs && Array.isArray(rootfs.diff_ids)) for (const x of rootfs.diff_ids) if (isDigest(x)) queue.push(x);
  }
  for (const l of liveLayers) {
    const info = infos.find((i) => i.diffId === l);
    for (const b of info?.blobs ?? []) liveBlobs.add(b.digest);
    liveBlobs.add(l); // the uncompressed tar blob, if stored
  }

  const result: PruneResult = { blobsRemoved: 0, layersRemoved: 0, bytesFreed: 0, cacheRecordsRemoved: 0 };
  for (const info of infos) {
    if (liveLayers.has(info.diffId)) continue;
    await layers.remove(info.diffId);
    result.layersRemoved++;
  }
  // Directories without a record are debris from an interrupted unpack or commit.
  for (const d of await layers.orphanDirs()) {
    await layers.remove(d);
    result.layersRemoved++;
  }
  for (const d of await blobs.list()) {
    if (liveBlobs.has(d)) continue;
    result.bytesFreed += await blobs.remove(d);
    result.blobsRemoved++;
  }
  return result;
}
