/** Media types of the Docker v2 schema 2 and OCI image formats. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  ociDescriptor: 'application/vnd.oci.descriptor.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

export type Compression = 'none' | 'gzip' | 'zstd';

const MANIFESTS = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);
const INDEXES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);
const CONFIGS = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);
const LAYERS: ReadonlyMap<string, Compression> = new Map<string, Compression>([
  [MediaType.ociLayer, 'none'],
  [MediaType.ociLayerGzip, 'gzip'],
  [MediaType.ociLayerZstd, 'zstd'],
  [MediaType.ociLayerNondistributable, 'none'],
  [MediaType.ociLayerNondistributableGzip, 'gzip'],
  [MediaType.ociLayerNondistributableZstd, 'zstd'],
  [MediaType.dockerLayer, 'none'],
  [MediaType.dockerLayerGzip, 'gzip'],
  [MediaType.dockerLayerZstd, 'zstd'],
  [MediaType.dockerForeignLayer, 'gzip'],
]);

export function isManifestMediaType(m: string | undefined): boolean {
  return m !== undefined && MANIFESTS.has(m);
}
export function isIndexMediaType(m: string | undefined): boolean {
  return m !== undefined && INDEXES.has(m);
}
export function isConfigMediaType(m: string | undefined): boolean {
  return m !== undefined && CONFIGS.has(m);
}
export function isLayerMediaType(m: string | undefined): boolean {
  return m !== undefined && LAYERS.has(m);
}
/** Foreign / non-distributable layers are not pushed to registries. */
export function isForeignLayerMediaType(m: string): boolean {
  return m === MediaType.dockerForeignLayer || m.startsWith('application/vnd.oci.image.layer.nondistributable.');
}

/** Compression named by a layer media type; undefined when it is not a layer type. */
export function layerCompression(m: string): Compression | undefined {
  return LAYERS.get(m);
}

/** The OCI layer media type for a compression. */
export function ociLayerMediaType(c: Compression): string {
  return c === 'gzip' ? MediaType.ociLayerGzip : c === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

/** The Docker v2s2 layer media type for a compression (zstd has no official Docker type; BuildKit uses this one). */
export function dockerLayerMediaType(c: Compression): string {
  return c === 'gzip' ? MediaType.dockerLayerGzip : c === 'zstd' ? MediaType.dockerLayerZstd : MediaType.dockerLayer;
}

/** Docker media types mapped to their OCI equivalents (other strings unchanged). */
export function toOciMediaType(m: string): string {
  switch (m) {
    case MediaType.dockerManifest: return MediaType.ociManifest;
    case MediaType.dockerManifestList: return MediaType.ociIndex;
    case MediaType.dockerConfig: return MediaType.ociConfig;
    case MediaType.dockerLayer: return MediaType.ociLayer;
    case MediaType.dockerLayerGzip: return MediaType.ociLayerGzip;
    case MediaType.dockerLayerZstd: return MediaType.ociLayerZstd;
    default: return m;
  }
}

/** Detects compression from the first bytes of a blob (magic numbers). */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}
