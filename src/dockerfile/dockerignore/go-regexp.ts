/**
 * Compiles Go RE2 syntax (as `regexp.Compile` reads it, Perl flags, no
 * multiline) into an equivalent JavaScript RegExp. patternmatcher passes the
 * user's `[…]` classes and `\` escapes straight into a Go regexp, so a
 * .dockerignore pattern is valid or invalid exactly when Go says so; this
 * translator reproduces Go's rules for the constructs that can reach it and
 * rejects the rest with GoRegexpError.
 */

export class GoRegexpError extends Error {
  constructor(message: string) {
    super(`error parsing regexp: ${message}`);
    this.name = 'GoRegexpError';
  }
}

type Range = [number, number];
const MAX_RUNE = 0x10ffff;

const PERL: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};

const POSIX: Record<string, Range[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

function complement(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

const hex = (c: number): string => `\\u{${c.toString(16)}}`;
const rangesToJs = (rs: Range[]): string => rs.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join('');
const isAlnum = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isOctal = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '7';
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);

export function compileGoRegexp(source: string): RegExp {
  const chars = Array.from(source);
  let i = 0;
  let out = '';
  let depth = 0;
  // what the previous item was, for Go's repetition rules
  let prev: 'none' | 'atom' | 'repeat' = 'none';

  const cp = (k: number): number => (chars[k] as string).codePointAt(0) as number;

  /** Go parseEscape at chars[i] === '\\'; returns the rune. */
  function parseEscape(): number {
    const start = i;
    i++; // backslash
    const c = chars[i];
    if (c === undefined) throw new GoRegexpError('trailing backslash at end of expression');
    i++;
    if (c >= '1' && c <= '7' && !isOctal(chars[i])) {
      throw new GoRegexpError(`invalid escape sequence: \`${chars.slice(start, i).join('')}\``);
    }
    if (c >= '0' && c <= '7') {
      let v = Number.parseInt(c, 8);
      for (let k = 0; k < 2 && isOctal(chars[i]); k++) v = v * 8 + Number.parseInt(chars[i++] as string, 8);
      return v;
    }
    if (c === 'x') {
      if (chars[i] === '{') {
        i++;
        let digits = '';
        while (isHex(chars[i])) digits += chars[i++];
        if (chars[i] !== '}' || digits === '' || Number.parseInt(digits, 16) > MAX_RUNE) {
          throw new GoRegexpError(`invalid escape sequence: \`${chars.slice(start, i + 1).join('')}\``);
        }
        i++;
        return Number.parseInt(digits, 16);
      }
      if (!isHex(chars[i]) || !isHex(chars[i + 1])) {
        throw new GoRegexpError(`invalid escape sequence: \`${chars.slice(start, i + 2).join('')}\``);
      }
      const v = Number.parseInt((chars[i] as string) + (chars[i + 1] as string), 16);
      i += 2;
      return v;
    }
    const simple: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
    if (c in simple) return simple[c] as number;
    const code = c.codePointAt(0) as number;
    if (code < 0x80 && !isAlnum(code)) return code;
    throw new GoRegexpError(`invalid escape sequence: \`\\${c}\``);
  }

  /** \p{Name} / \pL / \P…; returns a JS escape. Leaves i after it. */
  function parseUnicodeClass(): string {
    const neg = chars[i + 1] === 'P';
    i += 2;
    let name: string;
    if (chars[i] === '{') {
      const end = chars.indexOf('}', i);
      if (end < 0) throw new GoRegexpError('invalid character class range');
      name = chars.slice(i + 1, end).join('');
      i = end + 1;
    } else {
      name = chars[i] ?? '';
      i++;
    }
    let n = name;
    let negated = neg;
    if (n.startsWith('^')) {
      negated = !negated;
      n = n.slice(1);
    }
    const candidates = n === 'Any' ? [] : [`\\p{${n}}`, `\\p{Script=${n}}`];
    if (n === 'Any') return negated ? '[]' : '[\\s\\S]';
    for (const c of candidates) {
      try {
        new RegExp(c, 'u');
        return negated ? c.replace('\\p', '\\P') : c;
      } catch {
        // try the next spelling
      }
    }
    throw new GoRegexpError(`invalid character class range: \`\\p{${name}}\``);
  }

  function parseClass(): string {
    i++; // [
    let negated = false;
    if (chars[i] === '^') {
      negated = true;
      i++;
    }
    const ranges: Range[] = [];
    const props: string[] = [];
    let first = true;
    for (;;) {
      const c = chars[i];
      if (c === undefined) throw new GoRegexpError('missing closing ]');
      if (c === ']' && !first) {
        i++;
        break;
      }
      first = false;
      if (c === '[' && chars[i + 1] === ':') {
        const end = chars.indexOf(':', i + 2);
        if (end > 0 && chars[end + 1] === ']') {
          let name = chars.slice(i + 2, end).join('');
          const neg = name.startsWith('^');
          if (neg) name = name.slice(1);
          const table = POSIX[name];
          if (!table) throw new GoRegexpError(`invalid character class range: \`${chars.slice(i, end + 2).join('')}\``);
          ranges.push(...(neg ? complement(table) : table));
          i = end + 2;
          continue;
        }
      }
      if (c === '\\' && (chars[i + 1] === 'p' || chars[i + 1] === 'P')) {
        props.push(parseUnicodeClass());
        continue;
      }
      if (c === '\\' && chars[i + 1] !== undefined && 'dDsSwW'.includes(chars[i + 1] as string)) {
        const k = chars[i + 1] as string;
        const table = PERL[k.toLowerCase()] as Range[];
        ranges.push(...(k === k.toUpperCase() ? complement(table) : table));
        i += 2;
        continue;
      }
      const rangeStart = i;
      const lo = classChar();
      let hi = lo;
      if (chars[i] === '-' && chars[i + 1] !== undefined && chars[i + 1] !== ']') {
        i++;
        hi = classChar();
        if (hi < lo) throw new GoRegexpError(`invalid character class range: \`${chars.slice(rangeStart, i).join('')}\``);
      }
      ranges.push([lo, hi]);
    }
    const body = rangesToJs(ranges) + props.join('');
    if (body === '') return negated ? '[\\s\\S]' : '[]';
    return `[${negated ? '^' : ''}${body}]`;
  }

  function classChar(): number {
    if (chars[i] === undefined) throw new GoRegexpError('missing closing ]');
    if (chars[i] === '\\') return parseEscape();
    return cp(i++);
  }

  function repeat(op: string): void {
    if (prev === 'none') throw new GoRegexpError(`missing argument to repetition operator: \`${op}\``);
    if (prev === 'repeat') throw new GoRegexpError(`invalid nested repetition operator: \`${op}\``);
    out += op;
    prev = 'repeat';
  }

  while (i < chars.length) {
    const c = chars[i] as string;
    switch (c) {
      case '(':
        if (chars[i + 1] === '?') throw new GoRegexpError('unsupported group flags');
        depth++;
        out += '(';
        prev = 'none';
        i++;
        break;
      case ')':
        if (depth === 0) throw new GoRegexpError('unexpected ): `' + source + '`');
        depth--;
        out += ')';
        prev = 'atom';
        i++;
        break;
      case '|':
        out += '|';
        prev = 'none';
        i++;
        break;
      case '*':
      case '+':
      case '?': {
        let op = c;
        i++;
        if (chars[i] === '?') {
          op += '?';
          i++;
        }
        repeat(op);
        break;
      }
      case '{': {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(chars.slice(i, i + 24).join(''));
        if (m) {
          let op = m[0];
          i += op.length;
          if (chars[i] === '?') {
            op += '?';
            i++;
          }
          repeat(op);
        } else {
          out += hex(0x7b);
          prev = 'atom';
          i++;
        }
        break;
      }
      case '.':
        out += '[^\\n]';
        prev = 'atom';
        i++;
        break;
      case '^':
        out += '^';
        prev = 'atom';
        i++;
        break;
      case '$':
        out += '$';
        prev = 'atom';
        i++;
        break;
      case '[':
        out += parseClass();
        prev = 'atom';
        break;
      case '\\': {
        const n = chars[i + 1];
        if (n === 'A') { out += '^'; i += 2; prev = 'atom'; break; }
        if (n === 'z') { out += '$'; i += 2; prev = 'atom'; break; }
        if (n === 'b' || n === 'B') { out += '\\' + n; i += 2; prev = 'atom'; break; }
        if (n === 'Q') {
          i += 2;
          while (i < chars.length && !(chars[i] === '\\' && chars[i + 1] === 'E')) out += hex(cp(i++));
          if (i < chars.length) i += 2;
          prev = 'atom';
          break;
        }
        if (n === 'p' || n === 'P') { out += parseUnicodeClass(); prev = 'atom'; break; }
        if (n !== undefined && 'dDsSwW'.includes(n)) {
          const table = PERL[n.toLowerCase()] as Range[];
          out += `[${rangesToJs(n === n.toUpperCase() ? complement(table) : table)}]`;
          i += 2;
          prev = 'atom';
          break;
        }
        out += hex(parseEscape());
        prev = 'atom';
        break;
      }
      default:
        out += hex(cp(i));
        prev = 'atom';
        i++;
    }
  }
  if (depth > 0) throw new GoRegexpError('missing closing ): `' + source + '`');
  return new RegExp(out, 'u');
}
