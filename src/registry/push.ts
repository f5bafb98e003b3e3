/**
 * The distribution spec's write side, one blob or manifest at a time:
 *
 *   HEAD  /v2/<repo>/blobs/<digest>                      skip what exists
 *   POST  /v2/<repo>/blobs/uploads/?mount=<d>&from=<r>   201 mounted; 202 refused → upload here
 *   POST  /v2/<repo>/blobs/uploads/                       202 + Location
 *   PUT   <location>?digest=<d>                           monolithic upload (whole blob)
 *   PATCH <location> (Content-Range a-b) ... PUT ?digest  chunked upload
 *   PUT   /v2/<repo>/manifests/<tag|digest>               with the manifest's exact media type
 *
 * Bodies are streamed (chunked uploads hold one chunk in memory). Tokens are
 * asked for `pull,push` on the target and `pull` on a mount source.
 */
import type { Readable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import { sha256, type Descriptor, type Digest } from '../oci/index.js';
import type { Reference } from '../reference/index.js';
import type { RegistryClient } from './client.js';
import { isRetryableNetworkError, RegistryError } from './registry-error.js';
import { readText, type HttpResponse } from './transport.js';

/** How a blob got to the registry. */
export type BlobPushResult = 'exists' | 'mounted' | 'uploaded';

export interface PushBlobOptions {
  /** Repositories on the same registry that may hold the blob (cross-repository mount). */
  mountFrom?: readonly string[];
  /** Upload in PATCH chunks of this many bytes; monolithic (one PUT) when unset. */
  chunkSize?: number;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function drain(res: HttpResponse): void {
  res.body.resume();
  res.body.on('error', () => undefined);
}

/** `HEAD` on the blob: true when the registry has it in this repository. */
export async function blobExists(client: RegistryClient, ref: Reference, digest: Digest): Promise<boolean> {
  const site = client.origin(ref);
  const res = await client.transport.request(site.host, `/v2/${ref.repository}/blobs/${digest}`, {
    method: 'HEAD', scope: pushScope(ref.repository), repository: ref.repository, registry: site.credentialsFor,
  });
  drain(res);
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw await client.failure(ref, res, `blob ${digest} of ${ref.name}`);
}

function uploadUrl(res: HttpResponse): string {
  const location = res.headers.location;
  if (!location) {
    throw new RegistryError('REGISTRY', `registry ${res.url.host} started an upload without a Location header`, { registry: res.url.host });
  }
  return new URL(location, res.url).toString();
}

function withDigest(location: string, digest: Digest): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/**
 * Gets one blob into `ref`'s repository: nothing when it is there, a mount
 * when another repository has it, else an upload of `open()`'s stream (opened
 * again for every attempt). Retries the whole upload when the registry or
 * the connection fails in a way worth retrying.
 */
export async function pushBlob(
  client: RegistryClient,
  ref: Reference,
  desc: Descriptor,
  open: () => Promise<Readable>,
  opts: PushBlobOptions = {},
): Promise<BlobPushResult> {
  if (await blobExists(client, ref, desc.digest)) return 'exists';
  const retries = client.retries;
  for (let attempt = 0; ; attempt++) {
    try {
      return await uploadOnce(client, ref, desc, open, opts);
    } catch (e) {
      const retryable = e instanceof RegistryError ? e.retryable : !(e instanceof StagecraftError) && isRetryableNetworkError(e);
      if (!retryable || attempt >= retries) throw wrap(ref, desc, e);
      await new Promise((r) => setTimeout(r, client.retryBaseMs * 2 ** attempt));
    }
  }
}

function wrap(ref: Reference, desc: Descriptor, e: unknown): unknown {
  if (e instanceof StagecraftError) return e;
  return new RegistryError('REGISTRY', `upload of ${desc.digest} to ${ref.name} failed: ${(e as { code?: string }).code ?? (e as Error).message}`, {
    registry: ref.registry, repository: ref.repository, retryable: isRetryableNetworkError(e), cause: e,
  });
}

async function uploadOnce(
  client: RegistryClient,
  ref: Reference,
  desc: Descriptor,
  open: () => Promise<Readable>,
  opts: PushBlobOptions,
): Promise<BlobPushResult> {
  const site = client.origin(ref);
  const base = { repository: ref.repository, registry: site.credentialsFor };
  let started: HttpResponse | undefined;
  for (const from of opts.mountFrom ?? []) {
    if (from === ref.repository) continue;
    const q = new URLSearchParams({ mount: desc.digest, from });
    const res = await client.transport.request(site.host, `/v2/${ref.repository}/blobs/uploads/?${q}`, {
      ...base, method: 'POST', headers: { 'content-length': '0' }, scope: `${pushScope(ref.repository)} repository:${from}:pull`,
    });
    if (res.status === 201) {
      drain(res);
      return 'mounted';
    }
    if (res.status === 202) {
      // The registry refused the mount (source unknown or not readable) and opened an upload instead.
      started = res;
      drain(res);
      break;
    }
    throw await client.failure(ref, res, `mount of ${desc.digest} from ${from} into ${ref.name}`);
  }
  if (!started) {
    const res = await client.transport.request(site.host, `/v2/${ref.repository}/blobs/uploads/`, {
      ...base, method: 'POST', headers: { 'content-length': '0' }, scope: pushScope(ref.repository),
    });
    if (res.status !== 202) throw await client.failure(ref, res, `upload of ${desc.digest} to ${ref.name}`);
    drain(res);
    started = res;
  }
  let location = uploadUrl(started);
  const scope = pushScope(ref.repository);
  let done: HttpResponse;
  if (opts.chunkSize === undefined) {
    done = await client.transport.request(site.host, withDigest(location, desc.digest), {
      ...base, method: 'PUT', scope,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: open,
    });
  } else {
    let offset = 0;
    const source = await open();
    try {
      for await (const chunk of chunks(source, opts.chunkSize)) {
        const end = offset + chunk.byteLength - 1;
        const res = await client.transport.request(site.host, location, {
          ...base, method: 'PATCH', scope,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(chunk.byteLength), 'content-range': `${offset}-${end}` },
          body: () => chunk,
        });
        if (res.status !== 202) throw await client.failure(ref, res, `chunk ${offset}-${end} of ${desc.digest} to ${ref.name}`);
        drain(res);
        location = uploadUrl(res);
        offset = end + 1;
      }
    } finally {
      source.destroy();
    }
    if (offset !== desc.size) {
      throw new StagecraftError('DIGEST', `blob ${desc.digest} in the local store is ${offset} bytes, its descriptor says ${desc.size}`);
    }
    done = await client.transport.request(site.host, withDigest(location, desc.digest), {
      ...base, method: 'PUT', scope, headers: { 'content-length': '0' }, body: () => new Uint8Array(0),
    });
  }
  if (done.status !== 201) throw await client.failure(ref, done, `upload of ${desc.digest} to ${ref.name}`);
  drain(done);
  const said = done.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== desc.digest) {
    throw new StagecraftError('DIGEST', `registry ${ref.registry} stored ${desc.digest} of ${ref.name} as ${said}`);
  }
  return 'uploaded';
}

