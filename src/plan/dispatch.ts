/**
 * One stage's instructions -> planned steps, final config and history, with
 * BuildKit's semantics: what a stage inherits from its base (image config or
 * an earlier stage), ONBUILD triggers run first and exactly once, ARG/ENV
 * scoping, and the progress numbering `[stage i/N]`.
 */
import { StagecraftError, type SourceRange } from '../errors.js';
import type { Instruction, Stage } from '../dockerfile/instructions/types.js';
import { proxyEnvFromBuildArgs, proxyEnvList, relocate } from './args.js';
import { dispatchConfig } from './dispatch-config.js';
import { dispatchCopy } from './dispatch-copy.js';
import { dispatchRun } from './dispatch-run.js';
import { EnvList, splitKeyValue } from './env-list.js';
import { resolveCopyFrom, resolveMountFrom, toRange, type GraphResult } from './graph.js';
import { DEFAULT_PATH, StageBuilder, normalizeWorkdir, type StageState } from './stage-state.js';
import type { BuildRequest, ContainerConfig, HistoryEntry, PlannedStep, Step, StepSource } from './types.js';

export interface DispatchResult {
  steps: PlannedStep[];
  /** The image config after the stage (what a final image or a `FROM <stage>` child starts from). */
  config: ContainerConfig;
  /**
   * History entries this stage adds, preceded by those of its in-file ancestors
   * (`FROM <stage>`). The base image's own history is not included: the build
   * prepends it.
   */
  history: HistoryEntry[];
  /** MAINTAINER, when set (the image's `author`). */
  author?: string;
  /** What a `FROM <this stage>` child inherits besides the config. */
  state: StageState;
  /** This stage's own ONBUILD triggers, parsed: they run in a `FROM <this stage>` child. */
  triggers: Array<{ expression: string; trigger?: Instruction; error?: string }>;
}

export interface DispatchContext {
  /** The graph from `planGraph` (stage names, global args, escape token). */
  graph: GraphResult;
  request: BuildRequest;
  /** The base image's config, for a stage FROM an image (ignored for scratch and stage bases). */
  baseImageConfig?: ContainerConfig;
  /** The parent's result, for a stage FROM an earlier stage. */
  parent?: DispatchResult;
  /**
   * Parses an ONBUILD trigger stored in a base image's config (`RUN echo hi`).
   * Needed only when the base image has triggers.
   */
  parseTrigger?: (expression: string) => Instruction;
}

