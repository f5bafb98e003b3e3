/**
 * ONBUILD triggers stored in a base image's config are Dockerfile text
 * (`RUN echo hi`); they are parsed like one-line Dockerfiles when a child runs
 * them, and may bring new dependencies (`COPY --from=<stage or image>`).
 */
import { StagecraftError } from '../errors.js';
import { parse } from '../dockerfile/parser/index.js';
import { parseInstruction, type Instruction } from '../dockerfile/instructions/index.js';
import { ShellLex } from '../dockerfile/shell/index.js';
import { instructionSources, type StageLookup } from './graph.js';
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
