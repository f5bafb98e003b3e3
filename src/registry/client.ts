/**
 * Pulling from a distribution-spec registry: resolve a reference to one
 * platform's manifest and config (all verified against their digests), and
 * stream layer blobs through a digest check into a BlobSink.
 *
 *   const client = new RegistryClient({ credentials });
 *   const image = await client.resolve(parseReference('busybox'), { os: 'linux', architecture: 'amd64' });
 *   await client.fetchBlobs(image.reference, image.layers, store);
 */
import { DocumentError, formatPlatform, isIndexMediaType, isManifestMediaType, MediaType, parseImageConfig, parseIndex, parseManifest, selectManifest, sha256 } from '../oci/index.js';
import type { Descriptor, Digest, Index, Manifest, Platform } from '../oci/index.js';
import { StagecraftError } from '../errors.js';
import { DEFAULT_REGISTRY, DEFAULT_REGISTRY_API_HOST, parseReference, type Reference } from '../reference/index.js';
import { pullScope } from './auth-challenge.js';
import { Limiter } from './limiter.js';
import { isRetryableNetworkError, isRetryableStatus, parseErrorBody, RegistryError, tlsOnlyHint } from './registry-error.js';
import { isLoopbackHost, readText, Transport, type HttpResponse } from './transport.js';
import type { BlobProgress, BlobSink, RegistryClientOptions, ResolvedImage } from './types.js';
import { verifyBytes } from './verify.js';
import { downloadBlob } from './blob-download.js';

/** Manifests larger than this are refused (Docker uses the same bound). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Image configs larger than this are refused. */
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest];
const SCHEMA1 = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);
const DEFAULT_USER_AGENT = 'stagecraft/0.1.0';

/** One place requests for a registry go: the origin's API host or a mirror. */
export interface Site {
  /** `host[:port]` requests go to. */
  host: string;
  /** The registry name credentials are looked up by. */
  credentialsFor: string;
  mirror: boolean;
}

