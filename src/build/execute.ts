/**
 * The effects of one step: RUN in the OCI runtime, COPY/ADD between roots,
 * WORKDIR's mkdir. Each works on an overlay of the stage's layers with a fresh
 * upper directory, which then becomes the step's layer (commit.ts).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { lchown, lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError, type SourceRange } from '../errors.js';
import type { BuildContext } from '../context/build-context.js';
import { copy, type CopyResult } from '../fs/copy.js';
import { applyDeferredLinks, layerLinker } from '../fs/copy-links.js';
import type { CopyLinking } from '../fs/copy-tree.js';
import { mountOverlay, type OverlayMount } from '../fs/overlay.js';
import { cleanPath, resolveInRoot } from '../fs/scoped-path.js';
import { resolveChown, resolveUser } from '../fs/users.js';
import type { Step } from '../plan/types.js';
import type { Digest } from '../oci/index.js';
import type { OciRuntime } from '../runtime/detect.js';
import { runStep } from '../runtime/run-step.js';
import type { Store } from '../store/index.js';
import { commitUpper, type Committed } from './commit.js';
import type { LayerRef } from './images.js';
import { addSourceGroups } from './add-sources.js';
import { prepareRunMounts } from './run-mounts.js';
import type { BuildSecrets } from './secrets.js';

export interface StepResult extends Committed {
  /** Bytes a COPY/ADD wrote (for the size report); 0 for other steps. */
  copiedBytes: number;
}

export interface ExecContext {
  store: Store;
  runtime: () => Promise<OciRuntime>;
  context: BuildContext;
  /** The layers of a stage or image a COPY --from reads. */
  sourceLayers: (from: Extract<Step, { kind: 'copy' }>['from']) => LayerRef[] | undefined;
  sourceName: (from: Extract<Step, { kind: 'copy' }>['from']) => string;
  signal: AbortSignal;
  onOutput: (stream: 'stdout' | 'stderr', line: string) => void;
  /** --secret and --ssh of the build (RUN --mount=type=secret|ssh). */
  secrets?: BuildSecrets | undefined;
  /** --no-cache: cache mounts start empty and are thrown away (as BuildKit). */
  noCache?: boolean | undefined;
}

const OUTPUT_TAIL = 12;

function lowerDirs(store: Store, layers: readonly LayerRef[]): string[] {
  return layers.map((l) => store.layerDir(l.diffId)).reverse();
}

/**
 * The source stage's layer directories whose files COPY --from may link even
 * when they have other names (copy-links.ts): layers that hold no links
 * themselves (`linkedFrom: []`) and none of whose `.links` layers, nor the
 * layer itself, is in the destination stack.
 */
async function multiLinkDirs(store: Store, source: readonly LayerRef[], dest: readonly LayerRef[]): Promise<Set<string>> {
  const inDest = new Set(dest.map((l) => l.diffId));
  const out = new Set<string>();
  for (const l of new Set(source.map((x) => x.diffId))) {
    if (inDest.has(l)) continue;
    const info = await store.layerInfo(l);
    if (!info || !Array.isArray(info.linkedFrom) || info.linkedFrom.length > 0) continue;
    if ((await store.linkedInto(l)).some((d) => inDest.has(d))) continue;
    out.add(store.layerDir(l));
  }
  return out;
}

/** A step's scratch directory (made synchronously: a few microseconds, where node's thread pool took a millisecond or more). */
function snapshotDir(store: Store): string {
  return mkdtempSync(join(store.tmpDir, 'step-'));
}

/** Re-anchors an error thrown by a file operation at the instruction's lines. */
function located(e: unknown, location: SourceRange, prefix?: string): StagecraftError {
  if (e instanceof StagecraftError) {
    if (e.location) return e;
    const msg = prefix ? `${prefix}: ${e.message}` : e.message;
    return new StagecraftError(e.code, msg, { location, cause: e.cause ?? e, hint: e.hint });
  }
  const err = e as NodeJS.ErrnoException;
  return new StagecraftError('INTERNAL', `${prefix ? `${prefix}: ` : ''}${err.message ?? String(e)}`, { location, cause: e });
}

