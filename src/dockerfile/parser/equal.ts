/**
 * Semantic equality of AST nodes: value, next, children, flags, JSON form and
 * heredocs. Line numbers, `original` and comments are not compared.
 */
import type { Heredoc, Node } from '../ast.js';

function sameHeredocs(a: Heredoc[], b: Heredoc[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((h, i) => {
    const g = b[i]!;
    return (
      h.name === g.name &&
      h.content === g.content &&
      h.expand === g.expand &&
      h.chomp === g.chomp &&
      h.fileDescriptor === g.fileDescriptor
    );
  });
}

function sameFlags(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}

/** Compares two trees without recursion (ONBUILD chains can nest deeply). */
export function semanticallyEqual(a: Node | null, b: Node | null): boolean {
  const work: [Node | null, Node | null][] = [[a, b]];
  while (work.length > 0) {
    const [x, y] = work.pop()!;
    if (x === null || y === null) {
      if (x !== y) return false;
      continue;
    }
    if (
      x.value !== y.value ||
      !sameFlags(x.flags, y.flags) ||
      (x.attributes.json === true) !== (y.attributes.json === true) ||
      !sameHeredocs(x.heredocs, y.heredocs) ||
      x.children.length !== y.children.length
    ) {
      return false;
    }
    x.children.forEach((c, i) => work.push([c, y.children[i]!]));
    work.push([x.next, y.next]);
  }
  return true;
}
