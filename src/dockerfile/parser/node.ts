import type { Node } from '../ast.js';
import { splitInstructionSpace, trimSpace } from './go-compat.js';

/** A fresh node with every field at its empty value. */
export function newNode(value: string, next: Node | null = null): Node {
  return {
    value,
    next,
    children: [],
    heredocs: [],
    attributes: {},
    original: '',
    flags: [],
    startLine: 0,
    endLine: 0,
    prevComment: [],
  };
}

/** Builds a `next`-linked list of plain value nodes. */
export function nodeList(values: readonly string[]): Node | null {
  let head: Node | null = null;
  for (let i = values.length - 1; i >= 0; i--) head = newNode(values[i]!, head);
  return head;
}

/** The values along a `next` chain. */
export function nodeValues(n: Node | null): string[] {
  const out: string[] = [];
  for (let c = n; c; c = c.next) out.push(c.value);
  return out;
}

/**
 * The instruction keyword as written (`From`, `run`), taken from `original`;
 * `value` holds it lowercased. Falls back to `value` for built nodes.
 */
export function keywordAsWritten(node: Node): string {
  const first = splitInstructionSpace(trimSpace(node.original), 2)[0] ?? '';
  return first === '' ? node.value : first;
}
