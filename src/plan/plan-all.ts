/**
 * The whole plan for a build whose base image configs are already known:
 * graph, then every needed stage dispatched in order. Pure; the build uses
 * the pieces (it resolves images between them), tests and dry runs use this.
 */
import type { Stage } from '../dockerfile/instructions/types.js';
import { dispatchStage, type DispatchResult } from './dispatch.js';
import { planGraph, type GraphResult, type ParsedStages } from './graph.js';
import { parseTrigger } from './triggers.js';
import type { BuildRequest, ContainerConfig } from './types.js';

export interface FullPlan {
  graph: GraphResult;
  /** Dispatch results by stage index, for the needed stages only. */
  results: Map<number, DispatchResult>;
  /** The target stage's result. */
  target: DispatchResult;
}

export function planAll(
  parsed: ParsedStages,
  req: BuildRequest,
  imageConfig: (ref: string, platform: string | undefined) => ContainerConfig | undefined = () => undefined,
): FullPlan {
  const graph = planGraph(parsed, req);
  const results = new Map<number, DispatchResult>();
  for (const i of graph.needed) {
    const stage: Stage = parsed.stages[i]!;
    const base = graph.stages[i]!.base;
    const result = dispatchStage(stage, {
      graph,
      request: req,
      ...(base.kind === 'image' ? { baseImageConfig: imageConfig(base.ref, base.platform) ?? {} } : {}),
      ...(base.kind === 'stage' ? { parent: results.get(base.index)! } : {}),
      parseTrigger,
    });
    results.set(i, result);
  }
  return { graph, results, target: results.get(graph.target)! };
}
