/**
 * Character classes and quoting exactly as Go's `unicode` and `strconv`
 * packages define them. BuildKit's lexer decides what a name, a digit and a
 * space are with these, so we do too (JavaScript's `\s` and `\w` differ).
 */

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/** Go `unicode.IsLetter`: general category L. */
export function isGoLetter(ch: string): boolean {
  return LETTER.test(ch);
}

/** Go `unicode.IsDigit`: general category Nd. */
export function isGoDigit(ch: string): boolean {
  return DIGIT.test(ch);
}

/** Go `unicode.IsSpace`: the Unicode White_Space property (no U+FEFF, unlike JS `\s`). */
export function isGoSpace(ch: string): boolean {
  switch (ch) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case '\u0085': case '\u00a0': case '\u1680': case '\u2028': case '\u2029':
    case '\u202f': case '\u205f': case '\u3000':
      return true;
    default: {
      const c = ch.codePointAt(0) ?? 0;
      return c >= 0x2000 && c <= 0x200a;
    }
  }
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** Go `strconv.Quote`: used in messages such as `failed to process "…"`. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (PRINTABLE.test(ch)) {
      out += ch;
      continue;
    }
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x80) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd'; // a lone surrogate is invalid UTF-8 in Go
    else if (c < 0x10000) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += '\\U' + c.toString(16).padStart(8, '0');
  }
  return out + '"';
}
