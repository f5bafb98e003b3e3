/**
 * BuildKit's Node.Dump(): the S-expression form the parser fixtures use.
 * `(run ["--mount=x"] "echo hi")`, one line per top-level instruction.
 */
import type { Node } from '../ast.js';
import { goQuote, goQuoteSlice, trimSpace } from './go-compat.js';

export function dump(node: Node): string {
  let s = node.value.toLowerCase();
  if (node.flags.length > 0) s += ' ' + goQuoteSlice(node.flags);
  for (const c of node.children) s += '(' + dump(c) + ')\n';
  for (let n = node.next; n; n = n.next) {
    s += ' ' + (n.children.length > 0 ? dump(n) : goQuote(n.value));
  }
  return trimSpace(s);
}
