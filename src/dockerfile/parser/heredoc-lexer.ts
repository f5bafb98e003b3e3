/**
 * The slice of BuildKit's shell lexer that the parser uses to find heredocs:
 * word splitting with an empty environment and unset variables kept as
 * written (SkipUnsetEnv), optionally keeping quotes (RawQuotes) and escape
 * characters (RawEscapes). Full word expansion lives in src/dockerfile/shell;
 * this copy exists so the parser depends on nothing else.
 *
 * Faithful details: `<<` (or `<<-`) swallows the spaces, tabs and CRs after
 * it into the same word; a leading BOM of the input is skipped; nested `${...}` words
 * share one word buffer with the outer word (an upstream quirk that drops the
 * outer word's partial text).
 */
import { isGoSpace } from './go-compat.js';

export interface LexOptions {
  rawQuotes: boolean;
  rawEscapes: boolean;
}

export class LexError extends Error {}

const EOF = -1;
const maxNesting = 1000;
const letter = /^\p{L}$/u;
const digit = /^\p{Nd}$/u;

function isLetter(cp: number): boolean {
  return cp >= 0 && letter.test(String.fromCodePoint(cp));
}
function isDigit(cp: number): boolean {
  return cp >= 0 && digit.test(String.fromCodePoint(cp));
}
function isSpecialParam(cp: number): boolean {
  return '@*#?-$!0'.includes(String.fromCodePoint(cp)) && cp >= 0;
}

/** Splits `input` into words; throws LexError where BuildKit's lexer fails. */
export function lexWords(input: string, opts: LexOptions): string[] {
  return new HeredocLexer(input, opts).run();
}

class WordBuffer {
  text = '';
}

class Words {
  words: string[] = [];
  inWord = false;
  constructor(private readonly buf: WordBuffer) {}
  addChar(cp: number): void {
    if (isGoSpace(cp) && this.inWord) {
      if (this.buf.text.length !== 0) {
        this.words.push(this.buf.text);
        this.buf.text = '';
        this.inWord = false;
      }
    } else if (!isGoSpace(cp)) {
      this.addRawChar(cp);
    }
  }
  addRawChar(cp: number): void {
    this.buf.text += String.fromCodePoint(cp);
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch.codePointAt(0)!);
  }
  addRawString(s: string): void {
    this.buf.text += s;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.buf.text.length > 0) {
      this.words.push(this.buf.text);
      this.buf.text = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class HeredocLexer {
  private readonly cps: number[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly shared = new WordBuffer();
  private readonly escape = 0x5c;
  private depth = 0;

  constructor(input: string, private readonly opts: LexOptions) {
    this.cps = Array.from(input, (c) => c.codePointAt(0)!);
    if (this.cps[0] === 0xfeff) this.pos = 1; // text/scanner skips a leading BOM
    this.rawEscapes = opts.rawEscapes;
  }

  private peek(): number {
    return this.pos < this.cps.length ? this.cps[this.pos]! : EOF;
  }
  private next(): number {
    if (this.pos >= this.cps.length) return EOF;
    return this.cps[this.pos++]!;
  }

  run(): string[] {
    return this.processStopOn(EOF, this.opts.rawEscapes)[1];
  }

  private processStopOn(stop: number, rawEscapes: boolean): [string, string[]] {
    // Go's growable stacks take any nesting; ours does not. Past this depth
    // the word is treated as unlexable (no heredoc), a documented deviation.
    if (++this.depth > maxNesting) throw new LexError('substitutions nested too deeply');
    let result = '';
    this.shared.text = '';
    const words = new Words(this.shared);
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return [result, words.getWords()];
        }
        if (ch === 0x24 /* $ */) {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
          continue;
        }
        if (ch === 0x3c /* < */ || ch === 0x27 /* ' */ || ch === 0x22 /* " */) {
          const tmp =
            ch === 0x3c ? this.processPossibleHeredoc() : ch === 0x27 ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        ch = this.next();
        if (ch === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(ch);
            result += String.fromCodePoint(ch);
          }
          ch = this.next();
          if (ch === EOF) break;
          words.addRawChar(ch);
        } else {
          words.addChar(ch);
        }
        result += String.fromCodePoint(ch);
      }
      if (stop !== EOF) {
        throw new LexError(`unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`);
      }
      return [result, words.getWords()];
    } finally {
      this.rawEscapes = saved;
      this.depth--;
    }
  }

  private processSingleQuote(): string {
    let result = '';
    let ch = this.next();
    if (this.opts.rawQuotes) result += "'";
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === 0x27) {
        if (this.opts.rawQuotes) result += "'";
        return result;
      }
      result += String.fromCodePoint(ch);
    }
  }

  private processDoubleQuote(): string {
    let result = '';
    this.next();
    if (this.opts.rawQuotes) result += '"';
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === 0x22) {
        this.next();
        if (this.opts.rawQuotes) result += '"';
        return result;
      }
      if (p === 0x24) {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result += String.fromCodePoint(ch);
        const q = this.peek();
        if (q === EOF) continue;
        if (q === 0x22 || q === 0x24 || q === this.escape) ch = this.next();
      }
      result += String.fromCodePoint(ch);
    }
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== 0x7b /* { */) {
      const name = this.processName();
      if (name === '') return '$';
      return '$' + name; // every variable is unset here
    }
    this.next();
    const p = this.peek();
    if (p === EOF) throw new LexError("syntax error: missing '}'");
    if (p === 0x7b || p === 0x7d || p === 0x3a) throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let chs = ch === EOF ? '\ufffd' : String.fromCodePoint(ch);
    let nullIsUnset = false;
    switch (ch) {
      case 0x7d: // }
        return '${' + name + '}';
      case 0x3a: // :
      case 0x2b: // +
      case 0x2d: // -
      case 0x3f: // ?
      case 0x23: // #
      case 0x25: {
        // %
        if (ch === 0x3a) {
          nullIsUnset = true;
          ch = this.next();
          chs += ch === EOF ? '\ufffd' : String.fromCodePoint(ch);
        }
        const raw = ch === 0x23 || ch === 0x25;
        if (nullIsUnset && raw) throw new LexError(`unsupported modifier (${chs}) in substitution`);
        let word: string;
        try {
          word = this.processStopOn(0x7d, raw)[0];
        } catch (e) {
          if (e instanceof LexError && this.peek() === EOF) throw new LexError("syntax error: missing '}'");
          throw e;
        }
        return '${' + name + chs + word + '}';
      }
      case 0x2f: {
        // /
        if (this.peek() === 0x2f) this.next();
        let pattern: string;
        try {
          pattern = this.processStopOn(0x2f, true)[0];
        } catch (e) {
          if (e instanceof LexError && this.peek() === EOF) throw new LexError("syntax error: missing '/' in ${}");
          throw e;
        }
        let replacement: string;
        try {
          replacement = this.processStopOn(0x7d, true)[0];
        } catch (e) {
          if (e instanceof LexError && this.peek() === EOF) throw new LexError("syntax error: missing '}'");
          throw e;
        }
        return '${' + name + '/' + pattern + '/' + replacement + '}';
      }
      default:
        throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += String.fromCodePoint(this.next());
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return String.fromCodePoint(this.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== 0x3c) return '<';
    this.next();
    // `<<-` and then blanks stay in the word too (`RUN <<- EOF` names EOF).
    let space = '';
    if (this.peek() === 0x2d) {
      this.next();
      space = '-';
    }
    for (;;) {
      const c = this.peek();
      if (c !== 0x09 && c !== 0x0d && c !== 0x20) break;
      space += String.fromCodePoint(c);
      this.next();
    }
    return '<<' + space;
  }
}
