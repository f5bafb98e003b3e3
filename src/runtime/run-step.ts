/**
 * One RUN step on a snapshot: mount the image's layers with a fresh upper dir,
 * run the process in a container on the merged view, unmount, and remove the
 * mount-point stubs the runtime made. The upper dir is then the step's layer:
 * hand it to `writeLayerFromUpper`.
 *
 *   snapshotDir/upper   the changes (kept; the caller turns them into a layer)
 *   snapshotDir/work    overlay's scratch (left for the caller, which removes snapshotDir)
 *   snapshotDir/merged  the mount point, empty (likewise)
 */
import * as path from 'node:path';
import { mountOverlay } from '../fs/overlay.js';
import { cleanUpper, recordStubs } from '../fs/overlay-stubs.js';
import { runContainer, type RunContainerOptions, type RunContainerResult } from './run-container.js';
import { standardMounts } from './spec.js';

export interface RunStepOptions extends Omit<RunContainerOptions, 'rootfs'> {
  /** The image's layer dirs, topmost first. */
  lowerDirs: string[];
  /**
   * A new, empty directory for this step. The step leaves `upper` (the result), `work` and the
   * empty mount point `merged` in it; removing the directory is the caller's (a build removes it in
   * the background: removing overlay's work directory took 2-3 ms of every RUN step).
   */
  snapshotDir: string;
  /**
   * Resolves the process user on the mounted rootfs (USER names live in the
   * image's own /etc/passwd); when given, it replaces `user`.
   */
  resolveUser?: (rootfs: string) => Promise<RunContainerOptions['user']>;
}

export interface RunStepResult extends RunContainerResult {
  /** The step's changes, ready for writeLayerFromUpper. */
  upperDir: string;
  /** Stub paths removed from the upper dir after the run. */
  removedStubs: string[];
}

export async function runStep(o: RunStepOptions): Promise<RunStepResult> {
  const upperDir = path.join(o.snapshotDir, 'upper');
  const workDir = path.join(o.snapshotDir, 'work');
  const merged = path.join(o.snapshotDir, 'merged');
  const { lowerDirs, snapshotDir: _snapshot, resolveUser, ...runOpts } = o;
  const targets = [...standardMounts('', ''), ...(o.extraMounts ?? [])].map((m) => m.destination);

  const mount = await mountOverlay({ lowerDirs, upperDir, workDir, target: merged });
  let result: RunContainerResult;
  let stubs;
  try {
    const user = resolveUser ? await resolveUser(merged) : runOpts.user;
    stubs = await recordStubs(merged, targets);
    result = await runContainer({ ...runOpts, user, rootfs: merged });
  } finally {
    await mount.unmount();
  }
  const removedStubs = await cleanUpper(upperDir, stubs);
  return { ...result, upperDir, removedStubs };
}