/** `https://mirror.example:5000/` → `mirror.example:5000`. */
export function mirrorHost(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StagecraftError('USAGE', `registry mirror ${JSON.stringify(url)} is not a URL`, { hint: 'write it as https://host[:port]' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new StagecraftError('USAGE', `registry mirror ${url} must be an http:// or https:// URL`);
  return u.host;
}

interface FetchedManifest {
  raw: Uint8Array;
  digest: Digest;
  mediaType: string;
  kind: 'index' | 'manifest';
}

export interface FetchBlobOptions {
  onProgress?: BlobProgress;
}

/** How a blob reached the sink. */
export type BlobFetchResult = 'fetched' | 'present';

export class RegistryClient {
  readonly #transport: Transport;
  readonly #limiter: Limiter;
  readonly #retries: number;
  readonly #retryBaseMs: number;
  readonly #overrides: Map<string, string>;
  readonly #mirrors: string[] = [];
  /** Downloads under way per sink and digest, so concurrent requests for one blob share one download. */
  readonly #inflight = new WeakMap<BlobSink, Map<string, Promise<BlobFetchResult>>>();

  constructor(opts: RegistryClientOptions = {}) {
    this.#retries = opts.retries ?? 3;
    this.#retryBaseMs = opts.retryBaseMs ?? 250;
    this.#transport = new Transport({
      insecureRegistries: opts.insecureRegistries,
      certsDir: opts.certsDir,
      userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
      credentials: opts.credentials,
      retries: this.#retries,
      retryBaseMs: this.#retryBaseMs,
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
    this.#limiter = new Limiter(opts.concurrency ?? 3);
    this.#overrides = new Map(Object.entries(opts.endpointOverrides ?? {}));
    for (const m of opts.registryMirrors ?? []) {
      const host = mirrorHost(m);
      if (m.startsWith('http://') && !isLoopbackHost(host)) this.#transport.allowInsecure(host);
      this.#mirrors.push(host);
    }
  }

  /** Extra attempts after a retryable failure. */
  get retries(): number {
    return this.#retries;
  }

  get retryBaseMs(): number {
    return this.#retryBaseMs;
  }

  /** The HTTP layer, for push (./push.ts). */
  get transport(): Transport {
    return this.#transport;
  }

  /**
   * Where requests for `ref` go, in order: for docker.io, each registry
   * mirror, then the origin. Push uses only the origin (`sites(ref)[last]`).
   */
  sites(ref: Reference): Site[] {
    const origin: Site = { host: this.#overrides.get(ref.registry) ?? ref.apiHost, credentialsFor: ref.registry, mirror: false };
    if (ref.registry !== DEFAULT_REGISTRY) return [origin];
    return [...this.#mirrors.map((host): Site => ({ host, credentialsFor: host, mirror: true })), origin];
  }

  /** The origin site of a registry (no mirrors). */
  origin(ref: Reference): Site {
    return this.sites(ref).at(-1)!;
  }

  /** Runs `step` against each site in turn; a mirror's failure falls through to the next site, the origin's is thrown. */
  async #onSites<T>(ref: Reference, step: (site: Site) => Promise<T>): Promise<T> {
    const sites = this.sites(ref);
    for (const [i, site] of sites.entries()) {
      try {
        return await step(site);
      } catch (e) {
        if (i === sites.length - 1) throw e;
      }
    }
    throw new StagecraftError('INTERNAL', 'no registry endpoint to try');
  }

  /**
   * Checks that the registry accepts our credentials (`GET /v2/`, answering
   * any auth challenge), as `docker login` does before storing them.
   */
  async checkLogin(registry: string): Promise<void> {
    const host = this.#overrides.get(registry) ?? (registry === DEFAULT_REGISTRY ? DEFAULT_REGISTRY_API_HOST : registry);
    const res = await this.#transport.request(host, '/v2/', { registry });
    const text = await readText(res.body, 64 * 1024).catch(() => '');
    if (res.status === 200) return;
    const code = parseErrorBody(text)[0]?.code;
    throw new RegistryError('REGISTRY', `login to ${registry} failed: HTTP ${res.status}${code ? ` (${code})` : ''}`, {
      registry, status: res.status, registryCode: code,
      hint: res.status === 401 ? 'check the user name and password' : tlsOnlyHint(res.status, text, registry),
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#transport.close();
  }

  /**
   * Resolves a reference to the image for `platform`: follows an index or
   * manifest list to the platform's manifest, fetches the config, and checks
   * every document against its digest.
   */
  async resolve(reference: Reference | string, platform: Platform, opts: ResolveOptions = {}): Promise<ResolvedImage> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    return this.#onSites(ref, (site) => this.#resolveAt(ref, site, platform, opts.known));
  }

  async #resolveAt(ref: Reference, site: Site, platform: Platform, known: ResolveOptions['known']): Promise<ResolvedImage> {
    let fetched = await this.#manifest(ref, site, ref.manifestRef, ref.digest !== undefined ? { digest: ref.digest } : undefined);
    let indexDigest: Digest | undefined;
    for (let depth = 0; fetched.kind === 'index'; depth++) {
      if (depth >= 3) throw this.#invalid(ref, 'indexes nest more than 3 deep');
      indexDigest ??= fetched.digest;
      const index = this.#parse(ref, 'index', () => parseIndex(fetched.raw));
      const chosen = selectManifest(index, platform);
      if (!chosen) throw this.#noPlatform(ref, index, platform);
      fetched = (await this.#knownManifest(ref, chosen, known)) ?? await this.#manifest(ref, site, chosen.digest, { digest: chosen.digest, size: chosen.size });
    }
    const manifest: Manifest = this.#parse(ref, 'manifest', () => parseManifest(fetched.raw));
    const configRaw = (await knownBytes(known, manifest.config)) ?? await this.#blobBytesAt(ref, site, manifest.config, MAX_CONFIG_BYTES);
    const config = this.#parse(ref, 'image config', () => parseImageConfig(configRaw));
    const resolved: ResolvedImage = {
      reference: ref,
      manifestDigest: fetched.digest,
      mediaType: fetched.mediaType,
      manifest,
      rawManifest: fetched.raw,
      config: { digest: manifest.config.digest, raw: configRaw, parsed: config },
      layers: manifest.layers,
      platform: config.variant
        ? { os: config.os, architecture: config.architecture, variant: config.variant }
        : { os: config.os, architecture: config.architecture },
    };
    if (indexDigest !== undefined) resolved.indexDigest = indexDigest;
    return resolved;
  }

  /** A whole blob in memory (configs and other small documents), verified. */
  async fetchBlobBytes(reference: Reference | string, desc: Descriptor, limit = MAX_CONFIG_BYTES): Promise<Uint8Array> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    if (desc.size > limit) {
      throw new RegistryError('REGISTRY', `blob ${desc.digest} of ${ref.name} is ${desc.size} bytes, more than the ${limit} allowed here`, { registry: ref.registry, repository: ref.repository });
    }
    return this.#onSites(ref, (site) => this.#blobBytesAt(ref, site, desc, limit));
  }

  async #blobBytesAt(ref: Reference, site: Site, desc: Descriptor, limit: number): Promise<Uint8Array> {
    const { raw } = await this.#withBodyRetry(ref, async () => {
      const res = await this.#blobResponse(ref, site, desc.digest);
      return { res, raw: await readBytes(res, limit) };
    });
    verifyBytes(raw, desc.digest, desc.size, `blob ${desc.digest} of ${ref.name}`);
    return raw;
  }

  /**
   * Streams one blob into `sink` through a digest and size check, unless the
   * sink already has it. Dropped connections are retried with backoff; a
   * digest mismatch is not (the sink has then stored nothing). Concurrent
   * calls for the same digest and sink share one download.
   */
  fetchBlob(reference: Reference | string, desc: Descriptor, sink: BlobSink, opts: FetchBlobOptions = {}): Promise<BlobFetchResult> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    let perSink = this.#inflight.get(sink);
    if (!perSink) {
      perSink = new Map();
      this.#inflight.set(sink, perSink);
    }
    const running = perSink.get(desc.digest);
    if (running) return running;
    const inflight = perSink;
    const p = this.#fetchBlobOnce(ref, desc, sink, opts).finally(() => inflight.delete(desc.digest));
    inflight.set(desc.digest, p);
    return p;
  }

  async #fetchBlobOnce(ref: Reference, desc: Descriptor, sink: BlobSink, opts: FetchBlobOptions): Promise<BlobFetchResult> {
    if (await sink.has(desc.digest)) return 'present';
    return this.#limiter.run(() => this.#onSites(ref, async (site): Promise<BlobFetchResult> => {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#streamOnce(ref, site, desc, sink, opts);
          return 'fetched';
        } catch (e) {
          if (attempt >= this.#retries || !isRetryableNetworkError(e)) throw this.#blobError(ref, desc, e);
          await new Promise((r) => setTimeout(r, this.#retryBaseMs * 2 ** attempt));
        }
      }
    }));
  }

  /** Fetches several blobs, at most `concurrency` at once (a client-wide bound). */
  async fetchBlobs(reference: Reference | string, descs: readonly Descriptor[], sink: BlobSink, opts: FetchBlobOptions = {}): Promise<BlobFetchResult[]> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const results = await Promise.allSettled(descs.map((d) => this.fetchBlob(ref, d, sink, opts)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<BlobFetchResult>).value);
  }

  /** One download of a blob into the sink (resumed with Range when cut; see ./blob-download.ts). */
  #streamOnce(ref: Reference, site: Site, desc: Descriptor, sink: BlobSink, opts: FetchBlobOptions): Promise<void> {
    return downloadBlob(desc, sink, `layer ${desc.digest} of ${ref.name}`, (from) => this.#blobResponse(ref, site, desc.digest, from), {
      resumes: this.#retries, retryBaseMs: this.#retryBaseMs, onProgress: opts.onProgress,
    });
  }

  /** Runs a request-and-read-body step again when the connection drops while the body arrives. */
  async #withBodyRetry<T>(ref: Reference, step: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (e) {
        if (e instanceof StagecraftError) throw e;
        if (attempt >= this.#retries || !isRetryableNetworkError(e)) {
          throw new RegistryError('REGISTRY', `reading from registry ${ref.registry} failed: ${(e as { code?: string }).code ?? (e as Error).message}`, {
            registry: ref.registry, repository: ref.repository, retryable: isRetryableNetworkError(e), cause: e,
          });
        }
        await new Promise((r) => setTimeout(r, this.#retryBaseMs * 2 ** attempt));
      }
    }
  }

  #blobError(ref: Reference, desc: Descriptor, e: unknown): unknown {
    if (e instanceof StagecraftError) return e;
    return new RegistryError('REGISTRY', `download of ${desc.digest} from ${ref.name} failed: ${e instanceof Error ? e.message : String(e)}`, {
      registry: ref.registry, repository: ref.repository, retryable: isRetryableNetworkError(e), cause: e,
    });
  }

  async #blobResponse(ref: Reference, site: Site, digest: string, from?: number): Promise<HttpResponse> {
    const res = await this.#transport.request(site.host, `/v2/${ref.repository}/blobs/${digest}`, {
      scope: pullScope(ref.repository), repository: ref.repository, registry: site.credentialsFor,
      ...(from ? { headers: { range: `bytes=${from}-` } } : {}),
    });
    if (from && res.status === 206) return res;
    if (res.status !== 200) throw await this.#failure(ref, res, `blob ${digest} of ${ref.familiar()}`);
    return res;
  }

  /**
   * A platform's manifest named by digest in an index, from `known` bytes when
   * they match; its media type is its own `mediaType` field, else the one the
   * index gives it (what the registry's Content-Type would say).
   */
  async #knownManifest(ref: Reference, desc: Descriptor, known: ResolveOptions['known']): Promise<FetchedManifest | undefined> {
    const raw = await knownBytes(known, desc);
    if (!raw) return undefined;
    let json: { mediaType?: unknown; manifests?: unknown; schemaVersion?: unknown };
    try {
      json = JSON.parse(Buffer.from(raw).toString('utf8')) as typeof json;
    } catch {
      return undefined;
    }
    if (json.schemaVersion !== 2) return undefined;
    const mediaType = typeof json.mediaType === 'string' ? json.mediaType : desc.mediaType;
    if (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType)) return undefined;
    return { raw, digest: desc.digest, mediaType, kind: isIndexMediaType(mediaType) ? 'index' : 'manifest' };
  }

  async #manifest(ref: Reference, site: Site, tagOrDigest: string, expect?: { digest: string; size?: number }): Promise<FetchedManifest> {
    const { res, raw } = await this.#withBodyRetry(ref, async () => {
      const res = await this.#transport.request(site.host, `/v2/${ref.repository}/manifests/${tagOrDigest}`, {
        accept: MANIFEST_ACCEPT, scope: pullScope(ref.repository), repository: ref.repository, registry: site.credentialsFor,
      });
      if (res.status !== 200) throw await this.#failure(ref, res, `image ${ref.familiar()}`);
      return { res, raw: await readBytes(res, MAX_MANIFEST_BYTES) };
    });
    const what = `manifest ${tagOrDigest} of ${ref.name}`;
    if (expect) verifyBytes(raw, expect.digest, expect.size, what);
    const digest = sha256(raw);
    const header = res.headers['docker-content-digest'];
    if (!expect && typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
      throw new StagecraftError('DIGEST', `${what}: content has digest ${digest}, the registry says ${header}`);
    }
    let json: { mediaType?: unknown; manifests?: unknown; config?: unknown; schemaVersion?: unknown };
    try {
      json = JSON.parse(Buffer.from(raw).toString('utf8')) as typeof json;
    } catch {
      throw this.#invalid(ref, `${what} is not JSON`);
    }
    const contentType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    const mediaType = typeof json.mediaType === 'string' ? json.mediaType : contentType;
    if (json.schemaVersion === 1 || SCHEMA1.has(mediaType)) {
      throw new RegistryError('UNSUPPORTED', `image ${ref.familiar()} uses the Docker schema 1 manifest format, which stagecraft does not pull`, {
        registry: ref.registry, repository: ref.repository, hint: 'push the image again with a current client (schema 2 or OCI)',
      });
    }
    const kind = isIndexMediaType(mediaType) || (mediaType !== MediaType.ociManifest && mediaType !== MediaType.dockerManifest && Array.isArray(json.manifests))
      ? 'index' : 'manifest';
    return { raw, digest, mediaType: mediaType || (kind === 'index' ? MediaType.ociIndex : MediaType.ociManifest), kind };
  }

  #parse<T>(ref: Reference, what: string, parse: () => T): T {
    try {
      return parse();
    } catch (e) {
      if (e instanceof DocumentError) throw this.#invalid(ref, `${what}: ${e.message}`, e);
      throw e;
    }
  }

  #invalid(ref: Reference, why: string, cause?: unknown): RegistryError {
    return new RegistryError('REGISTRY', `registry ${ref.registry} served an invalid image ${ref.familiar()}: ${why}`, {
      registry: ref.registry, repository: ref.repository, cause,
    });
  }

  #noPlatform(ref: Reference, index: Index, platform: Platform): StagecraftError {
    const available = index.manifests
      .filter((d) => d.platform && d.platform.os !== 'unknown')
      .map((d) => formatPlatform(d.platform!));
    return new RegistryError('NOT_FOUND', `image ${ref.familiar()} has no manifest for ${formatPlatform(platform)} (available: ${available.join(', ') || 'none'})`, {
      registry: ref.registry, repository: ref.repository, hint: 'pick one of the available platforms with --platform',
    });
  }

  /** Turns an unexpected response into an error naming registry, repository, status and registry code. */
  failure(ref: Reference, res: HttpResponse, subject: string): Promise<RegistryError> {
    return this.#failure(ref, res, subject);
  }

  async #failure(ref: Reference, res: HttpResponse, subject: string): Promise<RegistryError> {
    const text = await readText(res.body, 64 * 1024).catch(() => '');
    const entries = parseErrorBody(text);
    const code = entries[0]?.code;
    const codeText = code ? ` (${code})` : '';
    const d = { registry: ref.registry, repository: ref.repository, status: res.status, registryCode: code };
    switch (res.status) {
      case 404:
        return new RegistryError('NOT_FOUND', `${subject} not found in registry ${ref.registry}${codeText || ' (HTTP 404)'}`, {
          ...d, hint: 'check the repository name and tag',
        });
      case 401:
      case 403:
        return new RegistryError('REGISTRY', `access to ${subject} denied by registry ${ref.registry}: HTTP ${res.status}${codeText}`, {
          ...d, hint: `the image may be private: log in with stagecraft login ${ref.registry} (credentials are read from $DOCKER_CONFIG/config.json or --config)`,
        });
      default:
        return new RegistryError('REGISTRY', `registry ${ref.registry} answered HTTP ${res.status} for ${subject}${codeText}${entries[0]?.message ? `: ${entries[0].message}` : ''}`, {
          ...d, retryable: isRetryableStatus(res.status), hint: tlsOnlyHint(res.status, text, ref.registry),
        });
    }
  }
}

async function readBytes(res: HttpResponse, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      res.body.destroy();
      throw new StagecraftError('REGISTRY', `${res.url.host} sent more than ${limit} bytes for ${res.url.pathname}`);
    }
    chunks.push(b);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Options of `RegistryClient.resolve`. */
export interface ResolveOptions {
  /**
   * Documents the caller already holds, by digest (a local store): a config
   * or a platform's manifest found here is not fetched again. What it returns
   * is checked against the descriptor's digest and size; a mismatch or
   * `undefined` means fetching it.
   */
  known?: ((digest: Digest) => Promise<Uint8Array | undefined>) | undefined;
}

async function knownBytes(known: ResolveOptions['known'], desc: Descriptor): Promise<Uint8Array | undefined> {
  if (!known) return undefined;
  const raw = await known(desc.digest).catch(() => undefined);
  if (!raw || raw.byteLength !== desc.size || sha256(raw) !== desc.digest) return undefined;
  return raw;
}
