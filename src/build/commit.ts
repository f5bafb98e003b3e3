/**
 * Turns a step's overlay upper directory into a layer: its tar is hashed as it
 * is produced (the diffId), nothing else is written, and the directory itself
 * is renamed into the store, where it serves as a lower dir for later steps.
 * The tar blob is made only when an output needs it (save, push), by the same
 * walker (src/tar/from-dir.ts), so it reproduces this diffId.
 */
import { rm } from 'node:fs/promises';
import { StagecraftError } from '../errors.js';
import type { Digest } from '../oci/index.js';
import type { Store } from '../store/index.js';
import { writeLayerFromDir } from '../tar/from-dir.js';

export interface Committed {
  /** undefined when the step changed nothing (the history entry becomes empty_layer). */
  diffId: Digest | undefined;
  size: number;
}

/** diffId, tar size and entry count of a layer directory, without writing the tar anywhere. */
export async function digestLayerDir(dir: string): Promise<{ diffId: Digest; size: number; entries: number }> {
  try {
    const { diffId, size, entries } = await writeLayerFromDir(dir);
    return { diffId: diffId as Digest, size, entries };
  } catch (e) {
    throw new StagecraftError('INTERNAL', `cannot make the step's layer: ${(e as Error).message}`, { cause: e });
  }
}

/** `linkedFrom`: the layers whose files the directory holds hardlinks to (COPY --from, copy-links.ts). */
export async function commitUpper(store: Store, upperDir: string, linkedFrom: readonly Digest[] = []): Promise<Committed> {
  const { diffId, size, entries } = await digestLayerDir(upperDir);
  if (entries === 0) {
    await rm(upperDir, { recursive: true, force: true });
    return { diffId: undefined, size: 0 };
  }
  await store.commitLayerDir(upperDir, diffId, size, linkedFrom);
  return { diffId, size };
}
