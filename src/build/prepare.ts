/**
 * What a build settles before any step runs, as BuildKit's Dockerfile
 * frontend does before it hands the graph to the solver:
 *
 * - every image the needed stages start from or read (FROM, COPY --from,
 *   RUN --mount=from) is resolved. A base image's ONBUILD triggers may read
 *   other stages or images (`ONBUILD COPY --from=builder ...`): those become
 *   dependencies of the stage using it (withTriggerDependencies), which can
 *   make more stages needed and more images to resolve, until nothing changes;
 * - the Dockerfile checks run (src/lint) with what those images' configs say
 *   (Env, Shell, WorkingDir, platform, os-release): each warning becomes a
 *   `warning` event, and `# check=error=true` fails the build here.
 */
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StagecraftError, type SourceRange } from '../errors.js';
import { dockerignoreCandidates } from '../dockerfile/dockerignore/index.js';
import { lint, type BaseImageInfo } from '../lint/index.js';
import { withTriggerDependencies, type GraphResult } from '../plan/index.js';
import type { Store } from '../store/index.js';
import type { EventSink } from './events.js';
import type { ImageSource } from './images.js';
import type { ParseResult } from '../dockerfile/ast.js';

export interface ResolveImagesOptions {
  graph: GraphResult;
  /** Where a stage's FROM is (a missing base image is reported there). */
  fromLocation: (stageIndex: number) => SourceRange;
  /** Resolves (pulls) an image once per build; later calls share the promise. */
  resolve: (ref: string, location: SourceRange) => Promise<ImageSource>;
  signal?: AbortSignal | undefined;
}

/** The images the needed stages read (COPY --from, RUN --mount=from): [ref, the stage naming it]. */
function imageDepsOf(graph: GraphResult): Array<[string, SourceRange]> {
  const out: Array<[string, SourceRange]> = [];
  for (const i of graph.needed) {
    const st = graph.stages[i]!;
    for (const ref of st.imageDeps) out.push([ref, st.location]);
  }
  return out;
}

/** What can change when triggers are applied: the needed stages and their edges. */
function shape(graph: GraphResult): string {
  return JSON.stringify(graph.needed.map((i) => [i, graph.stages[i]!.dependsOn, graph.stages[i]!.imageDeps]));
}

/**
 * Resolves every image the needed stages use, in parallel, and applies
 * base images' ONBUILD dependencies until the graph is stable. Returns the
 * final graph. All resolutions settle before an error is thrown (no pull
 * keeps writing to the store after the build failed).
 */
export async function resolveImagesAndTriggers(o: ResolveImagesOptions): Promise<GraphResult> {
  let graph = o.graph;
  for (;;) {
    const bases = new Map<number, Promise<ImageSource>>();
    const all: Array<Promise<ImageSource>> = [];
    for (const i of graph.needed) {
      const st = graph.stages[i]!;
      if (st.base.kind === 'image') {
        const p = o.resolve(st.base.ref, o.fromLocation(i));
        bases.set(i, p);
        all.push(p);
      }
    }
    for (const [ref, location] of imageDepsOf(graph)) all.push(o.resolve(ref, location));
    const settled = await Promise.allSettled(all);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    o.signal?.throwIfAborted();
    let next = graph;
    for (const [i, p] of bases) {
      const triggers = (await p).config.config?.OnBuild ?? [];
      if (triggers.length > 0) {
        try {
          next = withTriggerDependencies(next, i, triggers);
        } catch (e) {
          if (e instanceof StagecraftError && !e.location) throw new StagecraftError(e.code, `ONBUILD trigger of the base image: ${e.message}`, { location: o.fromLocation(i), cause: e, hint: e.hint });
          throw e;
        }
      }
    }
    if (shape(next) === shape(graph)) return next;
    graph = next;
  }
}

export interface LintBuildOptions {
  text: string;
  /** The build's parse of `text` (lint does not parse it again). */
  parsed?: ParseResult | undefined;
  file: string;
  dockerfilePath: string;
  contextDir: string;
  buildArgs: Record<string, string>;
  target?: string | undefined;
  /** `os/arch[/variant]` being built. */
  platform: string;
  /** A resolved image by the reference as written (undefined when not resolved). */
  image: (ref: string) => ImageSource | undefined;
  store: Store;
  emit: EventSink;
}

/** `ID=` of the image's os-release, from the topmost layer that has one. */
function osReleaseId(store: Store, img: ImageSource): string | undefined {
  for (let i = img.layers.length - 1; i >= 0; i--) {
    const dir = store.layerDir(img.layers[i]!.diffId);
    for (const rel of ['etc/os-release', 'usr/lib/os-release']) {
      try {
        if (!lstatSync(join(dir, rel)).isFile()) continue;
        const m = /^ID=("?)([^"\n]*)\1\s*$/m.exec(readFileSync(join(dir, rel), 'utf8'));
        return m?.[2] || undefined;
      } catch {
        // not in this layer
      }
    }
  }
  return undefined;
}

function baseInfo(store: Store, img: ImageSource): BaseImageInfo {
  const c = img.config;
  const info: BaseImageInfo = { platform: [c.os, c.architecture, c.variant].filter((x): x is string => !!x).join('/') };
  if (c.config?.Env) info.env = c.config.Env;
  if (c.config?.Shell) info.shell = c.config.Shell;
  if (c.config?.WorkingDir) info.workingDir = c.config.WorkingDir;
  const id = osReleaseId(store, img);
  if (id !== undefined) info.osReleaseId = id;
  return info;
}

/**
 * Runs the Dockerfile checks for this build (target, build args,
 * .dockerignore, resolved base images) and emits each warning; throws the
 * LINT error when `# check=error=true` (or BUILDKIT_DOCKERFILE_CHECK) makes
 * warnings fatal. Parse and plan errors are the build's own to report.
 */
export function lintBuild(o: LintBuildOptions): void {
  const ignorePath = dockerignoreCandidates(o.dockerfilePath, o.contextDir).find((p) => existsSync(p));
  let dockerignore: string | undefined;
  try {
    dockerignore = ignorePath === undefined ? undefined : readFileSync(ignorePath, 'utf8');
  } catch {
    dockerignore = undefined;
  }
  const infos = new Map<string, BaseImageInfo | undefined>();
  const result = lint({
    dockerfile: o.text,
    parsed: o.parsed,
    file: o.file,
    dockerignore,
    buildArgs: o.buildArgs,
    platform: o.platform,
    ...(o.target !== undefined ? { target: o.target } : {}),
    resolveImage: (ref) => {
      if (!infos.has(ref)) {
        const img = o.image(ref);
        infos.set(ref, img ? baseInfo(o.store, img) : undefined);
      }
      return infos.get(ref);
    },
  });
  for (const w of result.warnings) {
    o.emit({
      type: 'warning',
      rule: w.rule,
      message: w.detail,
      fix: w.fix,
      location: { file: w.location.file ?? o.file, startLine: w.location.startLine, endLine: w.location.endLine },
      url: w.url === '' ? undefined : w.url,
    });
  }
  if (result.failed && result.error?.code === 'LINT') throw result.error;
}
