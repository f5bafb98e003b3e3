/**
 * `push()`: a locally stored image (built or pulled) to one or more registry
 * references, with the same credentials, certificates and insecure hosts a
 * build uses. The typed library face of `stagecraft push` and
 * `stagecraft build --push`.
 *
 *     const r = await push(['reg.example/app:1', 'reg.example/app:latest'], { root });
 *     r.digest  // what the registry serves for both tags
 */
import { pushImage, registryClientOptions, type PushEvent, type PushResult } from '../registry/index.js';
import { Store } from '../store/index.js';
import { normalizeRef } from './images.js';

export type { PushEvent, PushResult };

export interface PushOptions {
  /** Local store root (default /var/lib/stagecraft). */
  root?: string | undefined;
  /** The stored image to push; default the first reference. */
  source?: string | undefined;
  insecureRegistries?: string[] | undefined;
  /** Per-registry CAs, `<certsDir>/<host:port>/ca.crt` (default /etc/docker/certs.d, env STAGECRAFT_CERTS_DIR). */
  certsDir?: string | undefined;
  /** Directory of Docker's config.json with the credentials (default $DOCKER_CONFIG, else ~/.docker). */
  dockerConfigDir?: string | undefined;
  /** Compression for layers stored uncompressed (built layers). Default gzip. */
  compression?: 'gzip' | 'zstd' | undefined;
  /** Chunked uploads of this many bytes; monolithic when unset. */
  chunkSize?: number | undefined;
  /** Per blob (pushed, exists, mounted) and per manifest. */
  onEvent?: ((e: PushEvent) => void) | undefined;
}

const DEFAULT_ROOT = '/var/lib/stagecraft';

/** Pushes the stored image `refs[0]` (or `source`) to every reference in `refs`. */
export async function push(refs: string | readonly string[], opts: PushOptions = {}): Promise<PushResult> {
  const names = (typeof refs === 'string' ? [refs] : [...refs]).map((r) => normalizeRef(r).toString());
  const store = await Store.open(opts.root ?? DEFAULT_ROOT);
  return pushImage(store, names, {
    clientOptions: registryClientOptions({ insecureRegistry: opts.insecureRegistries, certsDir: opts.certsDir, configDir: opts.dockerConfigDir }),
    ...(opts.source !== undefined ? { source: normalizeRef(opts.source).toString() } : {}),
    ...(opts.compression ? { compression: opts.compression } : {}),
    ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });
}
