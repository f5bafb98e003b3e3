/**
 * Streams and buffers checked against the descriptor they claim to be.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StagecraftError } from '../errors.js';
import type { SelfVerifying } from '../oci/digest.js';

const ALGORITHMS: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

function hasherFor(digest: string): Hash {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  const node = ALGORITHMS[algorithm];
  if (!node) throw new StagecraftError('DIGEST', `unsupported digest algorithm in ${digest}`);
  return createHash(node);
}

/** `algorithm:hex` of `data`, with the algorithm of `like`. */
export function digestLike(like: string, data: Uint8Array): string {
  return `${like.slice(0, like.indexOf(':'))}:${hasherFor(like).update(data).digest('hex')}`;
}

/**
 * A pass-through that errors (instead of ending) when the bytes are not
 * `size` long or do not hash to `digest`; it fails as soon as more than `size`
 * bytes arrive, so a lying server cannot stream forever.
 */
export class VerifyingStream extends Transform implements SelfVerifying {
  readonly verifies: SelfVerifying['verifies'];
  readonly #digest: string;
  readonly #size: number | undefined;
  readonly #hash: Hash;
  readonly #what: string;
  #seen = 0;

  /** `what` names the blob in error messages, e.g. `layer sha256:ab.. of 127.0.0.1:5000/busybox`. */
  constructor(digest: string, size: number | undefined, what: string) {
    super();
    this.#digest = digest;
    this.#size = size;
    this.#hash = hasherFor(digest);
    this.#what = what;
    this.verifies = { digest, size };
  }

  get bytes(): number {
    return this.#seen;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#size !== undefined && this.#seen > this.#size) {
      cb(new StagecraftError('DIGEST', `${this.#what}: received more than the ${this.#size} bytes its descriptor declares`));
      return;
    }
    this.#hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.#size !== undefined && this.#seen !== this.#size) {
      cb(new StagecraftError('DIGEST', `${this.#what}: received ${this.#seen} bytes, its descriptor declares ${this.#size}`));
      return;
    }
    const got = `${this.#digest.slice(0, this.#digest.indexOf(':'))}:${this.#hash.digest('hex')}`;
    if (got !== this.#digest) {
      cb(new StagecraftError('DIGEST', `${this.#what}: content has digest ${got}, expected ${this.#digest}`));
      return;
    }
    cb();
  }
}

/** Throws a DIGEST error when `data` is not what `digest` (and `size`, if given) say. */
export function verifyBytes(data: Uint8Array, digest: string, size: number | undefined, what: string): void {
  if (size !== undefined && data.byteLength !== size) {
    throw new StagecraftError('DIGEST', `${what}: received ${data.byteLength} bytes, its descriptor declares ${size}`);
  }
  const got = digestLike(digest, data);
  if (got !== digest) throw new StagecraftError('DIGEST', `${what}: content has digest ${got}, expected ${digest}`);
}