/** The image config of `FROM scratch` (BuildKit `emptyImage`). */
export function scratchConfig(): ContainerConfig {
  return { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' };
}

/** `[builder 2/5] ` as BuildKit pads it (`[ 2/10]` for a single-stage build). */
export function progressPrefix(stageProgressName: string, ordinal: number, total: number): string {
  const width = Math.floor(1 + Math.log10(total));
  const n = String(ordinal).padStart(width, ' ');
  return `[${stageProgressName === '' ? '' : `${stageProgressName} `}${n}/${total}] `;
}

interface Queued {
  ins: Instruction;
  onbuild: boolean;
  location: SourceRange;
}

function triggerOf(t: { expression: string; trigger?: Instruction; error?: string }, location: SourceRange): Instruction {
  if (t.trigger) return t.trigger;
  throw new StagecraftError('INSTRUCTION', t.error ?? `invalid ONBUILD trigger: ${t.expression}`, { location });
}

export function dispatchStage(stage: Stage, ctx: DispatchContext): DispatchResult {
  const { graph, request } = ctx;
  const planned = graph.stages[stage.index];
  if (!planned) throw new StagecraftError('INTERNAL', `stage ${stage.index} is not in the graph`);
  const file = request.file;
  const stageLocation = toRange(stage.location, file);

  // What the stage starts from.
  let config: ContainerConfig;
  let env = EnvList.empty();
  let buildArgs: StageState['buildArgs'] = [];
  let history: HistoryEntry[] = [];
  let author: string | undefined;
  const queue: Queued[] = [];
  if (planned.base.kind === 'stage') {
    const parent = ctx.parent;
    if (!parent) throw new StagecraftError('INTERNAL', `stage ${planned.displayName} needs its parent's result`);
    config = structuredClone(parent.config);
    config.OnBuild = null;
    env = EnvList.fromStrings(parent.state.env);
    buildArgs = parent.state.buildArgs.map((a) => ({ ...a }));
    history = parent.history.map((h) => ({ ...h }));
    author = parent.author;
    for (const t of parent.triggers) queue.push({ ins: triggerOf(t, stageLocation), onbuild: true, location: stageLocation });
  } else {
    config = planned.base.kind === 'scratch' ? scratchConfig() : structuredClone(ctx.baseImageConfig ?? {});
    const triggers = config.OnBuild ?? [];
    if (triggers.length > 0) {
      for (const expression of triggers) {
        if (!ctx.parseTrigger) {
          throw new StagecraftError('INTERNAL', 'the base image has ONBUILD triggers but no trigger parser was given', { location: stageLocation });
        }
        let ins: Instruction;
        try {
          ins = ctx.parseTrigger(expression);
        } catch (e) {
          throw relocate(e, stageLocation);
        }
        queue.push({ ins, onbuild: true, location: stageLocation });
      }
      config.OnBuild = null;
    }
  }
  // PATH is always set (not on Windows).
  if (!(config.Env ?? []).some((e) => splitKeyValue(e)[0] === 'PATH')) {
    config.Env = [...(config.Env ?? []), `PATH=${DEFAULT_PATH}`];
  }
  for (const e of config.Env ?? []) {
    const [k, v] = splitKeyValue(e);
    env = env.set(k, v);
  }
  const dir = config.WorkingDir ? normalizeWorkdir(config.WorkingDir, config.WorkingDir) : '/';
  if (config.WorkingDir) config.WorkingDir = dir;
  const user = config.User ?? '';

  const b = new StageBuilder({ config, env, buildArgs, dir, user, history, author, escapeToken: graph.escapeToken });
  for (const ins of stage.commands) queue.push({ ins, onbuild: false, location: toRange(ins.location, file) });

  const fromImage = planned.base.kind === 'image';
  b.total = (fromImage ? 1 : 0) + queue.filter((q) => ['run', 'copy', 'add', 'workdir'].includes(q.ins.kind)).length;
  b.index = fromImage ? 1 : 0;

  const proxy = proxyEnvList(proxyEnvFromBuildArgs(request.buildArgs));
  const scope = { buildArgs: request.buildArgs, globals: graph.globalArgs };
  const lexForFrom = b.lex;
  const triggersOut: DispatchResult['triggers'] = [];

  for (const q of queue) {
    const { ins, location } = q;
    let step: Step;
    let createdBy: string;
    let withLayer: boolean;
    let fromState: boolean;
    let vertex: boolean;
    let name: string;
    let cacheMaterial: unknown;
    switch (ins.kind) {
      case 'onbuild': {
        b.config.OnBuild = [...(b.config.OnBuild ?? []), ins.expression];
        triggersOut.push({
          expression: ins.expression,
          ...(ins.trigger ? { trigger: ins.trigger } : {}),
          ...(ins.triggerError !== undefined ? { error: ins.triggerError } : {}),
        });
        continue; // no history entry, no step
      }
      case 'from':
        throw new StagecraftError('INSTRUCTION', "FROM isn't allowed as an ONBUILD trigger", { location });
      case 'run': {
        const out = dispatchRun(b, ins, location, {
          resolveMountFrom: (f) => resolveMountFrom(f, graph.lookup),
          proxyEnv: proxy,
        });
        step = out.step;
        createdBy = out.createdBy;
        withLayer = true;
        fromState = true;
        vertex = true;
        name = out.name;
        cacheMaterial = { ...out.step, env: out.cacheEnv };
        break;
      }
      case 'copy':
      case 'add': {
        let from: StepSource = { kind: 'context' };
        if (ins.kind === 'copy' && ins.from) {
          try {
            from = resolveCopyFrom(ins.from, graph.lookup, lexForFrom);
          } catch (e) {
            throw relocate(e, location);
          }
        }
        const out = dispatchCopy(b, ins, location, from);
        step = out.step;
        createdBy = out.createdBy;
        withLayer = true;
        fromState = true;
        vertex = true;
        name = out.name;
        cacheMaterial = out.step;
        break;
      }
      default: {
        const out = dispatchConfig(b, ins, scope, location);
        if (!out) throw new StagecraftError('INTERNAL', `unhandled instruction ${ins.kind}`, { location });
        step = out.step;
        createdBy = out.createdBy;
        withLayer = out.withLayer;
        fromState = false;
        vertex = out.vertex;
        name = b.progressName(ins.original);
        cacheMaterial = step.kind === 'config' ? { kind: 'config', createdBy } : { ...step, createdBy };
      }
    }
    if (vertex) b.index++;
    const entry = b.commit(createdBy, withLayer, fromState);
    b.steps.push({
      ordinal: b.index,
      total: b.total,
      vertex,
      step,
      config: b.snapshot(),
      history: { ...entry },
      name: q.onbuild ? `ONBUILD ${name}` : name,
      location,
      cacheMaterial: JSON.stringify(cacheMaterial),
    });
  }

  return {
    steps: b.steps,
    config: b.config,
    history: b.history,
    ...(b.author !== undefined ? { author: b.author } : {}),
    state: b.state(),
    triggers: triggersOut,
  };
}
