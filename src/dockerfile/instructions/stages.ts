/**
 * The whole Dockerfile -> global ARGs (before the first FROM) and stages,
 * as BuildKit's instructions.Parse does.
 */
import type { Node } from '../ast.js';
import { parseInstruction } from './parse-instruction.js';
import type { StagecraftError } from '../../errors.js';
import { problem } from './problem.js';
import type { ArgInstruction, Stage } from './types.js';

export interface ParsedStages {
  /** ARGs before the first FROM: they may be used in FROM lines. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
}

/**
 * Parses every instruction of the AST root. An instruction other than ARG
 * before the first FROM is an error. No stages at all is not an error here
 * (the planner reports it, as BuildKit's converter does).
 */
export function parseStages(ast: Node): ParsedStages {
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  for (const node of ast.children) {
    const instruction = parseInstruction(node);
    if (instruction.kind === 'from') {
      stages.push({
        ...(instruction.stageName !== undefined
          ? { name: instruction.stageName, nameOriginal: instruction.stageNameOriginal }
          : {}),
        index: stages.length,
        from: instruction,
        commands: [],
        location: { ...instruction.location },
      });
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) {
      if (instruction.kind === 'arg') {
        metaArgs.push(instruction);
        continue;
      }
      throw problem('no build stage in current context', instruction.location, undefined, 'STAGE');
    }
    current.commands.push(instruction);
    current.location.endLine = Math.max(current.location.endLine, instruction.location.endLine);
  }
  return { metaArgs, stages };
}

/** The stage a name or index (`--from=0`, `AS Build`) refers to; names are case-insensitive. */
export function findStage(stages: readonly Stage[], ref: string): Stage | undefined {
  const lower = ref.toLowerCase();
  const byName = stages.find((s) => s.name === lower);
  if (byName) return byName;
  if (/^[0-9]+$/.test(ref)) return stages[Number(ref)];
  return undefined;
}

/**
 * The text BuildKit prints for an error from parsing instructions:
 * `dockerfile parse error on line N: <message>` for instruction errors
 * (code 'INSTRUCTION'), the bare message for the others ('STAGE', 'COPY').
 */
export function buildkitErrorText(e: StagecraftError): string {
  if (e.code === 'INSTRUCTION' && e.location) return `dockerfile parse error on line ${e.location.startLine}: ${e.message}`;
  return e.message;
}
