/**
 * Splitting an instruction line into keyword, `--flags` and the rest.
 *
 * BuildKit reads the flags byte by byte and appends each byte as a code point,
 * so a flag holding non-ASCII text comes out as its UTF-8 bytes read as
 * Latin-1 (`é` becomes `Ã©`), and the bytes 0x85 and 0xA0 count as spaces.
 * This is reproduced on purpose: the same Dockerfile gives the same flags.
 */
import { isGoSpace, splitInstructionSpace, trimSpace, utf8Decode, utf8Encode } from './go-compat.js';

export interface SplitCommand {
  /** The keyword as written. */
  cmd: string;
  flags: string[];
  /** The arguments after the flags, trimmed. */
  args: string;
}

export function splitCommand(line: string, escape: '\\' | '`' = '\\'): SplitCommand {
  const cmdline = splitInstructionSpace(trimSpace(line), 2);
  let args = '';
  let flags: string[] = [];
  if (cmdline.length === 2) {
    [args, flags] = extractBuilderFlags(cmdline[1]!, escape);
  }
  return { cmd: cmdline[0]!, flags, args: trimSpace(args) };
}

const SPACES = 0;
const WORD = 1;
const QUOTE = 2;

/**
 * Returns [rest of line, flags]. The escape token (from `# escape=`) escapes
 * the next byte inside flags.
 */
export function extractBuilderFlags(line: string, escape: '\\' | '`' = '\\'): [string, string[]] {
  const esc = escape.charCodeAt(0);
  // ASCII text is its own byte sequence; only other text needs encoding.
  const ascii = /^[\x00-\x7f]*$/.test(line);
  const b: ArrayLike<number> = ascii ? { length: line.length } : utf8Encode(line);
  const at = ascii ? (i: number) => line.charCodeAt(i) : (i: number) => (b as Uint8Array)[i]!;
  const n = b.length;
  const rest = (pos: number): string => (ascii ? line.slice(pos) : utf8Decode((b as Uint8Array).subarray(pos)));
  const words: string[] = [];
  let phase = SPACES;
  let word = '';
  let quote = 0;
  let blankOK = false;
  let ch = 0;
  for (let pos = 0; pos <= n; pos++) {
    if (pos !== n) ch = at(pos);
    if (phase === SPACES) {
      if (pos === n) break;
      if (isGoSpace(ch)) continue;
      if (ch !== 0x2d || pos + 1 === n || at(pos + 1) !== 0x2d) return [rest(pos), words];
      phase = WORD;
    }
    if ((phase === WORD || phase === QUOTE) && pos === n) {
      if (word !== '--' && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === WORD) {
      if (isGoSpace(ch)) {
        phase = SPACES;
        if (word === '--') return [rest(pos), words];
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
        continue;
      }
      if (ch === esc) {
        if (pos + 1 === n) continue;
        pos++;
        ch = at(pos);
      }
      word += String.fromCharCode(ch);
      continue;
    }
    // QUOTE
    if (ch === quote) {
      phase = WORD;
      continue;
    }
    if (ch === esc) {
      if (pos + 1 === n) {
        phase = WORD;
        continue;
      }
      pos++;
      ch = at(pos);
    }
    word += String.fromCharCode(ch);
  }
  return ['', words];
}
