import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { StagecraftError } from '../errors.js';
import { parseImageConfig, parseIndex, parseManifest } from '../oci/documents.js';
import { digestHex, isDigest, sha256, type Digest } from '../oci/digest.js';
import { isConfigMediaType, isIndexMediaType, isManifestMediaType, layerCompression, ociLayerMediaType, sniffCompression } from '../oci/media-types.js';
import { Annotation, type Descriptor } from '../oci/types.js';
import { parseReference } from '../reference/index.js';
import type { Store } from '../store/index.js';
import { streamToNewFile, tmpName } from '../store/atomic.js';
import { uncompressed } from '../tar/compression.js';
import { openArchive, type ArchiveSource } from './source.js';

export interface LoadedImage {
  /** Normalised references the image was tagged with (empty when the archive named none). */
  refs: string[];
  manifestDigest: Digest;
  configDigest: Digest;
}

export interface LoadOptions {
  /**
   * Load only the image with this reference (matched after normalisation,
   * so `app` finds `docker.io/library/app:latest`). Fails when absent.
   */
  ref?: string;
}

function archiveError(message: string, hint?: string): StagecraftError {
  return new StagecraftError('ARCHIVE', message, { hint });
}

function normalize(ref: string): string | undefined {
  try { return parseReference(ref).toString(); } catch { return undefined; }
}

interface DockerManifestEntry { Config: string; RepoTags?: string[] | null; Layers: string[] }

/**
 * Loads images from a `docker save` archive (classic v1.2 or Docker ≥25's
 * hybrid with an OCI layout inside) or an OCI image layout (tar or
 * directory) into the store, tagging them. Every layer is stored, verified
 * against the config's diffIds, and unpacked.
 */
export async function loadArchive(store: Store, path: string, opts: LoadOptions = {}): Promise<LoadedImage[]> {
  const { source, cleanup } = await openMaybeCompressed(store, path);
  try {
    const want = opts.ref === undefined ? undefined : normalize(opts.ref);
    if (opts.ref !== undefined && want === undefined) throw archiveError(`${JSON.stringify(opts.ref)} is not a valid image reference`);
    let loaded: LoadedImage[];
    if (source.has('manifest.json')) loaded = await loadDockerSave(store, source, want);
    else if (source.has('index.json')) loaded = await loadOciLayout(store, source, want);
    else throw archiveError(`${source.description} has neither manifest.json nor index.json`, 'only docker-save (v1.2+) and OCI image layout archives can be loaded; pre-1.10 docker archives are not supported');
    if (want !== undefined && loaded.length === 0) throw archiveError(`${source.description} has no image tagged ${opts.ref}`);
    if (loaded.length === 0) throw archiveError(`${source.description} holds no container images`, 'OCI artifacts (Helm charts, signatures, ...) are not images and are not loaded');
    return loaded;
  } finally {
    await cleanup();
  }
}

/** Loads exactly one image: the one named by `ref`, or the only image in the archive. */
export async function loadArchiveImage(store: Store, path: string, ref?: string): Promise<LoadedImage> {
  if (ref === undefined) {
    const { source, cleanup } = await openMaybeCompressed(store, path);
    try {
      const count = source.has('manifest.json') ? dockerEntries(await source.readBytes('manifest.json'), source).length : undefined;
      if (count !== undefined && count !== 1) throw archiveError(`${source.description} holds ${count} images; name the one to load`, 'pass a reference such as name:tag');
    } finally {
      await cleanup();
    }
  }
  const all = await loadArchive(store, path, ref === undefined ? {} : { ref });
  if (all.length !== 1) throw archiveError(`${path} holds ${all.length} images; name the one to load`, 'pass a reference such as name:tag');
  return all[0]!;
}

async function openMaybeCompressed(store: Store, path: string): Promise<{ source: ArchiveSource; cleanup: () => Promise<void> }> {
  let head = Buffer.alloc(0);
  try {
    const fh = await open(path, 'r');
    try { head = Buffer.alloc(4); await fh.read(head, 0, 4, 0); } finally { await fh.close(); }
  } catch { /* a directory, or missing: openArchive reports it */ }
  if (sniffCompression(head) === 'none') return { source: await openArchive(path), cleanup: async () => {} };
  const tmp = tmpName(store.tmpDir, 'archive');
  const { stream } = await uncompressed(createReadStream(path));
  await streamToNewFile(tmp, stream, [], { exclusive: true });
  return { source: await openArchive(tmp), cleanup: () => rm(tmp, { force: true }) };
}

function dockerEntries(raw: Buffer, source: ArchiveSource): DockerManifestEntry[] {
  let v: unknown;
  try { v = JSON.parse(raw.toString('utf8')); } catch { throw archiveError(`${source.description}: manifest.json is not JSON`); }
  if (!Array.isArray(v)) throw archiveError(`${source.description}: manifest.json is ${v === null ? 'null' : 'not a list'}, expected a list of images`);
  return v.map((e, i) => {
    const o = e as Partial<DockerManifestEntry> | null;
    if (!o || typeof o.Config !== 'string' || !Array.isArray(o.Layers)) throw archiveError(`${source.description}: manifest.json entry ${i} lacks Config or Layers`);
    return o as DockerManifestEntry;
  });
}

