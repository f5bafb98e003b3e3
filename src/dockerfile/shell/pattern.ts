/**
 * Shell patterns inside `${v#p}`, `${v%p}` and `${v/p/r}`: `*` is any string,
 * `?` any one character, `\` escapes `*`, `?` and `\` (and `}`/`/`, which
 * only need escaping to get past the `${…}` reader). There are no bracket
 * expressions. BuildKit compiles such a pattern to a Go regexp; we keep the
 * same regexp text (for inspection and tests) and run an equivalent
 * JavaScript RegExp, so leftmost-first match preference is identical.
 */

export interface ShellPatternRegex {
  /** The regexp as Go would see it, e.g. `^\*.*`. */
  goSource: string;
  /** An equivalent JavaScript regexp (unicode mode, `.` never matches `\n` as in Go). */
  regexp: RegExp;
}

/** Thrown (as a plain Error, wrapped by the lexer) for `\x` and a trailing `\`. */
export class ShellPatternError extends Error {}

const REGEX_SPECIAL = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

export function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean): ShellPatternRegex {
  const chars = Array.from(pattern);
  let i = chars[0] === '\uFEFF' ? 1 : 0; // Go's text/scanner drops a leading BOM
  let go = anchored ? '^' : '';
  let js = anchored ? '^' : '';
  const goStar = greedy ? '.*' : '.*?';
  const jsStar = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === '*') {
      go += goStar;
      js += jsStar;
    } else if (ch === '?') {
      go += '.';
      js += '[^\\n]';
    } else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === '}' || next === '/') continue; // the escape only got it past the ${…} reader
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw new ShellPatternError(`invalid escape '\\${next ?? '\uFFFD'}'`);
      }
      go += '\\' + next;
      js += '\\' + next;
      i++;
    } else if (REGEX_SPECIAL.has(ch)) {
      go += '\\' + ch;
      js += '\\' + ch;
    } else {
      go += ch;
      js += ch;
    }
  }
  return { goSource: go, regexp: new RegExp(js, 'u') };
}

/** `${v#p}` / `${v##p}`: remove the prefix the pattern matches (shortest, or longest when greedy). */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const { regexp } = shellPatternToRegex(pattern, greedy, true);
  const m = regexp.exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/**
 * Pattern reversal that keeps escape pairs together: `a\*c` becomes `c\*a`.
 * A backslash in last position stays a lone character, as upstream.
 */
export function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const last = runes.length - 1;
  const out = new Array<string>(runes.length);
  for (let i = 0; i <= last; ) {
    const tok = runes[i] as string;
    const at = last - i;
    if (tok === '\\' && i !== last) {
      out[at - 1] = tok;
      out[at] = runes[i + 1] as string;
      i += 2;
    } else {
      out[at] = tok;
      i++;
    }
  }
  return out.join('');
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

/** `${v%p}` / `${v%%p}`: suffix trimming, done as prefix trimming on reversed text. */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** `${v/p/r}`: replace the first (leftmost, longest-greedy) match, literally. */
export function replaceFirst(pattern: string, value: string, replacement: string): string {
  const { regexp } = shellPatternToRegex(pattern, true, false);
  const m = regexp.exec(value);
  if (!m) return value;
  return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
}

/**
 * `${v//p/r}`: Go `Regexp.ReplaceAllString`. Empty matches right after a
 * match are skipped, and the replacement is a Go template (`$0`, `${0}`,
 * `$$`; other groups do not exist in these patterns and expand to '').
 */
export function replaceAll(pattern: string, value: string, replacement: string): string {
  const { regexp } = shellPatternToRegex(pattern, true, false);
  const re = new RegExp(regexp.source, 'gu');
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const m = re.exec(value);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += value.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandGoTemplate(replacement, m[0]);
    lastMatchEnd = end;
    const cp = value.codePointAt(searchPos);
    const width = cp === undefined ? 0 : cp > 0xffff ? 2 : 1;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}

const NAME_CHAR = /^[\p{L}\p{Nd}_]$/u;

/** Go `Regexp.Expand` for a regexp whose only group is the whole match. */
function expandGoTemplate(template: string, whole: string): string {
  let out = '';
  let rest = template;
  for (;;) {
    const d = rest.indexOf('$');
    if (d < 0) break;
    out += rest.slice(0, d);
    rest = rest.slice(d + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const ref = extractGroupRef(rest);
    if (!ref) {
      out += '$';
      continue;
    }
    rest = ref.rest;
    if (ref.num === 0) out += whole;
  }
  return out + rest;
}

function extractGroupRef(s: string): { num: number; rest: string } | undefined {
  let str = s;
  const brace = str.startsWith('{');
  if (brace) str = str.slice(1);
  const chars = Array.from(str);
  let n = 0;
  let len = 0;
  while (n < chars.length && NAME_CHAR.test(chars[n] as string)) {
    len += (chars[n] as string).length;
    n++;
  }
  if (n === 0) return undefined;
  const name = str.slice(0, len);
  let restAt = len;
  if (brace) {
    if (str[len] !== '}') return undefined;
    restAt++;
  }
  let num = /^[0-9]+$/.test(name) && name.length <= 9 ? Number(name) : -1;
  if (name.length > 1 && name[0] === '0') num = -1;
  return { num, rest: str.slice(restAt) };
}
