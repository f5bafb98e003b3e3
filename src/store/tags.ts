import { readFile } from 'node:fs/promises';
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

  constructor(root: string, tmpDir: string) {
    this.path = join(root, 'index.json');
    this.#tmp = tmpDir;
  }

  async read(): Promise<Index> {
    let raw: string;
    try {
      raw = await readFile(this.path, 'utf8');
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

  async write(index: Index): Promise<void> {
    const sorted: Index = { ...index, manifests: [...index.manifests].sort((a, b) => refOf(a).localeCompare(refOf(b))) };
    await writeFileAtomic(this.path, `${JSON.stringify(sorted, null, 1)}\n`, this.#tmp);
  }
}

export function refOf(d: Descriptor): string {
  return d.annotations?.[Annotation.refName] ?? '';
}
