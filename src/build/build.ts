/**
 * `build()`: Dockerfile text -> AST -> stages -> graph -> per stage, steps ->
 * layers -> image in the local store. The only module that knows all the
 * others. Stages are tasks in a DAG: each starts when what it needs (its base
 * image or stage, the stages it copies from) is ready, and independent stages
 * run at the same time. Unneeded stages are never resolved or run.
 */
import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StagecraftError } from '../errors.js';
import { BuildContext } from '../context/build-context.js';
import { parse } from '../dockerfile/parser/index.js';
import { parseStages } from '../dockerfile/instructions/index.js';
import { platformFromNode, formatPlatform, parsePlatform, type Digest, type ImageConfig, type Platform } from '../oci/index.js';
import { dispatchStage, parseTrigger, planGraph, progressPrefix, type DispatchResult, type GraphResult } from '../plan/index.js';
import type { BuildRequest, HistoryEntry, PlannedStage, StepSource } from '../plan/types.js';
import type { RegistryClient } from '../registry/index.js';
import { detectRuntime, type OciRuntime, type RuntimeName } from '../runtime/detect.js';
import { Store } from '../store/index.js';
import { sizeSummary, type StageSize } from '../report/size.js';
import { baseKey, stepKey } from './cache-key.js';
import type { BuildEvent, EventSink } from './events.js';
import { executeCopy, executeMkdir, executeRun, type ExecContext, type StepResult } from './execute.js';
import { localImage, normalizeRef, pullImage, type ImageSource, type LayerRef } from './images.js';
import { runDag, Singleflight, type Task } from './scheduler.js';
import { remoteInputs, remoteKind } from './add-sources.js';
import { runMountInputs } from './run-mounts.js';
import { BuildSecrets, type SecretSpec, type SshSpec } from './secrets.js';
import { lintBuild, resolveImagesAndTriggers } from './prepare.js';
import type { StoreRegistryOptions } from './options.js';
import { warmSyscallHelper } from '../util/syscall-helper.js';

export interface BuildOptions extends StoreRegistryOptions {
  /** The build context directory. */
  context: string;
  /** Dockerfile path (default `<context>/Dockerfile`). */
  dockerfile?: string | undefined;
  /** References to tag the result with. */
  tags?: string[] | undefined;
  target?: string | undefined;
  buildArgs?: Record<string, string> | undefined;
  noCache?: boolean | undefined;
  runtime?: RuntimeName | undefined;
  /** Steps running at once (default: the number of cores). */
  jobs?: number | undefined;
  onEvent?: EventSink | undefined;
  signal?: AbortSignal | undefined;
  /** --secret values for RUN --mount=type=secret (parseSecretFlag). */
  secrets?: SecretSpec[] | undefined;
  /** --ssh agents for RUN --mount=type=ssh (parseSshFlag). */
  ssh?: SshSpec[] | undefined;
}

export interface BuildResult {
  manifestDigest: Digest;
  configDigest: Digest;
  /** Full references the image was tagged with. */
  tags: string[];
  config: ImageConfig;
  /** Bytes of the final image (its layers, uncompressed). */
  size: number;
  stages: StageSize[];
  summary: string[];
}

interface StageOutput {
  index: number;
  name: string;
  key: string;
  layers: LayerRef[];
  /** Image config fields carried from the base (architecture, os, ...). */
  base: ImageConfig | undefined;
  history: HistoryEntry[];
  dispatch: DispatchResult;
  builtLayers: number;
  /** Bytes each COPY --from took from other stages, by stage name. */
  copiedFrom: Map<string, number>;
  /** Stages a RUN --mount=from read (bind or cache seed), by name. */
  mountedFrom: Set<string>;
}

const DEFAULT_ROOT = '/var/lib/stagecraft';

export async function build(opts: BuildOptions): Promise<BuildResult> {
  try {
    return await buildUnlabelled(opts);
  } catch (e) {
    throw withDockerfileName(e, opts.dockerfile ?? 'Dockerfile');
  }
}

/**
 * Every location in a build error is a range in the Dockerfile; name that
 * file as the user gave it (`-f ci/Dockerfile.prod:3`) where the frontend or
 * a step left the file out. The error object keeps its class and cause.
 */
