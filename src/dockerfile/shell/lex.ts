/**
 * Dockerfile word expansion with BuildKit's exact rules (its `shell.Lex`):
 * quotes, the escape token, `$V`/`${V}` and the `${V<op>word}` forms, and
 * shell-like word splitting. Pure: text and env in, text (or an error) out.
 */
import { StagecraftError, type StagecraftErrorOptions } from '../../errors.js';
import { envLookup, type Env, type EnvLookup } from './env.js';
import { goQuote, isGoDigit, isGoLetter, isGoSpace } from './go-text.js';
import { replaceAll, replaceFirst, ShellPatternError, trimPrefix, trimSuffix } from './pattern.js';

export interface LexOptions {
  /** `\` (default) or `` ` `` (from the `# escape=` directive). */
  escapeToken?: '\\' | '`';
  /** Keep quote characters in the output (quotes still group words). */
  rawQuotes?: boolean;
  /** Keep escape tokens in the output (the escaped character is still taken literally). */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written (`$X`, `${X:-y}`) instead of expanding them. */
  skipUnsetEnv?: boolean;
  /** Treat `'` and `"` as ordinary characters. */
  skipProcessQuotes?: boolean;
}

export interface WordExpansion {
  /** The expanded word (ProcessWord). */
  result: string;
  /** The expanded word split into fields like the shell (ProcessWords). */
  words: string[];
  /** Variables that were referenced and set. */
  matched: Set<string>;
  /** Variables that were referenced but unset (for the UndefinedVar check). */
  unmatched: Set<string>;
}

/** A failed expansion. Carries what had been looked up before the failure. */
export class ExpansionError extends StagecraftError {
  readonly matched: Set<string>;
  readonly unmatched: Set<string>;
  constructor(message: string, matched: Set<string>, unmatched: Set<string>, options: StagecraftErrorOptions = {}) {
    super('EXPANSION', message, options);
    this.matched = matched;
    this.unmatched = unmatched;
  }
}

/** An error inside one word; wrapped with the whole word before it leaves this module. */
class WordError extends Error {}

export class ShellLex {
  readonly escapeToken: '\\' | '`';
  readonly rawQuotes: boolean;
  readonly rawEscapes: boolean;
  readonly skipUnsetEnv: boolean;
  readonly skipProcessQuotes: boolean;

  constructor(opts: LexOptions = {}) {
    this.escapeToken = opts.escapeToken ?? '\\';
    this.rawQuotes = opts.rawQuotes ?? false;
    this.rawEscapes = opts.rawEscapes ?? false;
    this.skipUnsetEnv = opts.skipUnsetEnv ?? false;
    this.skipProcessQuotes = opts.skipProcessQuotes ?? false;
  }

  /** Expands `word`; spaces between fields are kept. */
  processWord(word: string, env: Env): string {
    return this.processWordWithMatches(word, env).result;
  }

  /** Expands `word`, then splits it into fields (quoted and escaped spaces do not split). */
  processWords(word: string, env: Env): string[] {
    return this.processWordWithMatches(word, env).words;
  }

  /** Expands `word` and reports which variables were used and which were unset. */
  processWordWithMatches(word: string, env: Env): WordExpansion {
    const run = new WordRun(word, envLookup(env), this);
    try {
      const { result, words } = run.processStopOn(undefined, this.rawEscapes);
      return { result, words, matched: run.matched, unmatched: run.unmatched };
    } catch (e) {
      if (e instanceof WordError || e instanceof ShellPatternError) {
        throw new ExpansionError(`failed to process ${goQuote(word)}: ${e.message}`, run.matched, run.unmatched, { cause: e });
      }
      throw e;
    }
  }
}

/** Go text/scanner over code points: Peek/Next, EOF is undefined, a leading BOM is skipped. */
class Scanner {
  private readonly chars: string[];
  private pos: number;
  constructor(text: string) {
    this.chars = Array.from(text);
    this.pos = this.chars[0] === '\uFEFF' ? 1 : 0;
  }
  peek(): string | undefined {
    return this.chars[this.pos];
  }
  next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }
}

/** Field splitting state for one processStopOn call. */
class Fields {
  private buf = '';
  private inWord = false;
  private readonly words: string[] = [];

