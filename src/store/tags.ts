import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StagecraftError } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
import { Annotation, type Descriptor, type Index } from '../oci/types.js';
import { parseIndex } from '../oci/documents.js';
import { writeFileAtomic } from './atomic.js';

/**
 * `<root>/index.json`: an OCI image index whose entries are the tagged
 * images, one per reference (annotation org.opencontainers.image.ref.name
 * holds the full reference). Callers hold the store lock around changes.
 */
export class TagIndex {
  readonly path: string;
  readonly #tmp: string;
  /** The file as last read or written, so a write that changes nothing is skipped (a no-op rebuild re-tags). */
  #last: string | undefined;

  constructor(root: string, tmpDir: string) {
    this.path = join(root, 'index.json');
    this.#tmp = tmpDir;
  }

  async read(): Promise<Index> {
    let raw: string;
    try {
      raw = readFileSync(this.path, 'utf8'); // small; synchronous is ~10x quicker than the thread pool
      this.#last = raw;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
      throw e;
    }
    try {
      return parseIndex(raw);
    } catch (e) {
      throw new StagecraftError('STORE', `${this.path} is corrupt: ${(e as Error).message}`, { cause: e, hint: 'restore it from a backup or remove it (tags are lost, blobs stay)' });
    }
  }

  /** Replaces the index (durably); with `after`, the new index takes effect only once it resolves. */
  async write(index: Index, after?: Promise<unknown>): Promise<void> {
    // Ordinal order: stable across locales, and localeCompare's first call costs ~10 ms (ICU collator).
    const sorted: Index = { ...index, manifests: [...index.manifests].sort((a, b) => compareRefs(refOf(a), refOf(b))) };
    const text = `${JSON.stringify(sorted, null, 1)}\n`;
    if (text === this.#last) {
      await after;
      return;
    }
    await writeFileAtomic(this.path, text, this.#tmp, 0o644, { after });
    this.#last = text;
  }
}

function compareRefs(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function refOf(d: Descriptor): string {
  return d.annotations?.[Annotation.refName] ?? '';
}
