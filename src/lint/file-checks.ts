/**
 * BuildKit's checks that look at every instruction of the file, whether or
 * not the target needs its stage: keyword casing, stage names, MAINTAINER,
 * definition comments, empty continuation lines, and the FROM lines (ARGs,
 * --platform).
 */
import type { Node, ParseWarning } from '../dockerfile/ast.js';
import { keywordAsWritten } from '../dockerfile/parser/index.js';
import type { ArgInstruction, FromInstruction, Instruction, Stage } from '../dockerfile/instructions/index.js';
import { ShellLex, ExpansionError } from '../dockerfile/shell/index.js';
import { isValidReference } from '../reference/index.js';
import { suggestion } from '../plan/suggest.js';
import type { Collector } from './collector.js';
import * as R from './rules.js';

export function checkEmptyContinuations(c: Collector, warnings: readonly ParseWarning[]): void {
  for (const w of warnings) {
    if (w.location) c.run(R.NoEmptyContinuation, w.location);
  }
}

/** Instructions should be all lowercase or all uppercase, like the majority. */
export function checkInstructionCasing(c: Collector, ast: Node): void {
  const words = ast.children.map((n) => ({ word: keywordAsWritten(n), node: n }));
  let lower = 0;
  let upper = 0;
  for (const { word } of words) {
    if (word === word.toLowerCase()) lower++;
    else if (word === word.toUpperCase()) upper++;
  }
  const majorityLower = lower > upper;
  for (const { word, node } of words) {
    const at = { startLine: node.startLine, endLine: node.endLine };
    if (majorityLower && word !== word.toLowerCase()) c.run(R.ConsistentInstructionCasing, at, word, 'lowercase');
    else if (!majorityLower && word !== word.toUpperCase()) c.run(R.ConsistentInstructionCasing, at, word, 'uppercase');
  }
}

const RESERVED_STAGE_NAMES = ['scratch', 'context'];

/** Per instruction, as it is parsed (so warnings before a parse error are kept, as in BuildKit). */
export function checkParsedInstruction(c: Collector, ins: Instruction, stageNames: Set<string>): void {
  const at = ins.location;
  if (ins.kind === 'from') {
    checkFromKeywords(c, ins, stageNames);
  } else if (ins.kind === 'maintainer') {
    c.run(R.MaintainerDeprecated, at);
  }
  checkDefinitionDescription(c, ins);
}

function checkFromKeywords(c: Collector, from: FromInstruction, stageNames: Set<string>): void {
  const at = from.location;
  const name = from.stageName;
  const written = from.stageNameOriginal ?? name;
  if (name !== undefined && written !== undefined) {
    if (written !== written.toLowerCase()) c.run(R.StageNameCasing, at, written);
    if (RESERVED_STAGE_NAMES.includes(name)) c.run(R.ReservedStageName, at, name);
    if (stageNames.has(name)) c.run(R.DuplicateStageName, at, name);
    stageNames.add(name);
  }
  const as = from.asKeyword;
  const kw = from.keyword;
  if (as !== undefined) {
    const kwUpper = kw === kw.toUpperCase();
    const kwLower = kw === kw.toLowerCase();
    if ((kwUpper && as !== as.toUpperCase()) || (kwLower && as !== as.toLowerCase())) c.run(R.FromAsCasing, at, as, kw);
  }
}

/** Experimental: a comment right above ARG / FROM ... AS should start with the name it describes. */
function checkDefinitionDescription(c: Collector, ins: Instruction): void {
  const first = ins.comments[0]?.trim();
  if (first === undefined || first === '') return;
  const word = first.split(/\s+/)[0] ?? '';
  if (ins.kind === 'arg') {
    const keys = ins.args.map((a) => a.key);
    if (keys.includes(word)) return;
    c.run(R.InvalidDefinitionDescription, ins.location, 'ARG', keys.length === 1 ? keys[0]! : '<arg_key>');
  } else if (ins.kind === 'from' && ins.stageName !== undefined) {
    if (word === ins.stageName) return;
    c.run(R.InvalidDefinitionDescription, ins.location, 'FROM', ins.stageName);
  }
}

/** The names FROM may use without declaring them. */
export const BUILTIN_FROM_ARGS = [
  'BUILDPLATFORM', 'BUILDOS', 'BUILDOSVERSION', 'BUILDARCH', 'BUILDVARIANT',
  'TARGETPLATFORM', 'TARGETOS', 'TARGETOSVERSION', 'TARGETARCH', 'TARGETVARIANT', 'TARGETSTAGE',
];

function expand(lex: ShellLex, word: string, env: Map<string, string>): { result: string; unmatched: Set<string> } {
  try {
    const r = lex.processWordWithMatches(word, env);
    return { result: r.result, unmatched: r.unmatched };
  } catch (e) {
    if (e instanceof ExpansionError) return { result: '', unmatched: e.unmatched };
    throw e;
  }
}

/**
 * FROM lines: undeclared ARGs (with a suggestion among the declared ones),
 * image names whose ARG defaults make them invalid, and --platform values
 * that are constant or redundant.
 */
export function checkFromLines(
  c: Collector,
  stages: readonly Stage[],
  metaArgs: readonly ArgInstruction[],
  globals: Map<string, string>,
  lex: ShellLex,
): void {
  // Declared: builtins, and every meta ARG (with or without a value).
  const declared = new Set<string>(BUILTIN_FROM_ARGS);
  const defaults = new Map<string, string>();
  for (const [k, v] of globals) if (BUILTIN_FROM_ARGS.includes(k)) defaults.set(k, v);
  for (const cmd of metaArgs) {
    for (const a of cmd.args) {
      declared.add(a.key);
      if (a.value !== undefined) defaults.set(a.key, expand(lex, a.value, defaults).result);
      else defaults.delete(a.key);
    }
  }
  const options = [...declared];
  for (const st of stages) {
    const from = st.from;
    const at = from.location;
    for (const word of [from.platform, from.image]) {
      if (word === undefined || word === '') continue;
      for (const name of expand(lex, word, globals).unmatched) {
        if (declared.has(name)) continue;
        c.run(R.UndefinedArgInFrom, at, name, suggestion(name, options, true));
      }
    }
    if (from.image.includes('$')) {
      const image = expand(lex, from.image, defaults).result;
      if (image === '' || !isValidReference(image)) c.run(R.InvalidDefaultArgInFrom, at, from.image);
    }
    const platform = from.platform;
    if (platform !== undefined && platform !== '') {
      if (/^\$(TARGETPLATFORM|\{TARGETPLATFORM\})$/.test(platform)) c.run(R.RedundantTargetPlatform, at, platform);
      if (!platform.includes('$')) {
        const [os = '', arch = ''] = platform.toLowerCase().split('/');
        const name = st.name ?? '';
        if (name === '' || (!name.includes(os) && !name.includes(arch))) c.run(R.FromPlatformFlagConstDisallowed, at, platform);
      }
    }
  }
}