  addChar(ch: string): void {
    const space = isGoSpace(ch);
    if (space && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else if (!space) {
      this.addRaw(ch);
    }
  }
  addRaw(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  finish(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class WordRun {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly scanner: Scanner;
  private rawEscapes: boolean;

  constructor(
    word: string,
    private readonly env: EnvLookup,
    private readonly lex: ShellLex,
  ) {
    this.scanner = new Scanner(word);
    this.rawEscapes = lex.rawEscapes;
  }

  /** Reads until `stop` (consumed) or the end; `stop` undefined means read to the end. */
  processStopOn(stop: string | undefined, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.readUntil(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private readUntil(stop: string | undefined): { result: string; words: string[] } {
    const s = this.scanner;
    const esc = this.lex.escapeToken;
    const quotes = !this.lex.skipProcessQuotes;
    const fields = new Fields();
    let result = '';
    for (let ch = s.peek(); ch !== undefined; ch = s.peek()) {
      if (stop !== undefined && ch === stop) {
        s.next();
        return { result, words: fields.finish() };
      }
      if (ch === '$') {
        const v = this.processDollar();
        result += v;
        fields.addString(v);
        continue;
      }
      if (quotes && (ch === "'" || ch === '"')) {
        const v = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
        result += v;
        fields.addRaw(v);
        continue;
      }
      s.next();
      if (ch === esc) {
        if (this.rawEscapes) {
          fields.addRaw(ch);
          result += ch;
        }
        const escaped = s.next();
        if (escaped === undefined) break; // a trailing escape token is dropped
        fields.addRaw(escaped);
        result += escaped;
      } else {
        fields.addChar(ch);
        result += ch;
      }
    }
    if (stop !== undefined) throw new WordError(`unexpected end of statement while looking for matching ${stop}`);
    return { result, words: fields.finish() };
  }

  /** Everything up to the next `'` is literal; there is no escape inside. */
  private processSingleQuote(): string {
    const s = this.scanner;
    const raw = this.lex.rawQuotes;
    let out = raw ? (s.next() as string) : (s.next(), '');
    for (;;) {
      const ch = s.next();
      if (ch === undefined) throw new WordError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return raw ? out + ch : out;
      out += ch;
    }
  }

  /** `$` expands; the escape token escapes only `"`, `$` and itself, otherwise it stays. */
  private processDoubleQuote(): string {
    const s = this.scanner;
    const raw = this.lex.rawQuotes;
    const esc = this.lex.escapeToken;
    let out = raw ? (s.next() as string) : (s.next(), '');
    for (;;) {
      const peek = s.peek();
      if (peek === undefined) throw new WordError('unexpected end of statement while looking for matching double-quote');
      if (peek === '"') {
        s.next();
        return raw ? out + peek : out;
      }
      if (peek === '$') {
        out += this.processDollar();
        continue;
      }
      let ch = s.next() as string;
      if (ch === esc) {
        if (this.rawEscapes) out += ch;
        const after = s.peek();
        if (after === undefined) continue; // then the loop reports the missing quote
        if (after === '"' || after === '$' || after === esc) ch = s.next() as string;
      }
      out += ch;
    }
  }

  private processDollar(): string {
    const s = this.scanner;
    s.next(); // the '$'
    if (s.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.lex.skipUnsetEnv) return '$' + name;
      return value ?? '';
    }
    s.next(); // the '{'
    const first = s.peek();
    if (first === undefined) throw new WordError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new WordError('syntax error: bad substitution');

    const name = this.processName();
    let ch = s.next();
    let chs = ch ?? '\uFFFD';
    if (ch === '}') {
      const value = this.getEnv(name);
      if (value === undefined && this.lex.skipUnsetEnv) return '${' + name + '}';
      return value ?? '';
    }
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = s.next();
      chs += ch ?? '\uFFFD';
    } else if (ch === '/') {
      return this.processReplace(name);
    } else if (ch !== '+' && ch !== '-' && ch !== '?' && ch !== '#' && ch !== '%') {
      throw new WordError(`unsupported modifier (${chs}) in substitution`);
    }

    const patternOp = ch === '#' || ch === '%';
    if (nullIsUnset && patternOp) throw new WordError(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      word = this.processStopOn('}', patternOp).result;
    } catch (e) {
      if (e instanceof WordError && s.peek() === undefined) throw new WordError("syntax error: missing '}'");
      throw e;
    }

    const value = this.getEnv(name);
    if (this.lex.skipUnsetEnv && value === undefined) return '${' + name + chs + word + '}';
    const set = value !== undefined;
    const empty = !set || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return empty ? word : (value as string);
      case '+':
        return empty ? '' : word;
      case '?':
        if (!set) throw new WordError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new WordError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        return value as string;
      case '#':
      case '%': {
        // '##' / '%%' are longest-match; upstream detects the doubled operator
        // on the already-expanded pattern, so `${A#$B}` with B='#x' is greedy too.
        let pattern = word;
        let greedy = false;
        if (pattern.startsWith(ch)) {
          greedy = true;
          pattern = pattern.slice(1);
        }
        return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
      }
      default:
        throw new WordError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`. */
  private processReplace(name: string): string {
    const s = this.scanner;
    const all = s.peek() === '/';
    if (all) s.next();
    let pattern: string;
    try {
      pattern = this.processStopOn('/', true).result;
    } catch (e) {
      if (e instanceof WordError && s.peek() === undefined) throw new WordError("syntax error: missing '/' in ${}");
      throw e;
    }
    let replacement: string;
    try {
      replacement = this.processStopOn('}', true).result;
    } catch (e) {
      if (e instanceof WordError && s.peek() === undefined) throw new WordError("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (this.lex.skipUnsetEnv && value === undefined) return '${' + name + '/' + pattern + '/' + replacement + '}';
    try {
      return all ? replaceAll(pattern, value ?? '', replacement) : replaceFirst(pattern, value ?? '', replacement);
    } catch (e) {
      if (e instanceof ShellPatternError) throw new WordError(`invalid pattern (${pattern}) in substitution: ${e.message}`);
      throw e;
    }
  }

  /** A name: letters, digits and `_`; or a run of digits; or one special parameter. */
  private processName(): string {
    const s = this.scanner;
    let name = '';
    for (let ch = s.peek(); ch !== undefined; ch = s.peek()) {
      if (name === '' && isGoDigit(ch)) {
        while (s.peek() !== undefined && isGoDigit(s.peek() as string)) name += s.next() as string;
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) {
        s.next();
        return ch;
      }
      if (!isGoLetter(ch) && !isGoDigit(ch) && ch !== '_') break;
      name += s.next() as string;
    }
    return name;
  }

  private getEnv(name: string): string | undefined {
    const v = this.env.get(name);
    if (v !== undefined) this.matched.add(name);
    else this.unmatched.add(name);
    return v;
  }
}
