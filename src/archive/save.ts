import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StagecraftError } from '../errors.js';
import { buildManifest, encodeDocument } from '../oci/documents.js';
import { digestHex, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { Annotation, type Descriptor } from '../oci/types.js';
import { parseReference } from '../reference/index.js';
import type { ResolvedLocalImage, Store } from '../store/index.js';
import type { TarHeader } from '../tar/header.js';
import { tarChunks, type TarWriteEntry } from '../tar/writer.js';

/** Fixed mtime for archive metadata entries, so the same images give the same archive bytes. */
const MTIME = 0;

function file(path: string, size: number, body: TarWriteEntry['body']): TarWriteEntry {
  const header: TarHeader = { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: MTIME };
  return { header, body };
}
function dir(path: string): TarWriteEntry {
  return { header: { path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: MTIME } };
}
function json(path: string, value: unknown): TarWriteEntry {
  const raw = Buffer.from(JSON.stringify(value));
  return file(path, raw.length, raw);
}

async function resolveAll(store: Store, refs: string[]): Promise<Array<{ ref: string; image: ResolvedLocalImage }>> {
  if (refs.length === 0) throw new StagecraftError('USAGE', 'name at least one image to save');
  const out = [];
  for (const ref of refs) out.push({ ref, image: await store.resolve(ref) });
  return out;
}

/** `repo:tag` as Docker writes RepoTags (familiar form); digests and bare ids give no tag. */
function repoTag(ref: string): { repo: string; tag: string } | undefined {
  try {
    const r = parseReference(ref);
    if (r.tag === undefined || r.digest !== undefined) return undefined;
    const familiar = r.familiar();
    return { repo: familiar.slice(0, familiar.length - r.tag.length - 1), tag: r.tag };
  } catch {
    return undefined;
  }
}

function layerBody(store: Store, diffId: Digest): () => AsyncIterable<Uint8Array> {
  return async function* () { yield* await store.layerTar(diffId); };
}

/**
 * Writes images as a `docker save` archive (v1.2: manifest.json with
 * Config/RepoTags/Layers, `repositories`, `<config hex>.json`, and
 * `<diffId hex>/layer.tar` uncompressed, with the legacy VERSION and json
 * beside each). Loadable by docker load, podman load and skopeo.
 */
export async function saveDockerArchive(store: Store, refs: string[], out: Writable): Promise<void> {
  const images = await resolveAll(store, refs);
  const entries: TarWriteEntry[] = [];
  const manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  const byConfig = new Map<Digest, (typeof manifest)[number]>();

  for (const { ref, image } of images) {
    const rt = repoTag(ref);
    const existing = byConfig.get(image.configDigest);
    if (existing) {
      if (rt && !existing.RepoTags?.includes(`${rt.repo}:${rt.tag}`)) (existing.RepoTags ??= []).push(`${rt.repo}:${rt.tag}`);
      if (rt) (repositories[rt.repo] ??= {})[rt.tag] = digestHex(image.config.rootfs.diff_ids.at(-1) ?? image.configDigest);
      continue;
    }
    const layers: string[] = [];
    let parent: string | undefined;
    for (const diffId of image.config.rootfs.diff_ids) {
      const id = digestHex(diffId);
      layers.push(`${id}/layer.tar`);
      if (!written.has(id)) {
        written.add(id);
        entries.push(dir(id), file(`${id}/VERSION`, 3, Buffer.from('1.0')), json(`${id}/json`, parent ? { id, parent } : { id }));
        entries.push(file(`${id}/layer.tar`, await store.layers.tarSize(diffId), layerBody(store, diffId)));
      }
      parent = id;
    }
    const configName = `${digestHex(image.configDigest)}.json`;
    const rawConfig = await store.getBytes(image.configDigest);
    entries.push(file(configName, rawConfig.length, rawConfig));
    const m = { Config: configName, RepoTags: rt ? [`${rt.repo}:${rt.tag}`] : null, Layers: layers };
    manifest.push(m);
    byConfig.set(image.configDigest, m);
    if (rt && parent) (repositories[rt.repo] ??= {})[rt.tag] = parent;
  }
  entries.push(json('manifest.json', manifest));
  if (Object.keys(repositories).length) entries.push(json('repositories', repositories));
  await pipeline(Readable.from(tarChunks(entries)), out);
}

/**
 * Writes images as an OCI image layout in a tar (oci-layout, index.json,
 * blobs/sha256/...), layers gzip-compressed (compressed once and cached by
 * the store). index.json names each image the way Docker ≥25 does:
 * `org.opencontainers.image.ref.name` = tag, `io.containerd.image.name` =
 * full reference. A Docker-style manifest.json is included too, so
 * `docker load` reads the same file.
 */
export async function saveOciArchive(store: Store, refs: string[], out: Writable): Promise<void> {
  const images = await resolveAll(store, refs);
  const blobs = new Map<Digest, { size: number; body: TarWriteEntry['body'] }>();
  const index: Descriptor[] = [];
  const dockerManifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];

  for (const { ref, image } of images) {
    const layers = await store.compressedBlobs(image.config.rootfs.diff_ids, 'gzip');
    const rawConfig = await store.getBytes(image.configDigest);
    const configDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: image.configDigest, size: rawConfig.length };
    const annotations = image.manifest.annotations;
    const m = encodeDocument(buildManifest(configDesc, layers, annotations), MediaType.ociManifest);
    blobs.set(image.configDigest, { size: rawConfig.length, body: rawConfig });
    for (const l of layers) blobs.set(l.digest, { size: l.size, body: () => store.get(l.digest) });
    blobs.set(m.descriptor.digest, { size: m.raw.byteLength, body: m.raw });
    let parsed;
    try { parsed = parseReference(ref); } catch { parsed = undefined; }
    const ann: Record<string, string> = {};
    if (parsed) {
      ann[Annotation.containerdImageName] = parsed.toString();
      if (parsed.tag) ann[Annotation.refName] = parsed.tag;
    }
    index.push({ ...m.descriptor, ...(Object.keys(ann).length ? { annotations: ann } : {}) });
    const rt = repoTag(ref);
    dockerManifest.push({ Config: `blobs/sha256/${digestHex(image.configDigest)}`, RepoTags: rt ? [`${rt.repo}:${rt.tag}`] : null, Layers: layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`) });
  }

  const entries: TarWriteEntry[] = [json('oci-layout', { imageLayoutVersion: '1.0.0' }), dir('blobs'), dir('blobs/sha256')];
  for (const [digest, b] of [...blobs].sort(([a], [c]) => (a < c ? -1 : 1))) entries.push(file(`blobs/sha256/${digestHex(digest)}`, b.size, b.body));
  entries.push(json('index.json', { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index }));
  entries.push(json('manifest.json', dockerManifest));
  await pipeline(Readable.from(tarChunks(entries)), out);
}
