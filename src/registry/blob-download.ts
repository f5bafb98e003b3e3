/**
 * One download of a blob into a BlobSink through one VerifyingStream. When
 * the connection drops part way and the registry serves ranges, the rest is
 * asked for with `Range: bytes=N-` and appended, so the digest check spans
 * the whole blob; otherwise the error goes up and the caller starts over.
 * The sink sees a single stream either way and keeps nothing unless it ends
 * verified.
 */
import { StagecraftError } from '../errors.js';
import type { Descriptor } from '../oci/index.js';
import { isRetryableNetworkError } from './registry-error.js';
import type { HttpResponse } from './transport.js';
import type { BlobProgress, BlobSink } from './types.js';
import { VerifyingStream } from './verify.js';

export interface DownloadOptions {
  /** Most Range requests after cuts. */
  resumes: number;
  retryBaseMs: number;
  onProgress?: BlobProgress | undefined;
}

/**
 * `open(from)` returns the blob's response: 200 for the whole blob, or (with
 * `from`) a 206 for the rest; it throws for any other status.
 */
export async function downloadBlob(
  desc: Descriptor,
  sink: BlobSink,
  what: string,
  open: (from?: number) => Promise<HttpResponse>,
  opts: DownloadOptions,
): Promise<void> {
  const verifier = new VerifyingStream(desc.digest, desc.size, what);
  let current = await open();
  let received = 0;
  const waitForRoom = (): Promise<void> => new Promise<void>((r) => {
    const done = (): void => { verifier.off('drain', done); verifier.off('close', done); r(); };
    verifier.on('drain', done);
    verifier.on('close', done);
  });
  const pump = async (): Promise<void> => {
    for (let resumes = 0; ; ) {
      try {
        for await (const chunk of current.body) {
          const b = chunk as Buffer;
          received += b.length;
          opts.onProgress?.(desc, received);
          if (verifier.destroyed) return;
          if (!verifier.write(b)) await waitForRoom();
        }
        verifier.end();
        return;
      } catch (e) {
        if (verifier.destroyed || !isRetryableNetworkError(e) || resumes >= opts.resumes || received === 0) throw e;
        if (current.headers['accept-ranges'] !== 'bytes' && current.status !== 206) throw e;
        resumes++;
        await new Promise((r) => setTimeout(r, opts.retryBaseMs * 2 ** (resumes - 1)));
        const next = await open(received);
        if (next.status !== 206 || !String(next.headers['content-range'] ?? '').startsWith(`bytes ${received}-`)) {
          next.body.resume();
          throw e;
        }
        current = next;
      }
    }
  };
  const pumping = pump().catch((e: unknown) => { verifier.destroy(e as Error); });
  try {
    await sink.put(desc, verifier);
  } catch (e) {
    current.body.destroy();
    await pumping;
    throw e;
  }
  await pumping;
  if (!verifier.readableEnded) {
    current.body.destroy();
    throw new StagecraftError('INTERNAL', `blob sink returned before reading ${desc.digest} to its end; nothing verified`);
  }
}
