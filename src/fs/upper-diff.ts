/**
 * A layer from an overlay upper directory.
 *
 * After a step runs, its overlay upper dir holds exactly what changed: new and
 * modified files (whole files, since we mount with metacopy=off), whiteouts for
 * deletions, and opaque directories for "deleted and recreated". The layer is
 * written by the one directory walker in src/tar/from-dir.ts, which walks ONLY
 * that directory (never the image), so what a commit hashes, what this writes
 * and what the store regenerates later are the same bytes.
 */
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { StagecraftError } from '../errors.js';
import { writeLayerFromDir, type LayerDigestInfo, type WriteLayerOptions } from '../tar/from-dir.js';

export { splitDev, type LayerDigestInfo } from '../tar/from-dir.js';

export type LayerFromUpperOptions = Omit<WriteLayerOptions, 'format'>;

/** Writes the layer tar of an upper dir to `out` (ended unless `end: false`). */
export async function writeLayerFromUpper(upperDir: string, out: Writable, opts: LayerFromUpperOptions = {}): Promise<LayerDigestInfo> {
  if (!existsSync(upperDir)) throw new StagecraftError('NOT_FOUND', `upper directory ${upperDir} does not exist`);
  try {
    return await writeLayerFromDir(upperDir, out, { ...opts, format: 'overlay' });
  } catch (e) {
    if (e instanceof StagecraftError) throw e;
    throw new StagecraftError('INTERNAL', `cannot write the layer of ${upperDir}: ${(e as Error).message}`, { cause: e });
  }
}
