/**
 * ONBUILD triggers stored in a base image's config are Dockerfile text
 * (`RUN echo hi`); they are parsed like one-line Dockerfiles when a child runs
 * them, and may bring new dependencies (`COPY --from=<stage or image>`).
 */
import { StagecraftError } from '../errors.js';
import { parse } from '../dockerfile/parser/index.js';
import { parseInstruction, type Instruction } from '../dockerfile/instructions/index.js';
import { ShellLex } from '../dockerfile/shell/index.js';
import { instructionSources, type GraphResult, type StageLookup } from './graph.js';
import type { StepSource } from './types.js';

/** Parses one trigger expression into an instruction (BuildKit: one expression per trigger). */
export function parseTrigger(expression: string): Instruction {
  const result = parse(expression);
  if (result.ast.children.length !== 1) {
    throw new StagecraftError('INSTRUCTION', 'onbuild trigger should be a single expression');
  }
  return parseInstruction(result.ast.children[0]!);
}

/**
 * The sources a base image's triggers read from, resolved against this
 * Dockerfile's stages: the build adds them as dependencies of the stage
 * before running it (BuildKit re-resolves the graph the same way).
 */
export function triggerSources(triggers: readonly string[], lookup: StageLookup, escapeToken: '\\' | '`' = '\\'): StepSource[] {
  const lex = new ShellLex({ escapeToken });
  return triggers.flatMap((t) => instructionSources(parseTrigger(t), lookup, lex));
}

/**
 * The graph after a base image's triggers are known for `stageIndex`: their
 * sources become dependencies of that stage (and, transitively, needed).
 * A trigger reading a stage defined after `stageIndex` fails like COPY --from
 * a later stage.
 */
export function withTriggerDependencies(graph: GraphResult, stageIndex: number, triggers: readonly string[]): GraphResult {
  const lex = new ShellLex({ escapeToken: graph.escapeToken });
  const sources = triggers.flatMap((t) => {
    const ins = parseTrigger(t);
    return instructionSources(ins, graph.lookup, lex).map((src) => ({ src, text: ins.kind === 'copy' ? ins.from ?? '' : undefined }));
  });
  if (sources.length === 0) return graph;
  const stages = graph.stages.map((s) => ({ ...s, dependsOn: [...s.dependsOn], imageDeps: [...s.imageDeps] }));
  const st = stages[stageIndex];
  if (!st) throw new StagecraftError('INTERNAL', `stage ${stageIndex} is not in the graph`);
  for (const { src, text } of sources) {
    if (src.kind === 'stage') {
      if (src.index >= stageIndex) {
        const from = text ?? stages[src.index]!.displayName;
        throw new StagecraftError(
          'STAGE',
          src.index === stageIndex
            ? `circular dependency detected on stage: ${st.displayName}`
            : `cannot copy from stage ${JSON.stringify(from)}, it needs to be defined before current stage ${JSON.stringify(st.progressName)}`,
          { location: st.location },
        );
      }
      if (!st.dependsOn.includes(src.index)) st.dependsOn.push(src.index);
    } else if (src.kind === 'image' && src.ref !== 'scratch' && !st.imageDeps.includes(src.ref)) {
      st.imageDeps.push(src.ref);
    }
  }
  const reach = new Set<number>();
  const visit = (i: number): void => {
    if (reach.has(i)) return;
    reach.add(i);
    for (const d of stages[i]!.dependsOn) visit(d);
  };
  visit(graph.target);
  return { ...graph, stages, needed: [...reach].sort((a, b) => a - b) };
}
