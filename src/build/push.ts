/**
 * `push()`: a locally stored image (built or pulled) to one or more registry
 * references, with the same credentials, certificates and insecure hosts a
 * build uses. The typed library face of `stagecraft push` and
 * `stagecraft build --push`.
 *
 *     const r = await push(['reg.example/app:1', 'reg.example/app:latest'], { root });
 *     r.digest  // what the registry serves for both tags
 */
import { StagecraftError } from '../errors.js';
import { parseReference } from '../reference/index.js';
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

/**
 * `push --all-tags REPO` (docker push -a): every tag the local store has for
 * the repository, one push each, in tag order. REPO names a repository, not
 * an image: a tag or digest in it is refused, as docker refuses it.
 */
export async function pushAllTags(repository: string, opts: Omit<PushOptions, 'source'> = {}): Promise<PushResult[]> {
  const repo = parseReference(repository);
  // parseReference fills in `latest`: whether a tag was written is in the text (a ':' after the last '/').
  if (repository.includes('@') || repository.lastIndexOf(':') > repository.lastIndexOf('/')) {
    throw new StagecraftError('USAGE', `--all-tags takes a repository without a tag or digest, not ${repository}`, {
      // A tag holds no ':', '/' or '@', so the familiar name loses only its tag and digest.
      hint: `stagecraft push --all-tags ${repo.familiar().replace(/(:[^:/@]+)?(@.+)?$/, '')}`,
    });
  }
  const store = await Store.open(opts.root ?? DEFAULT_ROOT);
  const tags = (await store.list())
    .map((s) => parseReference(s.ref))
    .filter((r) => r.name === repo.name && r.tag !== undefined && r.digest === undefined)
    .map((r) => r.toString())
    .sort();
  if (tags.length === 0) {
    throw new StagecraftError('NOT_FOUND', `no image in the local store is tagged in ${repo.familiar()}`, {
      hint: '`stagecraft images` lists the local tags; tag or build one as REPOSITORY:TAG first',
    });
  }
  const out: PushResult[] = [];
  for (const tag of tags) out.push(await push([tag], opts));
  return out;
}
