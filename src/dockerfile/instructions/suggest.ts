/**
 * "did you mean" hints for misspelled flags, keys and instructions, in the
 * spirit of BuildKit's suggest package: the closest candidate by edit distance,
 * when it is close enough to be a likely typo.
 */

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

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
