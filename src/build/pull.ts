/**
 * `pull()`: an image from a registry into the local store, tagged there, as
 * `docker pull` does, so a later build `FROM` it resolves it locally and never
 * contacts the registry. The typed library face of `stagecraft pull`.
 *
 *     const r = await pull('127.0.0.1:5000/busybox', { root });
 *     r.reference  // '127.0.0.1:5000/busybox:latest', the tag in the store
 *     r.digest     // what the registry served for it (the index, for a multi-platform image)
 *
 * The store keeps one image per tag: for a multi-platform index, the manifest
 * of the chosen platform (`manifestDigest`), not the index. A reference by
 * digest (`name@sha256:...`) is recorded under exactly that reference, with no
 * tag added, so `FROM name@sha256:...` finds it and nothing else points at it.
 */
import { StagecraftError } from '../errors.js';
import { formatPlatform, parsePlatform, platformFromNode, type Digest, type Platform } from '../oci/index.js';
import { RegistryClient, registryClientOptions } from '../registry/index.js';
import { Store } from '../store/index.js';
import { normalizeRef, pullImage, type LayerPullEvent } from './images.js';
import type { StoreRegistryOptions } from './options.js';

export type { LayerPullEvent };

export interface PullOptions extends StoreRegistryOptions {
  /** Per layer, once it is known to be stored or has been fetched and unpacked. */
  onLayer?: ((e: LayerPullEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface PullResult {
  /** The full reference the image is stored under (`docker.io/library/busybox:latest`). */
  reference: string;
  /** What the registry served for the reference: the index digest for a multi-platform image, else the manifest's. */
  digest: Digest;
  /** The stored image manifest (the chosen platform's). */
  manifestDigest: Digest;
  /** The image ID (config digest), as `images` shows it. */
  configDigest: Digest;
  platform: string;
  /** Layer bytes downloaded (0 when every layer was already stored). */
  pulledBytes: number;
  /** `up-to-date`: the reference already named this image in the store and nothing was downloaded. */
  status: 'downloaded' | 'up-to-date';
}

const DEFAULT_ROOT = '/var/lib/stagecraft';

export async function pull(text: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = normalizeRef(text);
  const name = ref.toString();
  let platform: Platform = platformFromNode(process.platform, process.arch);
  if (opts.platform !== undefined) {
    const p = parsePlatform(opts.platform);
    if (!p) throw new StagecraftError('USAGE', `invalid platform "${opts.platform}"`, { hint: 'use os/arch[/variant], e.g. linux/amd64' });
    platform = p;
  }
  const store = await Store.open(opts.root ?? DEFAULT_ROOT);
  const before = await store.resolve(name).then((img) => img.manifestDigest, (e: unknown) => {
    if (e instanceof StagecraftError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  });
  const client = new RegistryClient(registryClientOptions({
    insecureRegistry: opts.insecureRegistries, registryMirror: opts.registryMirrors, certsDir: opts.certsDir, configDir: opts.dockerConfigDir,
  }));
  let src;
  try {
    src = await pullImage(client, store, ref, platform, { signal: opts.signal, onLayer: opts.onLayer });
  } finally {
    client.close();
  }
  opts.signal?.throwIfAborted();
  // Only now, with every layer stored and unpacked, does the name point at the image (one atomic index write).
  await store.sync(); // the unpacked layers are on disk before a tag points at them
  await store.tag(name, src.manifestDigest);
  const configDigest = (await store.resolve(name)).configDigest;
  return {
    reference: name,
    digest: src.indexDigest ?? src.manifestDigest,
    manifestDigest: src.manifestDigest,
    configDigest,
    platform: formatPlatform(src.config.variant
      ? { os: src.config.os, architecture: src.config.architecture, variant: src.config.variant }
      : { os: src.config.os, architecture: src.config.architecture }),
    pulledBytes: src.pulledBytes,
    status: before === src.manifestDigest && src.pulledBytes === 0 ? 'up-to-date' : 'downloaded',
  };
}
