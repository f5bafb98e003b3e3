/**
 * AST node -> typed Instruction. One parser per instruction; every error is a
 * StagecraftError ('INSTRUCTION') carrying the instruction's lines.
 */
import type { Node } from '../ast.js';
import {
  parseArg, parseEnv, parseExpose, parseLabel, parseMaintainer, parseStopsignal, parseUser, parseVolume, parseWorkdir,
} from './parse-config.js';
import { parseCmd, parseEntrypoint, parseHealthcheck, parseRun, parseShell } from './parse-exec.js';
import { parseAdd, parseCopy } from './parse-files.js';
import { problem, withLocation } from './problem.js';
import {
  common, docComment, errAtLeastOneArgument, requestFromNode, subInstruction, writtenKeyword, type ParseRequest,
} from './request.js';
import { withSuggestion } from './suggest.js';
import type { FromInstruction, Instruction, OnbuildInstruction } from './types.js';
import { goQuote } from './go-values.js';

export const INSTRUCTION_NAMES = [
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label', 'maintainer',
  'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
] as const;

const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function parseFrom(req: ParseRequest): FromInstruction {
  const args = req.args;
  let stageName: string | undefined;
  if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
    stageName = args[2]!.toLowerCase();
    if (!VALID_STAGE_NAME.test(stageName)) {
      throw problem(`invalid name for build stage: ${goQuote(args[2]!)}, name can't start with a number or contain symbols`);
    }
  } else if (args.length !== 1) {
    throw problem('FROM requires either one or three arguments');
  }
  const platform = req.flags.addString('platform', '');
  req.flags.parse();
  return {
    ...common(req, 'from'),
    image: args[0]!,
    ...(stageName !== undefined ? { stageName, stageNameOriginal: args[2]!, asKeyword: args[1]! } : {}),
    ...(platform.value !== '' ? { platform: platform.value } : {}),
    comment: docComment(req.comments, stageName ?? ''),
  };
}

function parseOnbuild(req: ParseRequest, node: Node): OnbuildInstruction {
  if (req.args.length === 0) throw errAtLeastOneArgument('ONBUILD');
  req.flags.parse();
  const trigger = req.args[0]!.trim().toUpperCase();
  if (trigger === 'ONBUILD') throw problem('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (trigger === 'MAINTAINER' || trigger === 'FROM') throw problem(`${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = req.original.replace(/^\s*ONBUILD\s*/i, '');
  for (const h of req.heredocs) expression += `\n${h.content}${h.name}`;
  const out: OnbuildInstruction = { ...common(req, 'onbuild'), expression };
  // BuildKit validates the trigger only when a child image runs it; parse it
  // now for consumers (lint, plan), but keep the error as data.
  const child = subInstruction(node);
  if (child) {
    const sub: Node = {
      ...child,
      original: child.original || req.original.replace(/^\s*ONBUILD\s*/i, ''),
      heredocs: child.heredocs.length > 0 ? child.heredocs : node.heredocs,
      startLine: node.startLine,
      endLine: node.endLine,
      prevComment: [],
    };
    try {
      out.trigger = parseInstruction(sub);
    } catch (e) {
      out.triggerError = e instanceof Error ? e.message : String(e);
    }
  }
  return out;
}

function dispatch(req: ParseRequest, node: Node): Instruction {
  switch (req.command) {
    case 'from': return parseFrom(req);
    case 'run': return parseRun(req);
    case 'cmd': return parseCmd(req);
    case 'entrypoint': return parseEntrypoint(req);
    case 'env': return parseEnv(req);
    case 'arg': return parseArg(req);
    case 'label': return parseLabel(req);
    case 'copy': return parseCopy(req);
    case 'add': return parseAdd(req);
    case 'workdir': return parseWorkdir(req);
    case 'user': return parseUser(req);
    case 'expose': return parseExpose(req);
    case 'volume': return parseVolume(req);
    case 'shell': return parseShell(req);
    case 'healthcheck': return parseHealthcheck(req);
    case 'stopsignal': return parseStopsignal(req);
    case 'onbuild': return parseOnbuild(req, node);
    case 'maintainer': return parseMaintainer(req);
    default: {
      const written = writtenKeyword(node);
      throw problem(withSuggestion(`unknown instruction: ${written}`, written,
        INSTRUCTION_NAMES.map((n) => n.toUpperCase()), false));
    }
  }
}

/**
 * Turns one top-level AST node into a typed instruction. Throws
 * StagecraftError (code 'INSTRUCTION') with the node's lines as `location`.
 */
export function parseInstruction(node: Node): Instruction {
  const location = { startLine: node.startLine, endLine: node.endLine };
  try {
    return dispatch(requestFromNode(node), node);
  } catch (e) {
    throw withLocation(e, location);
  }
}