function withDockerfileName(e: unknown, file: string): unknown {
  if (e instanceof StagecraftError && e.location && e.location.file === undefined) {
    (e as { location: StagecraftError['location'] }).location = { ...e.location, file };
  }
  return e;
}

async function buildUnlabelled(opts: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const emit: EventSink = opts.onEvent ?? (() => undefined);
  const contextDir = resolve(opts.context);
  const dockerfilePath = resolve(opts.dockerfile ?? join(contextDir, 'Dockerfile'));
  const file = opts.dockerfile ?? 'Dockerfile';
  const reading = readDockerfile(dockerfilePath, file);
  // While the file is read: the helper that will mount the first step's snapshot gets its script now.
  warmSyscallHelper();
  const text = await reading;

  // Parser warnings (empty continuation lines) reach the user as lint's NoEmptyContinuation (prepare.ts).
  const parsed = parse(text, { file });
  const stages = parseStages(parsed.ast);
  const hostPlatform = platformFromNode(process.platform, process.arch);
  const platform = opts.platform ? requirePlatform(opts.platform) : hostPlatform;
  const req: BuildRequest = {
    ...(opts.target !== undefined ? { target: opts.target } : {}),
    buildArgs: opts.buildArgs ?? {},
    platform,
    buildPlatform: hostPlatform,
    file,
  };
  const planned = planGraph({ ...stages, escapeToken: parsed.escapeToken }, req);
  emit({ type: 'build-start', dockerfile: file, context: contextDir, target: planned.stages[planned.target]!.displayName, stages: planned.needed.map((i) => planned.stages[i]!.displayName) });

  const store = await Store.open(opts.root ?? DEFAULT_ROOT);
  // The registry stack (http, https, tls) is loaded only when an image must be pulled: a build
  // whose images are all in the store never needs it. Mirrors are checked up front all the same.
  let clientPromise: Promise<RegistryClient> | undefined;
  const client = (): Promise<RegistryClient> => (clientPromise ??= import('../registry/index.js').then(({ RegistryClient, registryClientOptions }) => new RegistryClient(registryClientOptions({
    insecureRegistry: opts.insecureRegistries, registryMirror: opts.registryMirrors, certsDir: opts.certsDir, configDir: opts.dockerConfigDir,
  }))));
  if ((opts.registryMirrors ?? []).length > 0) await client();
  const context = await BuildContext.open(contextDir, {
    dockerfilePath,
    statCachePath: join(store.root, 'context-cache', `${createHash('sha256').update(contextDir).digest('hex').slice(0, 32)}.json`),
  });
  let runtimePromise: Promise<OciRuntime> | undefined;
  const runtime = (): Promise<OciRuntime> => (runtimePromise ??= detectRuntime(opts.runtime ?? 'runc'));
  const singleflight = new Singleflight<StepResult & { created: string }>();
  const pendingRecords: Array<[string, CacheRecord]> = [];
  const secrets = new BuildSecrets(opts.secrets ?? [], opts.ssh ?? []);

  // Images: every base and COPY --from image of a needed stage, resolved once, before any
  // step (prepare.ts): base images' ONBUILD triggers may add dependencies, and lint reads them.
  const resolving = new Map<string, Promise<ImageSource>>();
  const earlySyncs: Array<Promise<void>> = [];
  const resolved = new Map<string, ImageSource>();
  const imageTaskId = (ref: string): string => `image:${normalizeRef(ref).toString()}`;
  const resolveOnce = (ref: string, location: PlannedStage['location']): Promise<ImageSource> => {
    const id = imageTaskId(ref);
    let p = resolving.get(id);
    if (!p) {
      p = (async () => {
        const t0 = Date.now();
        emit({ type: 'resolve-start', ref });
        const src = await resolveImage(store, client, ref, platform).catch((e: unknown) => {
          throw relocated(e, location);
        });
        emit({ type: 'resolve-done', ref, digest: src.manifestDigest, layers: src.layers.length, pulledBytes: src.pulledBytes, durationMs: Date.now() - t0 });
        resolved.set(id, src);
        return src;
      })();
      resolving.set(id, p);
    }
    return p;
  };
  // A missing base image is reported at its FROM line, not the whole stage.
  const graph = await resolveImagesAndTriggers({ graph: planned, fromLocation: (i) => stages.stages[i]!.from.location, resolve: resolveOnce, signal: opts.signal });
  // Pulled layers must be on disk before the build's cache records name them. Flushing them once
  // every pull is done, while the steps run, leaves the build's one sync at the end little to
  // wait for (a sync while another pull still unpacks would slow that pull down).
  if ([...resolved.values()].some((s) => s.pulledBytes > 0)) earlySyncs.push(store.sync().catch(() => undefined));
  const needed = graph.needed.map((i) => graph.stages[i]!);
  lintBuild({
    text, parsed, file, dockerfilePath, contextDir, buildArgs: opts.buildArgs ?? {}, target: opts.target, platform: formatPlatform(platform), store, emit,
    image: (ref) => { try { return resolved.get(imageTaskId(ref)); } catch { return undefined; } },
  });
  const imageTasks = new Map<string, Task<ImageSource>>();
  const addImage = (ref: string): string => {
    const id = imageTaskId(ref);
    const p = resolving.get(id);
    if (!p) throw new StagecraftError('INTERNAL', `image ${ref} was not resolved before the build`);
    if (!imageTasks.has(id)) imageTasks.set(id, { id, deps: [], run: () => p });
    return id;
  };
  const buildTime = new Date(started).toISOString();

  const stageTasks: Array<Task<StageOutput>> = [];
  for (const st of needed) {
    const deps: string[] = [];
    if (st.base.kind === 'image') deps.push(addImage(st.base.ref));
    if (st.base.kind === 'stage') deps.push(`stage:${st.base.index}`);
    for (const d of st.dependsOn) if (!deps.includes(`stage:${d}`)) deps.push(`stage:${d}`);
    for (const ref of st.imageDeps) deps.push(addImage(ref));
    stageTasks.push({
      id: `stage:${st.index}`,
      deps: [...new Set(deps)],
      run: (signal, results) =>
        runStage({ st, graph, req, stage: stages.stages[st.index]!, results, store, context, runtime, singleflight, pendingRecords, emit, signal, noCache: opts.noCache ?? false, platform, imageTaskId, secrets, buildTime }),
    });
  }

  // Step layers come from `volatile` overlay mounts (fs/overlay.ts): one sync of what the build wrote, then
  // the cache records of the steps that ran, also when the build fails (what ran stays cached).
  const flushRecords = async (wroteImage = false): Promise<void> => {
    if (!wroteImage && pendingRecords.length === 0 && ![...resolved.values()].some((s) => s.pulledBytes > 0)) return;
    await Promise.all(earlySyncs);
    // The steps' layers and the image: an fsync each when they are few, else one syncfs (Store.syncWritten).
    await store.syncWritten();
    for (const [key, rec] of pendingRecords.splice(0)) await store.cachePut(key, rec);
  };
  let results;
  try {
    results = await runDag([...imageTasks.values(), ...stageTasks], {
      concurrency: opts.jobs ?? availableParallelism(),
      signal: opts.signal,
    });
  } catch (e) {
    await flushRecords().catch(() => undefined);
    await Promise.all([store.discarded(), context.flush().catch(() => undefined)]);
    throw e;
  }
  // The steps' scratch directories go while the image is written (Store.discard).
  const discarded = store.discarded();

  const target = results.get(`stage:${graph.target}`) as StageOutput;
  const config = imageConfig(target, platform, buildTime);
  const layerDescs = target.layers.map((l) => l.blob ?? { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.diffId, size: l.size });
  // The image's config and manifest are written unsynced, so that the one sync below covers them
  // with the new layers (before the cache records and the tags name any of them).
  const image = await store.writeImageDeferred({ config, layers: layerDescs });
  const manifestDigest = image.digest;
  const tags = (opts.tags ?? []).map((t) => normalizeRef(t).toString());
  // No tag names the image before it is synced, its cache records are written, the steps' scratch
  // is removed and the context's stat cache is saved (BuildContext.hashSources); the new tag index
  // is written and fsynced meanwhile (Store.tagAll).
  const ready = Promise.all([flushRecords(image.wrote), discarded, context.flush()]);
  await Promise.all([ready, tags.length > 0 ? store.tagAll([...new Set(tags)], manifestDigest, ready) : undefined]);
  const resolvedImage = await store.resolve(manifestDigest);
  const size = target.layers.reduce((n, l) => n + l.size, 0);
  emit({ type: 'image', ref: tags[0], manifestDigest, configDigest: resolvedImage.configDigest, size });

  const stageSizes: StageSize[] = graph.needed.map((i) => {
    const out = results.get(`stage:${i}`) as StageOutput;
    return { name: out.name, size: out.layers.reduce((n, l) => n + l.size, 0), layers: out.layers.length, builtLayers: out.builtLayers };
  });
  const summary = sizeSummary(stageSizes, {
    ref: tags[0] ? normalizeRef(tags[0]).familiar() : undefined,
    stage: target.name,
    size,
    copiedFrom: [...target.copiedFrom.entries()].map(([stage, bytes]) => ({ stage, bytes })),
    mountedFrom: [...target.mountedFrom].map((stage) => ({ stage })),
  });
  emit({ type: 'summary', lines: summary });
  emit({ type: 'build-done', durationMs: Date.now() - started });
  return { manifestDigest, configDigest: resolvedImage.configDigest, tags, config, size, stages: stageSizes, summary };
}

