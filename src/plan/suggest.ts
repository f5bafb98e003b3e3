/**
 * "(did you mean x?)" exactly as BuildKit's suggest package decides it: the
 * first option at Levenshtein distance below 3 that beats the previous best;
 * an exact match means the value was not the problem (no suggestion).
 */
import { editDistance } from '../util/edit-distance.js';

function matchCase(value: string, orig: string): string {
  if (orig === orig.toLowerCase()) return value.toLowerCase();
  if (orig === orig.toUpperCase()) return value.toUpperCase();
  return value;
}

/** The suggestion for `value` among `options`, or undefined. */
export function suggestion(value: string, options: readonly string[], caseSensitive: boolean): string | undefined {
  const v = caseSensitive ? value : value.toLowerCase();
  let match: string | undefined;
  let best = 3;
  for (const option of options) {
    const o = caseSensitive ? option : option.toLowerCase();
    if (o === v) return undefined;
    const d = editDistance(v, o);
    if (d < best) {
      match = caseSensitive ? o : matchCase(o, value);
      best = d;
    }
  }
  return match;
}

/** `message (did you mean x?)` when a suggestion exists. */
export function withSuggestion(message: string, value: string, options: readonly string[], caseSensitive: boolean): string {
  const s = suggestion(value, options, caseSensitive);
  return s === undefined ? message : `${message} (did you mean ${s}?)`;
}

/** The first of `values` that yields a suggestion decides it (BuildKit `wrapSuggestAny`). */
export function withSuggestionAny(message: string, values: Iterable<string>, options: readonly string[]): string {
  for (const v of values) {
    const s = suggestion(v, options, true);
    if (s !== undefined) return `${message} (did you mean ${s}?)`;
  }
  return message;
}
