/**
 * What the registry client hands to, and asks of, the rest of stagecraft.
 */
import type { Readable } from 'node:stream';
import type { Descriptor, Digest, ImageConfig, Index, Manifest, Platform } from '../oci/index.js';
import type { Reference } from '../reference/index.js';

export type { Descriptor, Digest, ImageConfig, Index, Manifest, Platform };

/** Username and password (or a registry token as the password) for one registry host. */
export interface Credentials {
  username: string;
  password: string;
  /**
   * An OAuth2 refresh token (Docker's `identitytoken`, or a helper answering
   * Username `<token>`): exchanged at the token realm with the
   * `refresh_token` grant instead of Basic credentials.
   */
  identityToken?: string;
}

/**
 * Looks up credentials for a registry host (`ref.registry`, e.g. `docker.io`
 * or `127.0.0.1:5000`). Return undefined for anonymous access. Called lazily,
 * only when a registry asks for authentication.
 */
export type CredentialsProvider = (host: string) => Credentials | undefined | Promise<Credentials | undefined>;

export interface RegistryClientOptions {
  /** Registry hosts (`host[:port]`) reached over plain HTTP. Loopback hosts always are. */
  insecureRegistries?: string[];
  /** Most blob downloads in flight at once for this client. Default 3. */
  concurrency?: number;
  /** User-Agent header. Default `stagecraft/<version>`. */
  userAgent?: string;
  credentials?: CredentialsProvider;
  /** Extra attempts after a 5xx/429/connection failure. Default 3. */
  retries?: number;
  /** First backoff delay in ms, doubled each retry. Default 250. */
  retryBaseMs?: number;
  /** Idle socket timeout in ms. Default 60 000. */
  timeoutMs?: number;
  /** Per-registry CA and client certificates (`<certsDir>/<host>/ca.crt`). Default /etc/docker/certs.d. */
  certsDir?: string;
  /** Mirrors for docker.io (`https://mirror.example`), tried in order before the origin, as Docker's `registry-mirrors`. */
  registryMirrors?: string[];
  /**
   * FOR TESTS ONLY: send a registry's API requests to another `host:port`
   * (e.g. `{ 'docker.io': '127.0.0.1:5000' }`), so docker.io behaviour (mirrors)
   * can be tested on loopback. Not exposed on the command line.
   */
  endpointOverrides?: Record<string, string>;
}

/** The result of resolving a reference for one platform. */
export interface ResolvedImage {
  reference: Reference;
  /** Digest of the platform's image manifest (what `docker images --digests` shows for single-platform images). */
  manifestDigest: Digest;
  /** Digest of the index / manifest list the tag pointed at, when it did. */
  indexDigest?: Digest;
  /** Media type of the image manifest (OCI or Docker v2 schema 2). */
  mediaType: string;
  manifest: Manifest;
  /** Exact bytes of the image manifest, verified against manifestDigest. */
  rawManifest: Uint8Array;
  config: {
    digest: Digest;
    /** Exact bytes, verified against `digest`. */
    raw: Uint8Array;
    parsed: ImageConfig;
  };
  layers: Descriptor[];
  /** The platform of the image, from its config. */
  platform: Platform;
}

/**
 * Where fetched blobs go. The store implements this; the client never writes
 * to disk itself.
 */
export interface BlobSink {
  /** True when the blob is already stored; the client then skips the download. */
  has(digest: Digest): Promise<boolean>;
  /**
   * Consumes `body` to its end and stores it under `desc.digest`. The client
   * verifies while streaming: when the content does not match `desc.digest`
   * or `desc.size`, `body` emits an error (a `DIGEST` StagecraftError) instead
   * of ending. `put` must then keep nothing and reject (e.g. write to a temp
   * file, rename into place only after `body` ended cleanly). A rejected put
   * may be retried with a fresh body.
   */
  put(desc: Descriptor, body: Readable): Promise<void>;
}

/** Progress of one blob download (bytes so far of `desc.size`). */
export type BlobProgress = (desc: Descriptor, bytes: number) => void;