/** Re-slices a stream into chunks of exactly `size` bytes (the last may be shorter). */
export async function* chunks(source: Readable, size: number): AsyncGenerator<Uint8Array> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  let parts: Buffer[] = [];
  let have = 0;
  for await (const c of source) {
    let b = c as Buffer;
    while (b.length > 0) {
      const take = Math.min(size - have, b.length);
      parts.push(b.subarray(0, take));
      have += take;
      b = b.subarray(take);
      if (have === size) {
        yield new Uint8Array(Buffer.concat(parts));
        parts = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield new Uint8Array(Buffer.concat(parts));
}

/**
 * PUTs a manifest or index under a tag or digest with its exact media type;
 * returns its digest after checking the registry computed the same one.
 */
export async function pushManifest(client: RegistryClient, ref: Reference, tagOrDigest: string, raw: Uint8Array, mediaType: string): Promise<Digest> {
  const site = client.origin(ref);
  const digest = sha256(raw);
  const res = await client.transport.request(site.host, `/v2/${ref.repository}/manifests/${tagOrDigest}`, {
    method: 'PUT', scope: pushScope(ref.repository), repository: ref.repository, registry: site.credentialsFor,
    headers: { 'content-type': mediaType, 'content-length': String(raw.byteLength) },
    body: () => raw,
  });
  if (res.status !== 201 && res.status !== 200) throw await client.failure(ref, res, `manifest ${tagOrDigest} of ${ref.familiar()}`);
  await readText(res.body).catch(() => '');
  const said = res.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== digest) {
    throw new StagecraftError('DIGEST', `registry ${ref.registry} stored the manifest for ${ref.familiar()} as ${said}, we sent ${digest}`);
  }
  return digest;
}
