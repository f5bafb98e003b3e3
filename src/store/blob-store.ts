import { chmodSync, closeSync, createReadStream, existsSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { chmod, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import { digestHex, HashingStream, isDigest, sha256, verifiesAs, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { fsyncFd, streamToNewFile, tmpName } from './atomic.js';
import type { PendingSync } from './pending-sync.js';

/** Blobs up to this size are read with one blocking read (getBytes). */
const SYNC_READ_MAX = 1 << 20;

/**
 * Content-addressed blobs under `<root>/blobs/sha256/<hex>`. A blob is
 * written to the scratch dir, checked against its expected digest and size,
 * and only then renamed into place: a corrupt or truncated blob is never
 * visible.
 */
export class BlobStore {
  readonly dir: string;
  readonly #tmp: string;

  readonly #pending: PendingSync | undefined;

  /** `pending` notes blobs written with `durable: false` for the store's next sync. */
  constructor(root: string, tmpDir: string, pending?: PendingSync) {
    this.dir = join(root, 'blobs', 'sha256');
    this.#tmp = tmpDir;
    this.#pending = pending;
  }

  path(digest: Digest): string {
    if (!isDigest(digest)) throw new StagecraftError('DIGEST', `not a sha256 digest: ${JSON.stringify(digest)}`);
    return join(this.dir, digestHex(digest));
  }

  async has(digest: Digest): Promise<boolean> {
    // Synchronous stat: one system call, where the thread pool costs a round trip ~10x as long.
    return statSync(this.path(digest), { throwIfNoEntry: false })?.isFile() ?? false;
  }

  async size(digest: Digest): Promise<number> {
    return (await stat(this.path(digest))).size;
  }

  /**
   * Stores a blob. With a descriptor, the content must match its digest and
   * size or nothing is kept and a DIGEST error is thrown. `durable: false`
   * skips the fsync, for a caller that syncs the store's filesystem before
   * anything names the blob (a pull syncs before it tags). A body that
   * checks itself (SelfVerifying: the registry's download) is not hashed
   * again; neither is one the caller vouches for with `verifiedBy`, a
   * self-verifying stream whose bytes `body` carries (a tee of the download).
   */
  async put(desc: Pick<Descriptor, 'digest' | 'size'> | undefined, body: Readable | AsyncIterable<Uint8Array> | Uint8Array, opts: { durable?: boolean; verifiedBy?: unknown } = {}): Promise<{ digest: Digest; size: number }> {
    const durable = opts.durable ?? true;
    if (desc && (await this.has(desc.digest))) {
      // Already stored: drain the body so a producer is not left hanging.
      if (!(body instanceof Uint8Array)) for await (const _ of body) { /* discard */ }
      return { digest: desc.digest, size: await this.size(desc.digest) };
    }
    const tmp = tmpName(this.#tmp, 'blob');
    let result: { digest: Digest; size: number };
    try {
      if (body instanceof Uint8Array) {
        result = { digest: sha256(body), size: body.byteLength };
        if ((!desc || (desc.digest === result.digest && desc.size === result.size)) && body.byteLength <= SYNC_READ_MAX) {
          // A document (config, manifest): written synchronously, as it is read (getBytes); only an fsync waits on the pool.
          const fd = openSync(tmp, 'wx', 0o644);
          try { writeFileSync(fd, body); if (durable) await fsyncFd(fd); } finally { closeSync(fd); }
          chmodSync(tmp, 0o444);
          renameSync(tmp, this.path(result.digest));
          if (!durable) this.#pending?.file(this.path(result.digest));
          return result;
        }
        if (!desc || (desc.digest === result.digest && desc.size === result.size)) {
          const fh = await open(tmp, 'wx', 0o644);
          try { await fh.writeFile(body); if (durable) await fh.sync(); } finally { await fh.close(); }
        }
      } else {
        if (desc && (verifiesAs(body, desc) || (opts.verifiedBy !== undefined && verifiesAs(opts.verifiedBy, desc)))) {
          // Checked as it streamed (SHA-256 of a 200 MB layer is ~0.15 s of this thread): it ended, so it is desc.
          result = { digest: desc.digest, size: await streamToNewFile(tmp, body, [], { mode: 0o644, exclusive: true }) };
        } else {
          const hash = new HashingStream();
          await streamToNewFile(tmp, body, [hash], { mode: 0o644, exclusive: true });
          result = hash.result();
        }
        if (durable) {
          const fh = await open(tmp, 'r+');
          try { await fh.sync(); } finally { await fh.close(); }
        }
      }
      if (desc && (desc.digest !== result.digest || desc.size !== result.size)) {
        throw new StagecraftError('DIGEST', `blob content does not match its descriptor: expected ${desc.digest} (${desc.size} bytes), got ${result.digest} (${result.size} bytes)`, { hint: 'the source is corrupt or was truncated; nothing was stored' });
      }
      await chmod(tmp, 0o444);
      await rename(tmp, this.path(result.digest));
      if (!durable) this.#pending?.file(this.path(result.digest));
      return result;
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** Streams a stored blob (throws NOT_FOUND when absent). */
  get(digest: Digest): Readable {
    const p = this.path(digest);
    if (!existsSync(p)) throw notFound(digest);
    return createReadStream(p);
  }

  /** Reads a whole blob and checks it against its digest. */
  async getBytes(digest: Digest): Promise<Buffer> {
    let buf: Buffer;
    try {
      // Documents (configs, manifests: a few KiB) are read synchronously, which is ~10x quicker
      // than the thread pool's four round trips; anything large still goes the async way.
      const path = this.path(digest);
      const st = statSync(path);
      if (st.size <= SYNC_READ_MAX) buf = readFileSync(path);
      else {
        const fh = await open(path, 'r');
        try { buf = await fh.readFile(); } finally { await fh.close(); }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(digest);
      throw e;
    }
    if (sha256(buf) !== digest) throw new StagecraftError('STORE', `stored blob ${digest} is corrupt (its content has digest ${sha256(buf)})`, { hint: 'remove it and pull or build the image again' });
    return buf;
  }

  async getJSON<T = unknown>(digest: Digest): Promise<T> {
    const buf = await this.getBytes(digest);
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (e) {
      throw new StagecraftError('STORE', `blob ${digest} is not JSON`, { cause: e });
    }
  }

  async list(): Promise<Digest[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }

  async remove(digest: Digest): Promise<number> {
    const p = this.path(digest);
    const st = await stat(p).catch(() => undefined);
    await rm(p, { force: true });
    return st?.size ?? 0;
  }
}

function notFound(digest: Digest): StagecraftError {
  return new StagecraftError('NOT_FOUND', `blob ${digest} is not in the local store`);
}
