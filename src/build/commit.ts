/**
 * Turns a step's overlay upper directory into a layer: its tar is hashed as it
 * streams (the diffId), nothing else is written, and the directory itself is
 * renamed into the store, where it serves as a lower dir for later steps. The
 * tar blob is made only when an output needs it (save, push), by the same
 * writer, so it reproduces this diffId.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Digest } from '../oci/index.js';
import type { Store } from '../store/index.js';
import { dirToLayerEntries, tarChunks } from '../tar/index.js';

export interface Committed {
  /** undefined when the step changed nothing (the history entry becomes empty_layer). */
  diffId: Digest | undefined;
  size: number;
}

export async function digestLayerDir(dir: string): Promise<{ diffId: Digest; size: number; entries: number }> {
  const hash = createHash('sha256');
  let size = 0;
  let entries = 0;
  async function* counted() {
    for await (const e of dirToLayerEntries(dir, { format: 'overlay' })) {
      entries++;
      yield e;
    }
  }
  for await (const chunk of tarChunks(counted())) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { diffId: `sha256:${hash.digest('hex')}` as Digest, size, entries };
}

export async function commitUpper(store: Store, upperDir: string): Promise<Committed> {
  const { diffId, size, entries } = await digestLayerDir(upperDir);
  if (entries === 0) {
    await rm(upperDir, { recursive: true, force: true });
    return { diffId: undefined, size: 0 };
  }
  await store.commitLayerDir(upperDir, diffId, size);
  return { diffId, size };
}
