/**
 * "did you mean" hints for misspelled flags, keys and instructions, in the
 * spirit of BuildKit's suggest package: the closest candidate by edit distance,
 * when it is close enough to be a likely typo.
 */
import { editDistance } from '../../util/edit-distance.js';

/** The closest option to `value`, or undefined when none is a plausible typo. */
export function closest(value: string, options: readonly string[], caseSensitive: boolean): string | undefined {
  if (value === '') return undefined;
  const v = caseSensitive ? value : value.toLowerCase();
  const limit = v.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestScore = Infinity;
  for (const option of options) {
    const o = caseSensitive ? option : option.toLowerCase();
    if (o === v) continue;
    const score = editDistance(v, o);
    if (score <= limit && score < bestScore) {
      best = option;
      bestScore = score;
    }
  }
  return best;
}

/** `message`, plus ` (did you mean x?)` when a close option exists. */
export function withSuggestion(message: string, value: string, options: readonly string[], caseSensitive: boolean): string {
  const match = closest(value, options, caseSensitive);
  return match === undefined ? message : `${message} (did you mean ${match}?)`;
}
