/**
 * The pure planner: parsed stages -> stage graph (planGraph) -> per-stage
 * steps, config and history (dispatchStage). No I/O: base image configs come
 * in through the dispatch context.
 *
 * How the build uses it:
 *
 *     const parsed = parse(text, { file });                  // dockerfile/parser
 *     const { metaArgs, stages } = parseStages(parsed.ast);  // dockerfile/instructions
 *     const graph = planGraph({ metaArgs, stages, escapeToken: parsed.escapeToken }, req);
 *     for (const i of graph.needed) {                        // dependencies first
 *       const base = graph.stages[i].base;                   // image: resolve ref (+ platform) to its config
 *       // base image ONBUILD triggers may add dependencies (stages or images):
 *       //   graph = withTriggerDependencies(graph, i, config.OnBuild ?? [])
 *       const result = dispatchStage(stages[i], {
 *         graph, request: req, parseTrigger,
 *         baseImageConfig,                                   // for base.kind === 'image'
 *         parent: results.get(base.index),                   // for base.kind === 'stage'
 *       });
 *       // result.steps: execute in order; result.config / history / author: the stage's image
 *     }
 *
 * A StepSource `{ kind: 'image', ref: 'scratch' }` means the empty filesystem.
 */
export type * from './types.js';
export {
  planGraph, resolveCopyFrom, resolveMountFrom, instructionSources, StageGraphError,
  type GraphResult, type ParsedStages, type StageLookup,
} from './graph.js';
export { dispatchStage, scratchConfig, progressPrefix, type DispatchContext, type DispatchResult } from './dispatch.js';
export { parseTrigger, triggerSources, withTriggerDependencies } from './triggers.js';
export {
  formatPlatform, predefinedArgs, evaluateMetaArgs, proxyEnvFromBuildArgs, proxyEnvList, type ProxyEnv,
} from './args.js';
export { EnvList, addEnv, splitKeyValue } from './env-list.js';
export { healthcheckString, withShell, checkSignal } from './dispatch-config.js';
export { runCommandString } from './dispatch-run.js';
export { checkChmod } from './dispatch-copy.js';
export { normalizeWorkdir, resolveDest, cleanPath, DEFAULT_PATH, HISTORY_COMMENT, type StageState, type ArgInScope } from './stage-state.js';
export { planAll, type FullPlan } from './plan-all.js';