async function readDockerfile(path: string, file: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new StagecraftError('NOT_FOUND', `no Dockerfile at ${path}`, { hint: 'pass the build context directory, or name the Dockerfile with -f' });
    }
    throw new StagecraftError('NOT_FOUND', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function requirePlatform(text: string): Platform {
  const p = parsePlatform(text);
  if (!p) throw new StagecraftError('USAGE', `invalid platform "${text}"`, { hint: 'use os/arch[/variant], e.g. linux/amd64' });
  return p;
}

function relocated(e: unknown, location: { startLine: number; endLine: number; file?: string }): unknown {
  if (e instanceof StagecraftError && !e.location) {
    return new StagecraftError(e.code, e.message, { location, cause: e.cause ?? e, hint: e.hint, details: e.details });
  }
  return e;
}

async function resolveImage(store: Store, client: () => Promise<RegistryClient>, text: string, platform: Platform): Promise<ImageSource> {
  const ref = normalizeRef(text);
  const local = await localImage(store, ref);
  if (local) return local;
  return pullImage(await client(), store, ref, platform);
}

interface StageRun {
  st: PlannedStage;
  graph: GraphResult;
  req: BuildRequest;
  stage: Parameters<typeof dispatchStage>[0];
  results: ReadonlyMap<string, unknown>;
  store: Store;
  context: BuildContext;
  runtime: () => Promise<OciRuntime>;
  singleflight: Singleflight<StepResult & { created: string }>;
  /** Cache records of steps that ran, written once the store is synced. */
  pendingRecords: Array<[string, CacheRecord]>;
  emit: (e: BuildEvent) => void;
  signal: AbortSignal;
  noCache: boolean;
  platform: Platform;
  imageTaskId: (ref: string) => string;
  secrets: BuildSecrets;
  /** When the build started: the time of config-only images with no earlier history. */
  buildTime: string;
}

interface CacheRecord {
  diffId: Digest | null;
  size: number;
  copiedBytes: number;
  /** When the step first ran: the history entry's `created`, so a cached rebuild gives the same image. */
  created: string;
}

async function runStage(r: StageRun): Promise<StageOutput> {
  const { st, store, emit } = r;
  const t0 = Date.now();
  let layers: LayerRef[];
  let history: HistoryEntry[];
  let base: ImageConfig | undefined;
  let key: string;
  let dispatch: DispatchResult;
  if (st.base.kind === 'image') {
    const img = r.results.get(r.imageTaskId(st.base.ref)) as ImageSource;
    layers = [...img.layers];
    history = (img.config.history ?? []).map((h) => ({ ...h } as HistoryEntry));
    base = img.config;
    key = baseKey({ kind: 'image', manifestDigest: img.manifestDigest, platform: formatPlatform(r.platform) });
    dispatch = dispatchStage(r.stage, { graph: r.graph, request: r.req, baseImageConfig: img.config.config ?? {}, parseTrigger });
  } else if (st.base.kind === 'stage') {
    const parent = r.results.get(`stage:${st.base.index}`) as StageOutput;
    layers = [...parent.layers];
    history = parent.history.map((h) => ({ ...h }));
    base = parent.base;
    key = parent.key;
    dispatch = dispatchStage(r.stage, { graph: r.graph, request: r.req, parent: parent.dispatch, parseTrigger });
  } else {
    layers = [];
    history = [];
    base = undefined;
    key = baseKey({ kind: 'scratch' });
    dispatch = dispatchStage(r.stage, { graph: r.graph, request: r.req, parseTrigger });
  }
  // A FROM <stage> child's dispatch history repeats the parent's; we keep the parent's as built.
  const ownSteps = dispatch.steps;

  const sourceOf = (from: StepSource): { layers: LayerRef[]; key: string; name: string } | undefined => {
    if (from.kind === 'stage') {
      const out = r.results.get(`stage:${from.index}`) as StageOutput | undefined;
      return out ? { layers: out.layers, key: out.key, name: out.name } : undefined;
    }
    // `--from=scratch` is the empty filesystem (as BuildKit), never an image to pull.
    if (from.kind === 'image' && from.ref === 'scratch') return { layers: [], key: baseKey({ kind: 'scratch' }), name: 'scratch' };
    if (from.kind === 'image') {
      const img = r.results.get(r.imageTaskId(from.ref)) as ImageSource | undefined;
      return img ? { layers: img.layers, key: img.manifestDigest, name: from.ref } : undefined;
    }
    return undefined;
  };
  const copiedFrom = new Map<string, number>();
  const mountedFrom = new Set<string>();
  let builtLayers = 0;
  // Config-only entries take the time of the step before them, so that a fully
  // cached rebuild reproduces the image byte for byte (as BuildKit's does).
  // With nothing before them (FROM scratch), they take the time of the first layer step after
  // them, and the build's time when there is none: an image is never dated 1970.
  let created: string | undefined = history.at(-1)?.created ?? base?.created;
  const undated: number[] = [];

  for (const planned of ownSteps) {
    r.signal.throwIfAborted();
    const step = planned.step;
    const entry: HistoryEntry = { ...planned.history };
    if (step.kind === 'config') {
      if (created === undefined) undated.push(history.push(entry) - 1);
      else history.push(withCreated(entry, created));
      continue;
    }
    const id = progressPrefix(st.progressName, planned.ordinal, planned.total).trim();
    const instruction = planned.name;
    emit({ type: 'step-start', id, stage: st.displayName, name: instruction });
    const s0 = Date.now();
    const inputs: string[] = [];
    if (step.kind === 'copy') {
      if (step.from.kind === 'context' && step.inline.length === 0) {
        try {
          // ADD URLs and git repositories: their content digest or commit (fetched once, add-sources.ts).
          const local = step.isAdd ? step.sources.filter((s) => remoteKind(s) === undefined) : step.sources;
          if (local.length > 0 || !step.isAdd) inputs.push((await r.context.hashSources(local, { excludes: step.excludes, parents: step.parents })).digest);
          if (step.isAdd) inputs.push(...(await remoteInputs(step, { tmpDir: store.tmpDir, scope: r.context, signal: r.signal, secret: (id) => r.secrets.secret(id), sshAgent: () => r.secrets.sshSockets('default')?.[0] })));
        } catch (e) {
          emit({ type: 'step-error', id, message: (e as Error).message });
          throw relocated(e, planned.location);
        }
      } else if (step.from.kind !== 'context') {
        const src = sourceOf(step.from);
        if (!src) throw new StagecraftError('INTERNAL', `COPY --from source is not ready`, { location: planned.location });
        inputs.push(src.key);
      }
    }
    if (step.kind === 'run') inputs.push(...(await runMountInputs(step, { context: r.context, store, source: sourceOf })));
    key = stepKey(key, planned.cacheMaterial, inputs);
    // COPY --link: its layer does not depend on the layers below, so its cache record is keyed
    // without them (BuildKit reuses --link layers when earlier steps change); --chown names do.
    const recordKey = step.kind === 'copy' && step.link && !/[^0-9:]/.test(step.chown ?? '') ? stepKey(baseKey({ kind: 'scratch' }), `link:${planned.cacheMaterial}`, inputs) : key;
    let cached = false;
    let result: StepResult & { created: string };
    try {
      const rec = r.noCache ? undefined : await store.cacheGet<CacheRecord>(recordKey);
      if (rec && (rec.diffId === null || (await store.hasLayer(rec.diffId)))) {
        cached = true;
        result = { diffId: rec.diffId ?? undefined, size: rec.size, copiedBytes: rec.copiedBytes, created: rec.created ?? new Date().toISOString() };
      } else {
        const current = [...layers];
        result = await r.singleflight.do(recordKey, async () => {
          const ctx: ExecContext = {
            store,
            runtime: r.runtime,
            context: r.context,
            sourceLayers: (from) => sourceOf(from)?.layers,
            sourceName: (from) => (from.kind === 'context' ? 'build context' : from.kind === 'stage' ? `stage ${sourceOf(from)?.name ?? from.index}` : `image ${from.ref}`),
            signal: r.signal,
            onOutput: (stream, line) => emit({ type: 'step-log', id, stream, line }),
            secrets: r.secrets,
            noCache: r.noCache,
          };
          const res =
            step.kind === 'run'
              ? await executeRun(ctx, step, current, instruction, planned.location)
              : step.kind === 'copy'
                ? await executeCopy(ctx, step, current, planned.location)
                : await executeMkdir(ctx, step, current, planned.location);
          const ran = { ...res, created: new Date().toISOString() };
          // Recorded at the end of the build, after the store is synced (flushRecords).
          r.pendingRecords.push([recordKey, { diffId: ran.diffId ?? null, size: ran.size, copiedBytes: ran.copiedBytes, created: ran.created } satisfies CacheRecord]);
          return ran;
        });
      }
    } catch (e) {
      emit({ type: 'step-error', id, message: e instanceof StagecraftError ? e.message : String(e) });
      throw e;
    }
    if (result.diffId) {
      layers.push({ diffId: result.diffId, size: result.size });
      if (!cached) builtLayers++;
    } else {
      entry.empty_layer = true;
    }
    if (step.kind === 'copy' && step.from.kind === 'stage') {
      const name = sourceOf(step.from)?.name ?? String(step.from.index);
      copiedFrom.set(name, (copiedFrom.get(name) ?? 0) + result.copiedBytes);
    }
    if (step.kind === 'run') {
      for (const m of step.mounts) {
        if ((m.type === 'bind' || m.type === 'cache') && m.from?.kind === 'stage') mountedFrom.add(sourceOf(m.from)?.name ?? String(m.from.index));
      }
    }
    created = result.created;
    for (const i of undated.splice(0)) history[i] = withCreated(history[i]!, created);
    history.push(withCreated(entry, created));
    emit({ type: 'step-done', id, cached, durationMs: Date.now() - s0, layerSize: result.size });
  }
  const size = layers.reduce((n, l) => n + l.size, 0);
  for (const i of undated.splice(0)) history[i] = withCreated(history[i]!, r.buildTime);
  emit({ type: 'stage-done', stage: st.displayName, size, durationMs: Date.now() - t0 });
  return { index: st.index, name: st.displayName, key, layers, base, history, dispatch, builtLayers, copiedFrom, mountedFrom };
}

function withCreated(h: HistoryEntry, created: string): HistoryEntry {
  const out: HistoryEntry & { created?: string } = { created, ...h };
  if (!out.empty_layer) delete out.empty_layer;
  return out;
}

/** The final image's config: the base's platform fields, the dispatched config, layers and history. */
function imageConfig(out: StageOutput, platform: Platform, buildTime: string): ImageConfig {
  const cfg: ImageConfig = {
    architecture: out.base?.architecture ?? platform.architecture,
    os: out.base?.os ?? platform.os,
    ...(out.base?.variant ? { variant: out.base.variant } : platform.variant ? { variant: platform.variant } : {}),
    ...(out.base?.['os.version'] ? { 'os.version': out.base['os.version'] } : {}),
    // An image with no history at all (FROM scratch and nothing else) is dated by the build, not 1970.
    created: out.history.at(-1)?.created ?? out.base?.created ?? buildTime,
    ...(out.dispatch.author !== undefined ? { author: out.dispatch.author } : out.base?.author ? { author: out.base.author } : {}),
    config: out.dispatch.config as ImageConfig['config'],
    rootfs: { type: 'layers', diff_ids: out.layers.map((l) => l.diffId) },
    history: out.history,
  };
  return cfg;
}
