import { canonicalJsonBytes } from './canonical-json.js';
import { isDigest, sha256, type Digest } from './digest.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './media-types.js';
import type { Descriptor, ImageConfig, Index, Manifest } from './types.js';

/** A JSON document with its exact bytes, digest and descriptor. */
export interface RawDocument<T> {
  value: T;
  raw: Uint8Array;
  descriptor: Descriptor;
}

/** Serialises a manifest, index or config deterministically and describes it. */
export function encodeDocument<T>(value: T, mediaType: string): RawDocument<T> {
  const raw = canonicalJsonBytes(value);
  return { value, raw, descriptor: { mediaType, digest: sha256(raw), size: raw.byteLength } };
}

/** An OCI image manifest for a config and its layers. */
export function buildManifest(config: Descriptor, layers: Descriptor[], annotations?: Record<string, string>): Manifest {
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: stripDescriptor(config),
    layers: layers.map(stripDescriptor),
  };
  if (annotations && Object.keys(annotations).length > 0) m.annotations = { ...annotations };
  return m;
}

/** Keeps only the fields a descriptor inside a manifest carries. */
export function stripDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls) out.urls = [...d.urls];
  if (d.annotations) out.annotations = { ...d.annotations };
  if (d.platform) out.platform = { ...d.platform };
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

export class DocumentError extends Error {
  override name = 'DocumentError';
}

function fail(what: string, why: string): never {
  throw new DocumentError(`invalid ${what}: ${why}`);
}

function parseJson(raw: Uint8Array | string, what: string): unknown {
  try {
    return JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
  } catch (e) {
    return fail(what, `not JSON (${(e as Error).message})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function checkDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) fail(what, 'descriptor is not an object');
  if (typeof v.mediaType !== 'string' || v.mediaType === '') fail(what, 'descriptor has no mediaType');
  if (!isDigest(v.digest)) fail(what, `descriptor digest ${JSON.stringify(v.digest)} is not sha256:<64 hex>`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) fail(what, 'descriptor size is not a non-negative integer');
  return v as unknown as Descriptor;
}

/** Parses an image manifest (OCI or Docker v2s2), checking the fields we rely on. */
export function parseManifest(raw: Uint8Array | string): Manifest {
  const v = parseJson(raw, 'manifest');
  if (!isObject(v)) fail('manifest', 'not a JSON object');
  if (v.schemaVersion !== 2) fail('manifest', `schemaVersion ${JSON.stringify(v.schemaVersion)} is not 2`);
  if (v.mediaType !== undefined && !isManifestMediaType(v.mediaType as string)) fail('manifest', `mediaType ${JSON.stringify(v.mediaType)} is not an image manifest`);
  checkDescriptor(v.config, 'manifest config');
  if (!Array.isArray(v.layers)) fail('manifest', 'layers is not an array');
  v.layers.forEach((l, i) => checkDescriptor(l, `manifest layer ${i}`));
  return v as unknown as Manifest;
}

/** Parses an OCI index or Docker manifest list. A `null` manifests list (Docker 25 writes it) reads as empty. */
export function parseIndex(raw: Uint8Array | string): Index {
  const v = parseJson(raw, 'index');
  if (!isObject(v)) fail('index', 'not a JSON object');
  if (v.schemaVersion !== 2) fail('index', `schemaVersion ${JSON.stringify(v.schemaVersion)} is not 2`);
  if (v.mediaType !== undefined && !isIndexMediaType(v.mediaType as string)) fail('index', `mediaType ${JSON.stringify(v.mediaType)} is not an image index`);
  if (v.manifests === null || v.manifests === undefined) v.manifests = [];
  if (!Array.isArray(v.manifests)) fail('index', 'manifests is not an array');
  v.manifests.forEach((m, i) => checkDescriptor(m, `index entry ${i}`));
  return v as unknown as Index;
}

/** Parses an image config, checking os/architecture and rootfs.diff_ids. */
export function parseImageConfig(raw: Uint8Array | string): ImageConfig {
  const v = parseJson(raw, 'image config');
  if (!isObject(v)) fail('image config', 'not a JSON object');
  if (typeof v.os !== 'string') fail('image config', 'os is not a string');
  if (typeof v.architecture !== 'string') fail('image config', 'architecture is not a string');
  const rootfs = v.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) fail('image config', 'rootfs is not {type: "layers", diff_ids: [...]}');
  rootfs.diff_ids.forEach((d, i) => {
    if (!isDigest(d)) fail('image config', `rootfs.diff_ids[${i}] ${JSON.stringify(d)} is not sha256:<64 hex>`);
  });
  const env = isObject(v.config) ? v.config.Env : undefined;
  if (Array.isArray(env)) env.forEach((e) => {
    if (typeof e !== 'string' || !/^[^=]+=/.test(e)) fail('image config', `Env entry ${JSON.stringify(e)} is not NAME=value`);
  });
  return v as unknown as ImageConfig;
}

/** The diffIds of a config, in layer order. */
export function diffIds(config: ImageConfig): Digest[] {
  return config.rootfs.diff_ids;
}
