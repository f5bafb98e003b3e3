/**
 * What every instruction parser starts from: the node's arguments flattened
 * (BuildKit's nodeArgs), its flags in a BFlags, and the common fields.
 */
import type { Heredoc, Node } from '../ast.js';
import { BFlags } from './bflags.js';
import { problem } from './problem.js';
import type { InstructionKind, InstructionLocation } from './types.js';

export interface ParseRequest {
  /** Lowercased keyword: `run`. */
  command: string;
  /** Keyword as written: `RUN`. */
  keyword: string;
  args: string[];
  heredocs: Heredoc[];
  json: boolean;
  flags: BFlags;
  original: string;
  location: InstructionLocation;
  comments: string[];
}

/** The sub-instruction of an ONBUILD node (in `next.children`, or the node's own `children`). */
export function subInstruction(node: Node): Node | undefined {
  if (node.next && node.next.children.length === 1) return node.next.children[0];
  if (!node.next && node.children.length === 1) return node.children[0];
  return undefined;
}

/** The argument words: the `next` chain, a sub-instruction as its keyword then its words. */
export function nodeArgs(node: Node): string[] {
  const out: string[] = [];
  if (!node.next && node.children.length === 1) {
    const child = node.children[0]!;
    return [child.value, ...nodeArgs(child)];
  }
  for (let arg = node.next; arg; arg = arg.next) {
    if (arg.children.length === 0) out.push(arg.value);
    else if (arg.children.length === 1) {
      const child = arg.children[0]!;
      out.push(child.value, ...nodeArgs(child));
    }
  }
  return out;
}

/** The keyword as written in `original`, falling back to the node's value. */
export function writtenKeyword(node: Node): string {
  const first = /^\s*(\S+)/.exec(node.original)?.[1];
  if (first !== undefined && first.toLowerCase() === node.value.toLowerCase()) return first;
  return node.value;
}

export function requestFromNode(node: Node): ParseRequest {
  return {
    command: node.value.toLowerCase(),
    keyword: writtenKeyword(node),
    args: nodeArgs(node),
    heredocs: node.heredocs,
    json: node.attributes.json === true,
    flags: new BFlags(node.flags),
    original: node.original,
    location: { startLine: node.startLine, endLine: node.endLine },
    comments: node.prevComment.map((c) => c.trim()),
  };
}

/** The fields every instruction carries. Call after `flags.parse()`. */
export function common<K extends InstructionKind>(req: ParseRequest, kind: K) {
  return {
    kind,
    keyword: req.keyword,
    original: req.original,
    location: req.location,
    comments: req.comments,
    flagsUsed: req.flags.used(),
  };
}

/** A doc comment for `name`: the first comment line that starts with `name `. */
export function docComment(comments: readonly string[], name: string): string {
  if (name === '') return '';
  for (const line of comments) if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  return '';
}

export const errAtLeastOneArgument = (cmd: string) => problem(`${cmd} requires at least one argument`);
export const errExactlyOneArgument = (cmd: string) => problem(`${cmd} requires exactly one argument`);
export const errNoDestination = (cmd: string) =>
  problem(`${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`);
export const errBlankNames = (cmd: string) => problem(`${cmd} names can not be blank`);
export const errTooManyArguments = (cmd: string) => problem(`Bad input to ${cmd}, too many arguments`);
export const errBadHeredoc = (cmd: string, what: string) => problem(`${cmd} cannot accept a heredoc as ${what}`);

/** BuildKit's handleJSONArgs: exec form keeps the words, shell form joins them. */
export function handleJSONArgs(args: readonly string[], json: boolean): string[] {
  if (args.length === 0) return [];
  if (json) return [...args];
  return [args.join(' ')];
}
