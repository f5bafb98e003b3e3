/**
 * BuildKit's Node.Dump(): the S-expression form the parser fixtures use,
 * e.g. `(run ["--mount=x"] "echo hi")`, one line per top-level instruction.
 *
 * Evaluated bottom-up without recursion, since ONBUILD chains can nest
 * thousands deep; each sub-dump is trimmed like Go's strings.TrimSpace, using
 * only the small pieces around it so long results are not rescanned.
 */
import type { Node } from '../ast.js';
import { goQuote, goQuoteSlice, goToLower, trimLeftSpace, trimRightSpace } from './go-compat.js';

interface Seg {
  s: string;
  /** An already-trimmed sub-dump: it starts and ends with non-space, or is empty. */
  sub: boolean;
}

function assemble(segs: Seg[]): string {
  let i = 0;
  while (i < segs.length) {
    const g = segs[i]!;
    const t = g.sub ? g.s : trimLeftSpace(g.s);
    if (t === '') {
      i++;
      continue;
    }
    segs[i] = { s: t, sub: g.sub };
    break;
  }
  let j = segs.length - 1;
  while (j >= i) {
    const g = segs[j]!;
    const t = g.sub ? g.s : trimRightSpace(g.s);
    if (t === '') {
      j--;
      continue;
    }
    segs[j] = { s: t, sub: g.sub };
    break;
  }
  let out = '';
  for (let k = i; k <= j; k++) out += segs[k]!.s;
  return out;
}

export function dump(root: Node): string {
  // Pre-order list; reversed, every node comes after the nodes it embeds.
  const order: Node[] = [];
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    order.push(n);
    for (const c of n.children) stack.push(c);
    for (let x = n.next; x; x = x.next) if (x.children.length > 0) stack.push(x);
  }
  const memo = new Map<Node, string>();
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    const segs: Seg[] = [{ s: goToLower(n.value), sub: false }];
    if (n.flags.length > 0) segs.push({ s: ' ' + goQuoteSlice(n.flags), sub: false });
    for (const c of n.children) {
      segs.push({ s: '(', sub: false }, { s: memo.get(c)!, sub: true }, { s: ')\n', sub: false });
    }
    for (let x = n.next; x; x = x.next) {
      if (x.children.length > 0) segs.push({ s: ' ', sub: false }, { s: memo.get(x)!, sub: true });
      else segs.push({ s: ' ' + goQuote(x.value), sub: false });
    }
    memo.set(n, assemble(segs));
  }
  return memo.get(root)!;
}
