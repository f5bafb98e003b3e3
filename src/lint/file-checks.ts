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

/**
 * Instructions should be all lowercase or all uppercase, like the majority.
 * As in BuildKit, only instructions of stages count (ARGs before the first FROM do not).
 */
export function checkInstructionCasing(c: Collector, ast: Node): void {
  const first = ast.children.findIndex((n) => n.value === 'from');
  const nodes = first < 0 ? [] : ast.children.slice(first);
  const words = nodes.map((n) => ({ word: keywordAsWritten(n), node: n }));
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

/** Experimental: the comment right above ARG / FROM ... AS (its last line) should start with the name it describes. */
function checkDefinitionDescription(c: Collector, ins: Instruction): void {
  const last = ins.comments[ins.comments.length - 1];
  if (last === undefined) return;
  const word = last.split(' ')[0] ?? '';
  if (ins.kind === 'arg') {
    const keys = ins.args.map((a) => a.key);
    if (keys.length === 0 || keys.includes(word)) return;
    c.run(R.InvalidDefinitionDescription, ins.location, 'ARG', keys.length === 1 ? keys[0]! : '<arg_key>');
  } else if (ins.kind === 'from' && ins.stageName !== undefined && ins.stageName !== '') {
    if (word === ins.stageName) return;
    c.run(R.InvalidDefinitionDescription, ins.location, 'FROM', ins.stageName);
  }
}

/** The names FROM may use without declaring them. */
export const BUILTIN_FROM_ARGS = [
  'BUILDPLATFORM', 'BUILDOS', 'BUILDOSVERSION', 'BUILDARCH', 'BUILDVARIANT',
  'TARGETPLATFORM', 'TARGETOS', 'TARGETOSVERSION', 'TARGETARCH', 'TARGETVARIANT', 'TARGETSTAGE',
];

interface Expansion {
  result: string;
  matched: Set<string>;
  unmatched: Set<string>;
  failed: boolean;
}

function expand(lex: ShellLex, word: string, env: Map<string, string>): Expansion {
  try {
    const r = lex.processWordWithMatches(word, env);
    return { result: r.result, matched: r.matched, unmatched: r.unmatched, failed: false };
  } catch (e) {
    if (e instanceof ExpansionError) return { result: '', matched: e.matched, unmatched: e.unmatched, failed: true };
    throw e;
  }
}

const COMPONENT = /^[A-Za-z0-9_.-]+$/;

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
  // Base names with only the ARG defaults (build-args ignored) must still be valid references.
  let defaultsUsable = true;
  for (const st of stages) {
    const from = st.from;
    const at = from.location;
    for (const name of expand(lex, from.image, globals).unmatched) {
      if (!declared.has(name)) c.run(R.UndefinedArgInFrom, at, name, suggestion(name, options, true));
    }
    if (defaultsUsable) {
      const x = expand(lex, from.image, defaults);
      if (x.failed) defaultsUsable = false;
      else if (!isValidReference(x.result)) c.run(R.InvalidDefaultArgInFrom, at, from.image);
    }
    const platform = from.platform;
    if (platform === undefined || platform === '') continue;
    const p = expand(lex, platform, globals);
    for (const name of p.unmatched) {
      if (!declared.has(name)) c.run(R.UndefinedArgInFrom, at, name, suggestion(name, options, true));
    }
    if (p.matched.size === 1 && p.unmatched.size === 0 && p.matched.has('TARGETPLATFORM') && p.result === globals.get('TARGETPLATFORM')) {
      c.run(R.RedundantTargetPlatform, at, platform);
    }
    if (p.matched.size === 0 && p.unmatched.size === 0 && !p.failed) {
      const parts = p.result.split('/');
      if (parts.length >= 2 && parts.every((x) => COMPONENT.test(x))) {
        const [os = '', arch = ''] = parts.map((x) => x.toLowerCase());
        const name = st.name ?? '';
        if (!name.includes(os) && !name.includes(arch)) c.run(R.FromPlatformFlagConstDisallowed, at, p.result);
      }
    }
  }
}