export async function executeRun(
  ctx: ExecContext,
  step: Extract<Step, { kind: 'run' }>,
  layers: readonly LayerRef[],
  instruction: string,
  location: SourceRange,
): Promise<StepResult> {
  if (step.security === 'insecure') {
    throw new StagecraftError('UNSUPPORTED', 'RUN --security=insecure is not supported', { location });
  }
  const runtime = await ctx.runtime();
  // RUN --mount and heredoc files (run-mounts.ts): outside the snapshot, released after the run.
  const prepared = await prepareRunMounts(ctx, step, location);
  const dir = snapshotDir(ctx.store);
  const tail: string[] = [];
  try {
    const result = await runStep({
      runtime,
      lowerDirs: lowerDirs(ctx.store, layers),
      snapshotDir: dir,
      args: step.args,
      env: [...step.env, ...prepared.env],
      extraMounts: prepared.extraMounts,
      cwd: step.cwd,
      user: { uid: 0, gid: 0 },
      resolveUser: async (rootfs: string) => {
        try {
          return await resolveUser(rootfs, step.user === '' ? 'root' : step.user);
        } catch (e) {
          throw located(e, location);
        }
      },
      network: step.network === 'none' ? 'none' : 'host',
      signal: ctx.signal,
      onOutput: (stream, chunk) => {
        for (const line of chunk.toString('utf8').replace(/\n$/, '').split('\n')) {
          tail.push(line);
          if (tail.length > OUTPUT_TAIL) tail.shift();
          ctx.onOutput(stream, line);
        }
      },
    });
    if (result.exitCode !== 0) {
      const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
      throw new StagecraftError('RUN_FAILED', `${instruction} ${how}`, {
        location,
        details: tail.length > 0 ? ['last lines of its output:', ...tail.map((l) => `  ${l}`)] : ['it printed nothing'],
      });
    }
    const committed = await commitUpper(ctx.store, result.upperDir);
    return { ...committed, copiedBytes: 0 };
  } finally {
    await prepared.release();
    ctx.store.discard(dir); // in the background; the build waits for it before it ends
  }
}

export async function executeCopy(
  ctx: ExecContext,
  step: Extract<Step, { kind: 'copy' }>,
  layers: readonly LayerRef[],
  location: SourceRange,
): Promise<StepResult> {
  const dir = snapshotDir(ctx.store);
  const mounts: OverlayMount[] = [];
  try {
    const upperDir = join(dir, 'upper');
    const workDir = join(dir, 'work');
    mkdirSync(upperDir);
    mkdirSync(workDir);
    // COPY --link (docs/run-mounts.md): the files go into an empty tree of their own, the
    // step's layer; the stage is mounted read-only only to resolve --chown names (a numeric
    // --chown, or none, needs no mount). (Without a mount, the empty work dir stands in.)
    const chownNames = /[^0-9:]/.test(step.chown ?? '');
    const dest = !step.link
      ? await mountOverlay({ lowerDirs: lowerDirs(ctx.store, layers), upperDir, workDir, target: join(dir, 'merged') })
      : layers.length > 0 && chownNames ? await mountOverlay({ lowerDirs: lowerDirs(ctx.store, layers), target: join(dir, 'merged'), readonly: true }) : undefined;
    if (dest) mounts.push(dest);
    const destRoot = step.link ? upperDir : dest!.target;

    let srcRoot: string;
    let sources = step.sources;
    let keepOwners = false;
    let ignore = undefined as Parameters<typeof copy>[0]['ignore'];
    let linking: CopyLinking | undefined;
    const layerOfDir = new Map<string, Digest>();
    if (step.inline.length > 0) {
      srcRoot = join(dir, 'inline');
      await mkdir(srcRoot);
      for (const f of step.inline) await writeFile(join(srcRoot, f.name), f.content, { mode: 0o644 });
      sources = step.inline.map((f) => f.name);
    } else if (step.from.kind === 'context') {
      srcRoot = ctx.context.dir;
      ignore = ctx.context.ignore;
    } else {
      const src = ctx.sourceLayers(step.from);
      if (!src) throw new StagecraftError('INTERNAL', `source ${ctx.sourceName(step.from)} was not built before this step`, { location });
      const m = await mountOverlay({ lowerDirs: lowerDirs(ctx.store, src), target: join(dir, 'source'), readonly: true });
      mounts.push(m);
      srcRoot = m.target;
      keepOwners = true;
      // Files keep the source's owner, mode and times: link them from the stage's layers (copy-links.ts).
      if (!step.isAdd && !step.chown && !step.chmod) {
        for (const l of src) layerOfDir.set(ctx.store.layerDir(l.diffId), l.diffId);
        linking = layerLinker({
          mountRoot: m.target, sourceLayerDirs: lowerDirs(ctx.store, src), destLayerDirs: lowerDirs(ctx.store, layers), deferred: !step.link,
          multiLink: await multiLinkDirs(ctx.store, src, layers),
        });
      }
    }
    let chown;
    if (step.chown) {
      try {
        chown = await resolveChown(dest?.target ?? workDir, step.chown);
      } catch (e) {
        throw located(e, location);
      }
    }
    const stats = { bytes: 0 };
    const finishes: Array<NonNullable<CopyResult['finish']>> = [];
    try {
      // ADD: local archives unpacked, URLs and git repositories fetched (add-sources.ts).
      const groups = step.isAdd
        ? await addSourceGroups(step, { srcRoot, sources, keepOwners, ignore }, { tmpDir: ctx.store.tmpDir, scope: ctx.context, signal: ctx.signal, secret: ctx.secrets ? (id) => ctx.secrets!.secret(id) : undefined, sshAgent: () => ctx.secrets?.sshSockets('default')?.[0] })
        : [{ srcRoot, sources, keepOwners, ignore, unpackArchives: false }];
      for (const g of groups) {
        const s = await copy({
          ...g,
          dest: step.dest,
          destRoot,
          workdir: step.workdir,
          chown,
          chmod: step.chmod,
          excludes: step.excludes,
          parents: step.parents,
          sourceName: ctx.sourceName(step.from),
          linking,
          // New directories' trees go straight into the upper directory after the unmount
          // (copy-tree.ts, deferTo): one group only, so nothing later writes into them first.
          deferTo: !step.link && groups.length === 1 ? { upperDir } : undefined,
        });
        stats.bytes += s.bytes;
        if (s.finish) finishes.push(s.finish);
      }
    } catch (e) {
      throw located(e, location);
    }
    // The view is unmounted first; a source stage's view stays mounted while the deferred trees are read from it.
    if (dest) {
      mounts.splice(mounts.indexOf(dest), 1);
      await dest.unmount();
    }
    try {
      if (linking?.deferred) applyDeferredLinks(linking, dest!.target, upperDir);
      for (const finish of finishes) stats.bytes += (await finish()).bytes;
    } catch (e) {
      throw located(e, location);
    }
    for (const m of mounts.splice(0).reverse()) await m.unmount();
    const linkedFrom = [...(linking?.sources ?? [])].map((d) => layerOfDir.get(d)).filter((d): d is Digest => d !== undefined);
    const committed = await commitUpper(ctx.store, upperDir, linkedFrom);
    return { ...committed, copiedBytes: stats.bytes };
  } finally {
    for (const m of mounts.reverse()) await m.unmount().catch(() => undefined);
    ctx.store.discard(dir); // in the background; the build waits for it before it ends
  }
}

