/**
 * Heredoc recognition, as BuildKit does it: the instruction line is split into
 * words keeping quotes and escapes, and each word of the form
 * `[fd]<<[-][spaces]WORD` is a heredoc. The delimiter is lexed twice, with and
 * without quotes kept; if the quote counts differ, part of it was quoted and
 * the body is not expanded.
 */
import type { Heredoc } from '../ast.js';
import { StagecraftError } from '../../errors.js';
import { goQuote, isReSpace } from './go-compat.js';
import { LexError, lexWords } from './heredoc-lexer.js';

const maxUint64 = 0xffffffffffffffffn;

function lex(source: string, rawQuotes: boolean, rawEscapes: boolean): string[] {
  try {
    return lexWords(source, { rawQuotes, rawEscapes });
  } catch (e) {
    if (e instanceof LexError) {
      throw new StagecraftError('PARSE', `failed to process ${goQuote(source)}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

function countQuotes(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === "'" || ch === '"') n++;
  return n;
}

/**
 * Matches `^(\d*)<<(-?)\s*([^<]*)$` (Go regexp semantics) without
 * backtracking. Returns [fd digits, chomp, rest] or undefined.
 */
function matchHeredoc(src: string): [string, boolean, string] | undefined {
  let i = 0;
  while (i < src.length && src.charCodeAt(i) >= 0x30 && src.charCodeAt(i) <= 0x39) i++;
  const digits = src.slice(0, i);
  if (!src.startsWith('<<', i)) return undefined;
  i += 2;
  let chomp = false;
  if (src[i] === '-') {
    chomp = true;
    i++;
  }
  while (i < src.length && isReSpace(src.charCodeAt(i))) i++;
  const rest = src.slice(i);
  if (rest.includes('<')) return undefined;
  return [digits, chomp, rest];
}

/**
 * BuildKit's ParseHeredoc: the heredoc described by one word, or undefined
 * when the word is not a heredoc. Throws StagecraftError('PARSE') when the
 * delimiter cannot be lexed (e.g. an unterminated quote).
 */
export function parseHeredoc(src: string): Heredoc | undefined {
  const m = matchHeredoc(src);
  if (!m) return undefined;
  const [digits, chomp, rest] = m;
  if (rest.length === 0) return undefined;
  const words = lex(rest, false, false);
  if (words.length !== 1) return undefined;
  const wordsRaw = lex(rest, true, false);
  if (wordsRaw.length !== words.length) {
    throw new StagecraftError('PARSE', `internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const word = words[0]!;
  const wordRaw = wordsRaw[0]!;
  let fd = 0;
  if (digits.length > 0) {
    const big = BigInt(digits);
    fd = Number(big > maxUint64 ? maxUint64 : big);
  }
  return {
    name: word,
    fileDescriptor: fd,
    expand: countQuotes(word) === countQuotes(wordRaw),
    chomp,
    content: '',
  };
}

/**
 * The heredocs named on an instruction line, in order, with empty content.
 * A line that cannot be split into words has none; a word that looks like a
 * heredoc but cannot be lexed throws StagecraftError('PARSE').
 */
export function heredocsFromLine(line: string): Heredoc[] {
  let words: string[];
  try {
    words = lexWords(line, { rawQuotes: true, rawEscapes: true });
  } catch (e) {
    if (e instanceof LexError) return [];
    throw e;
  }
  const docs: Heredoc[] = [];
  for (const w of words) {
    const h = parseHeredoc(w);
    if (h) docs.push(h);
  }
  return docs;
}

/** Strips leading tabs from every line of a heredoc body (for `<<-`). */
export function chompHeredocContent(src: string): string {
  return src
    .split('\n')
    .map((l) => l.replace(/^\t+/, ''))
    .join('\n');
}
