/**
 * Per-instruction argument parsing, as BuildKit's dispatch table does it.
 * Each parser takes the trimmed text after the keyword and flags, and returns
 * the `next` chain plus the attributes of the instruction node.
 */
import type { Node } from '../ast.js';
import { StagecraftError } from '../../errors.js';
import { goQuote, isGoSpace, splitInstructionSpace, trimLeftSpace, utf8Decode, utf8Encode } from './go-compat.js';
import { goJsonUnmarshal, nonString } from './go-json.js';
import { newNode, nodeList } from './node.js';

export type EscapeToken = '\\' | '`';

export interface LineParseResult {
  next: Node | null;
  json: boolean;
}

export type LineParser = (rest: string, escape: EscapeToken) => LineParseResult;

/** The message BuildKit gives for `CMD ["a", 1]`. */
export const errNotStringArray = 'when using JSON array syntax, arrays must be comprised of strings only';

const plain = (next: Node | null): LineParseResult => ({ next, json: false });

/**
 * Splits on unquoted whitespace, keeping quotes and escapes in the words.
 * An escape token at the very end is dropped.
 */
export function parseWords(rest: string, escape: EscapeToken = '\\'): string[] {
  const cps = Array.from(rest);
  const n = cps.length;
  const words: string[] = [];
  let phase = 0; // 0 spaces, 1 word, 2 quote
  let word = '';
  let quote = '';
  let blankOK = false;
  let ch = '';
  for (let pos = 0; pos <= n; pos++) {
    if (pos !== n) ch = cps[pos]!;
    if (phase === 0) {
      if (pos === n) break;
      if (isGoSpace(ch.codePointAt(0)!)) continue;
      phase = 1;
    }
    if (pos === n) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 1) {
      if (isGoSpace(ch.codePointAt(0)!)) {
        phase = 0;
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 2;
      }
      if (ch === escape) {
        if (pos + 1 === n) continue;
        word += ch;
        pos++;
        ch = cps[pos]!;
      }
      word += ch;
      continue;
    }
    // quoted
    if (ch === quote) phase = 1;
    if (ch === escape && quote !== "'") {
      if (pos + 1 === n) {
        phase = 1;
        continue;
      }
      pos++;
      word += ch;
      ch = cps[pos]!;
    }
    word += ch;
  }
  return words;
}

function keyValue(key: string, value: string, sep: string): Node {
  return newNode(key, newNode(value, newNode(sep)));
}

/**
 * ENV and LABEL arguments: `name=value ...` gives (name value "=") triples;
 * the legacy `name value` gives one (name value "") triple.
 */
export function parseNameVal(rest: string, key: string, escape: EscapeToken = '\\'): Node | null {
  const words = parseWords(rest, escape);
  if (words.length === 0) return null;
  if (!words[0]!.includes('=')) {
    const parts = splitInstructionSpace(rest, 2);
    if (parts.length < 2) throw new StagecraftError('PARSE', `${key} must have two arguments`);
    return keyValue(parts[0]!, parts[1]!, '');
  }
  let head: Node | null = null;
  let tail: Node | null = null;
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) {
      throw new StagecraftError('PARSE', `Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`);
    }
    const kv = keyValue(w.slice(0, eq), w.slice(eq + 1), '=');
    if (tail) tail.next = kv;
    else head = kv;
    tail = kv.next!.next!;
  }
  return head;
}

/** ARG: every word is a node (`name`, `name=value`). */
const parseNameOrNameVal: LineParser = (rest, escape) => plain(nodeList(parseWords(rest, escape)));

const parseStringsWhitespaceDelimited: LineParser = (rest) =>
  plain(rest === '' ? null : nodeList(splitInstructionSpace(rest, -1)));

const parseString: LineParser = (rest) => plain(rest === '' ? null : newNode(rest));

const parseIgnore: LineParser = () => plain(newNode(''));

export type JsonArrayResult = { ok: true; values: string[] } | { ok: false };

/**
 * BuildKit's parseJSON: `{ok: true}` for a JSON array of strings; `{ok:
 * false}` when the text is not a JSON array (the caller falls back to shell
 * form); throws StagecraftError(errNotStringArray) for a JSON array holding
 * anything but strings.
 */
export function parseJSON(rest: string): JsonArrayResult {
  const t = trimLeftSpace(rest);
  if (!t.startsWith('[')) return { ok: false };
  const r = goJsonUnmarshal(t);
  if (!r.ok || r.top.kind !== 'array') return { ok: false };
  const values: string[] = [];
  for (const item of r.top.items) {
    if (item === nonString) throw new StagecraftError('PARSE', errNotStringArray);
    values.push(item);
  }
  return { ok: true, values };
}

/** RUN, CMD, ENTRYPOINT, SHELL: a JSON array, or the whole text as one node. */
export function parseMaybeJSON(rest: string): LineParseResult {
  if (rest === '') return plain(null);
  const j = parseJSON(rest);
  if (j.ok) return { next: nodeList(j.values), json: true };
  return plain(newNode(rest));
}

/** ADD, COPY, VOLUME: a JSON array, or whitespace-separated words. */
export function parseMaybeJSONToList(rest: string): LineParseResult {
  const j = parseJSON(rest);
  if (j.ok) return { next: nodeList(j.values), json: true };
  return parseStringsWhitespaceDelimited(rest, '\\');
}

/** HEALTHCHECK: a type word (CMD, NONE, ...) then parseMaybeJSON on the rest. */
const parseHealthConfig: LineParser = (rest) => {
  // Byte-wise, like BuildKit: bytes 0x85 and 0xA0 count as spaces.
  const b = utf8Encode(rest);
  let sep = 0;
  while (sep < b.length && !isGoSpace(b[sep]!)) sep++;
  let next = sep;
  while (next < b.length && isGoSpace(b[next]!)) next++;
  if (sep === 0) return plain(null);
  const typ = utf8Decode(b.subarray(0, sep));
  const cmd = parseMaybeJSON(utf8Decode(b.subarray(next)));
  return { next: newNode(typ, cmd.next), json: cmd.json };
};

const parseEnv: LineParser = (rest, escape) => plain(parseNameVal(rest, 'ENV', escape));
const parseLabel: LineParser = (rest, escape) => plain(parseNameVal(rest, 'LABEL', escape));

/** The dispatch table, by lowercase keyword. ONBUILD is handled by the caller. */
export const lineParsers: Readonly<Record<string, LineParser>> = {
  add: (rest) => parseMaybeJSONToList(rest),
  arg: parseNameOrNameVal,
  cmd: (rest) => parseMaybeJSON(rest),
  copy: (rest) => parseMaybeJSONToList(rest),
  entrypoint: (rest) => parseMaybeJSON(rest),
  env: parseEnv,
  expose: parseStringsWhitespaceDelimited,
  from: parseStringsWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: parseLabel,
  maintainer: parseString,
  run: (rest) => parseMaybeJSON(rest),
  shell: (rest) => parseMaybeJSON(rest),
  stopsignal: parseString,
  user: parseString,
  volume: (rest) => parseMaybeJSONToList(rest),
  workdir: parseString,
};

export function lineParserFor(keyword: string): LineParser {
  return Object.prototype.hasOwnProperty.call(lineParsers, keyword) ? lineParsers[keyword]! : parseIgnore;
}
