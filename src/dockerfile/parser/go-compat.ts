/**
 * Small pieces of Go's standard library whose exact behaviour the Dockerfile
 * parser depends on: unicode.IsSpace, strings.TrimSpace, regexp.Split on the
 * instruction whitespace class, and strconv.Quote (used by the AST dump).
 */

/** Go's unicode.IsSpace for one code point. */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return (cp >= 0x09 && cp <= 0x0d) || cp === 0x20 || cp === 0x85 || cp === 0xa0;
  }
  return (
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/** strings.TrimLeftFunc(s, unicode.IsSpace). */
export function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    if (!isGoSpace(cp)) break;
    i += cp > 0xffff ? 2 : 1;
  }
  return i === 0 ? s : s.slice(i);
}

/** strings.TrimRightFunc(s, unicode.IsSpace). None of Go's spaces are astral. */
export function trimRightSpace(s: string): string {
  let j = s.length;
  while (j > 0 && isGoSpace(s.charCodeAt(j - 1))) j--;
  return j === s.length ? s : s.slice(0, j);
}

/** strings.TrimSpace. */
export function trimSpace(s: string): string {
  return trimRightSpace(trimLeftSpace(s));
}

/** The instruction whitespace class `[\t\v\f\r ]`. */
export function isInstructionSpace(c: number): boolean {
  return c === 0x09 || c === 0x0b || c === 0x0c || c === 0x0d || c === 0x20;
}

/**
 * regexp.MustCompile(`[\t\v\f\r ]+`).Split(s, n) for n = -1 (all) or n >= 1.
 */
export function splitInstructionSpace(s: string, n: number): string[] {
  if (n === 0) return [];
  if (s.length === 0) return [''];
  const out: string[] = [];
  let beg = 0;
  let end = 0;
  let i = 0;
  while (i < s.length) {
    if (!isInstructionSpace(s.charCodeAt(i))) {
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && isInstructionSpace(s.charCodeAt(j))) j++;
    if (n > 0 && out.length === n - 1) break;
    end = i;
    if (j !== 0) out.push(s.slice(beg, end));
    beg = j;
    i = j;
  }
  if (end !== s.length) out.push(s.slice(beg));
  return out;
}

/** Go's regexp `\s` class: [\t\n\f\r ]. */
export function isReSpace(c: number): boolean {
  return c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20;
}

/** Number of bytes `s` takes in UTF-8 (lone surrogates count as 3, like U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes UTF-8; invalid bytes become U+FFFD (Go keeps the raw bytes). */
export function utf8Decode(b: Uint8Array): string {
  return decoder.decode(b);
}

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    i += width;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      // A lone surrogate: Go would see three invalid bytes.
      out += `\\x${hex(0xe0 | (cp >> 12), 2)}\\x${hex(0x80 | ((cp >> 6) & 0x3f), 2)}\\x${hex(0x80 | (cp & 0x3f), 2)}`;
      continue;
    }
    if (cp === 0x22) {
      out += '\\"';
      continue;
    }
    if (cp === 0x5c) {
      out += '\\\\';
      continue;
    }
    if (cp === 0x20 || (cp > 0x20 && cp < 0x7f)) {
      out += String.fromCodePoint(cp);
      continue;
    }
    const ch = String.fromCodePoint(cp);
    if (cp >= 0x80 && printable.test(ch)) {
      out += ch;
      continue;
    }
    switch (cp) {
      case 0x07: out += '\\a'; continue;
      case 0x08: out += '\\b'; continue;
      case 0x0c: out += '\\f'; continue;
      case 0x0a: out += '\\n'; continue;
      case 0x0d: out += '\\r'; continue;
      case 0x09: out += '\\t'; continue;
      case 0x0b: out += '\\v'; continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + '"';
}

/** Go's fmt `%q` of a []string: `["a" "b"]`. */
export function goQuoteSlice(items: readonly string[]): string {
  return '[' + items.map(goQuote).join(' ') + ']';
}

/** Go's strings.ToLower: rune by rune, so no context rules (final sigma) and İ -> i. */
export function goToLower(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  let out = '';
  for (const ch of s) out += ch === '\u0130' ? 'i' : ch.toLowerCase();
  return out;
}