/** Stores one layer file and unpacks it, checking it against the expected diffId. */
async function loadLayer(store: Store, source: ArchiveSource, path: string, diffId: Digest): Promise<Descriptor> {
  const known = (await store.layerInfo(diffId))?.blobs ?? [];
  for (const b of known) if (await store.has(b.digest)) {
    if (await store.hasLayer(diffId)) return b;
  }
  const { digest, size } = await store.put(undefined, source.open(path));
  const head = Buffer.alloc(4);
  const fh = await open(store.path(digest), 'r');
  try { await fh.read(head, 0, 4, 0); } finally { await fh.close(); }
  const mediaType = ociLayerMediaType(sniffCompression(head));
  await store.unpackLayer(digest, mediaType, { expectedDiffId: diffId });
  return { mediaType, digest, size };
}

async function loadDockerSave(store: Store, source: ArchiveSource, want: string | undefined): Promise<LoadedImage[]> {
  const entries = dockerEntries(await source.readBytes('manifest.json'), source);
  const out: LoadedImage[] = [];
  for (const entry of entries) {
    const refs = (entry.RepoTags ?? []).map((t) => normalize(t)).filter((t): t is string => t !== undefined);
    if (want !== undefined && !refs.includes(want)) continue;
    const rawConfig = await source.readBytes(entry.Config);
    const config = parseImageConfig(rawConfig);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) throw archiveError(`${source.description}: image ${entry.Config} lists ${entry.Layers.length} layers but its config has ${diffIds.length} diff_ids`);
    const layers: Descriptor[] = [];
    for (const [i, l] of entry.Layers.entries()) layers.push(await loadLayer(store, source, l, diffIds[i]!));
    const manifestDigest = await store.writeImage({ config: rawConfig, layers });
    await store.sync(); // the unpacked layers are on disk before a tag points at them
    for (const r of want !== undefined ? [want] : refs) await store.tag(r, manifestDigest);
    out.push({ refs: want !== undefined ? [want] : refs, manifestDigest, configDigest: sha256(rawConfig) });
  }
  return out;
}

async function readBlob(source: ArchiveSource, desc: Descriptor): Promise<Buffer> {
  if (!isDigest(desc.digest)) throw archiveError(`${source.description}: unsupported digest ${desc.digest}`);
  const raw = await source.readBytes(`blobs/sha256/${digestHex(desc.digest)}`);
  if (sha256(raw) !== desc.digest) throw new StagecraftError('DIGEST', `${source.description}: blob ${desc.digest} does not match its digest`);
  return raw;
}

async function loadOciLayout(store: Store, source: ArchiveSource, want: string | undefined): Promise<LoadedImage[]> {
  const index = parseIndex(await source.readBytes('index.json'));
  const out: LoadedImage[] = [];
  const seen = new Set<string>();

  const nameOf = (d: Descriptor): string | undefined => {
    const full = d.annotations?.[Annotation.containerdImageName];
    if (full) return normalize(full);
    const name = d.annotations?.[Annotation.refName];
    // ref.name is often only a tag ("latest"); it names an image only when it is a full reference.
    return name && /[/:]/.test(name) ? normalize(name) : undefined;
  };

  async function visit(d: Descriptor, ref: string | undefined): Promise<void> {
    if (isIndexMediaType(d.mediaType)) {
      const child = parseIndex(await readBlob(source, d));
      for (const m of child.manifests) await visit(m, ref);
      return;
    }
    if (!isManifestMediaType(d.mediaType) || seen.has(d.digest)) return; // other artifacts are not images
    seen.add(d.digest);
    const rawManifest = await readBlob(source, d);
    const manifest = parseManifest(rawManifest);
    if (!isConfigMediaType(manifest.config.mediaType)) return; // an artifact (e.g. a Helm chart), not an image
    const rawConfig = await readBlob(source, manifest.config);
    const config = parseImageConfig(rawConfig);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) throw archiveError(`${source.description}: manifest ${d.digest} has ${manifest.layers.length} layers but its config has ${diffIds.length} diff_ids`);
    await store.put(manifest.config, rawConfig);
    for (const [i, l] of manifest.layers.entries()) {
      if (layerCompression(l.mediaType) === undefined) throw archiveError(`${source.description}: layer ${l.digest} has unsupported media type ${l.mediaType}`);
      if (!(await store.has(l.digest))) await store.put(l, source.open(`blobs/sha256/${digestHex(l.digest)}`));
      await store.unpackLayer(l.digest, l.mediaType, { expectedDiffId: diffIds[i]! });
    }
    await store.put(d, rawManifest);
    const refs = ref ? [ref] : [];
    if (refs.length > 0) await store.sync(); // the unpacked layers are on disk before a tag points at them
    for (const r of refs) await store.tag(r, d.digest);
    out.push({ refs, manifestDigest: d.digest, configDigest: manifest.config.digest });
  }

  const single = index.manifests.length === 1;
  for (const d of index.manifests) {
    const name = nameOf(d);
    if (want !== undefined && name !== want && !(single && name === undefined)) continue;
    await visit(d, want ?? name);
  }
  return out;
}
