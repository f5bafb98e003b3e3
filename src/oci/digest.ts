import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** `sha256:<64 lowercase hex>`: the content address of a blob. */
export type Digest = `sha256:${string}`;

const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
/** The general grammar from the OCI descriptor spec (any algorithm). */
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && SHA256_RE.test(s);
}

/** True when `s` follows the OCI digest grammar (algorithm may be unknown to us). */
export function isDigestSyntax(s: string): boolean {
  return ANY_DIGEST_RE.test(s);
}

/** Throws a plain Error naming the bad value; callers wrap it with context. */
export function parseDigest(s: string): Digest {
  if (!isDigest(s)) throw new Error(`invalid sha256 digest ${JSON.stringify(s)}`);
  return s;
}

/** The 64 hex characters of a sha256 digest. */
export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function digestFromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Incremental sha256 with a byte count, for data that arrives in pieces. */
export class Sha256Hasher {
  #hash: Hash = createHash('sha256');
  #size = 0;
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
  }
  get size(): number {
    return this.#size;
  }
  /** May be called once. */
  digest(): Digest {
    return `sha256:${this.#hash.digest('hex')}`;
  }
}

/**
 * A pass-through stream that hashes what flows through it. After 'end',
 * `result()` gives the digest and byte count.
 */
export class HashingStream extends Transform {
  readonly #hasher = new Sha256Hasher();
  #result: { digest: Digest; size: number } | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hasher.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    this.#result = { digest: this.#hasher.digest(), size: this.#hasher.size };
    cb();
  }
  result(): { digest: Digest; size: number } {
    if (!this.#result) throw new Error('HashingStream.result() called before the stream ended');
    return this.#result;
  }
}

/**
 * A stream that checks its own bytes: it ends only when they are exactly
 * `verifies` (digest and size), and errors otherwise, so a reader that stores
 * what it read only after a clean end need not hash it again (the registry's
 * VerifyingStream; the blob store skips its own SHA-256 for such a body).
 */
export interface SelfVerifying {
  readonly verifies: { readonly digest: string; readonly size: number | undefined };
}

/** Whether `body` ends only when it is exactly `desc` (see SelfVerifying). */
export function verifiesAs(body: unknown, desc: { digest: string; size: number }): boolean {
  const v = (body as Partial<SelfVerifying> | null | undefined)?.verifies;
  return v !== undefined && v.digest === desc.digest && v.size === desc.size;
}