/** WORKDIR: create the directory when missing, owned by the stage's USER (BuildKit's rule). */
export async function executeMkdir(
  ctx: ExecContext,
  step: Extract<Step, { kind: 'mkdir' }>,
  layers: readonly LayerRef[],
  location: SourceRange,
): Promise<StepResult> {
  const dir = snapshotDir(ctx.store);
  let mount: OverlayMount | undefined;
  try {
    const upperDir = join(dir, 'upper');
    const workDir = join(dir, 'work');
    mkdirSync(upperDir);
    mkdirSync(workDir);
    mount = await mountOverlay({ lowerDirs: lowerDirs(ctx.store, layers), upperDir, workDir, target: join(dir, 'merged') });
    const root = mount.target;
    // BuildKit's FileOp mkdir for USER: a name found in the image's passwd gives its uid and
    // primary gid, a numeric uid alone gives uid:uid, and a name that is not there gives root.
    let owner = { uid: 0, gid: 0 };
    if (step.user !== '') {
      try {
        owner = (await resolveChown(root, step.user, { missing: 'root' })) ?? owner;
      } catch (e) {
        throw located(e, location);
      }
    }
    // Walk down the path, creating what is missing; symlinks resolve inside the root.
    const parts = cleanPath(step.path).split('/').filter(Boolean);
    let inImage = '';
    for (const part of parts) {
      inImage = `${inImage}/${part}`;
      const host = await resolveInRoot(root, inImage);
      const st = await lstat(host).catch(() => undefined);
      if (st?.isDirectory()) continue;
      if (st) throw new StagecraftError('COPY', `cannot create WORKDIR ${step.path}: ${inImage} exists and is not a directory`, { location });
      await mkdir(host, { mode: 0o755 });
      await lchown(host, owner.uid, owner.gid);
    }
    await mount.unmount();
    mount = undefined;
    const committed = await commitUpper(ctx.store, upperDir);
    return { ...committed, copiedBytes: 0 };
  } finally {
    await mount?.unmount().catch(() => undefined);
    ctx.store.discard(dir); // in the background; the build waits for it before it ends
  }
}
