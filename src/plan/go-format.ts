/**
 * Go's fmt verbs as BuildKit uses them in image history (`CMD %q`, `VOLUME %v`,
 * `HEALTHCHECK %+v`). History strings are compared byte for byte by tools, so
 * we print exactly what Go prints.
 */
import { goQuote } from '../dockerfile/shell/index.js';

/** Go `%q` of a `[]string`: `["a" "b"]`. */
export function goQuoteList(items: readonly string[] | null | undefined): string {
  return `[${(items ?? []).map(goQuote).join(' ')}]`;
}

/** Go `%v` of a `[]string`: `[a b]`. */
export function goList(items: readonly string[] | null | undefined): string {
  return `[${(items ?? []).join(' ')}]`;
}
