/**
 * moby/patternmatcher semantics: a list of .dockerignore patterns, each
 * optionally negated with `!`; the last pattern that matches a path (or one
 * of its parent directories) decides. Patterns are compiled lazily to one of
 * four matchers (exact, prefix `dir/**`, suffix `**\/x`, regexp).
 */
import { StagecraftError } from '../../errors.js';
import { BadPatternError, filepathMatch } from './filepath-match.js';
import { cleanPath, dirPath, trimGoSpace } from './go-path.js';
import { compileGoRegexp } from './go-regexp.js';

export type MatchType = 'exactMatch' | 'prefixMatch' | 'suffixMatch' | 'regexpMatch';

/** Characters that mean something to a regexp but nothing to filepath.Match. */
const ESCAPED = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

export interface CompiledPattern {
  matchType: MatchType;
  /** The Go regexp text, for regexpMatch. */
  regexpSource?: string;
}

/**
 * Translates a cleaned pattern (no leading `!`) the way patternmatcher does:
 * `**` spans directories, `*` and `?` stay inside one path element.
 */
export function compilePattern(cleaned: string): CompiledPattern {
  const sl = '/';
  let reg = '^';
  let type: MatchType = 'exactMatch';
  const chars = Array.from(cleaned);
  for (let i = 0, k = 0; k < chars.length; i++) {
    const ch = chars[k++] as string;
    if (ch === '*') {
      if (chars[k] === '*') {
        k++;
        if (chars[k] === sl) k++; // treat **/ as **
        if (k >= chars.length) {
          // a trailing ** accepts everything, as .gitignore does
          if (type === 'exactMatch') type = 'prefixMatch';
          else {
            reg += '.*';
            type = 'regexpMatch';
          }
        } else {
          reg += '(.*' + sl + ')?';
          type = 'regexpMatch';
        }
        if (i === 0) type = 'suffixMatch';
      } else {
        reg += '[^' + sl + ']*';
        type = 'regexpMatch';
      }
    } else if (ch === '?') {
      reg += '[^' + sl + ']';
      type = 'regexpMatch';
    } else if (ESCAPED.has(ch)) {
      reg += '\\' + ch;
    } else if (ch === '\\') {
      // escapes the next character; a trailing backslash stays (escaped)
      if (k < chars.length) {
        reg += '\\' + (chars[k++] as string);
        type = 'regexpMatch';
      } else {
        reg += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      reg += ch;
      type = 'regexpMatch';
    } else {
      reg += ch;
    }
  }
  return type === 'regexpMatch' ? { matchType: type, regexpSource: reg + '$' } : { matchType: type };
}

export class Pattern {
  /** The pattern after trimming and cleaning, without `!`. */
  readonly cleaned: string;
  readonly exclusion: boolean;
  private compiled: { type: MatchType; regexp?: RegExp } | 'bad' | undefined;

  constructor(cleaned: string, exclusion: boolean) {
    this.cleaned = cleaned;
    this.exclusion = exclusion;
  }

  toString(): string {
    return this.cleaned;
  }

  /** Throws BadPatternError when the pattern cannot compile (on every call). */
  match(path: string): boolean {
    if (this.compiled === undefined) {
      const c = compilePattern(this.cleaned);
      if (c.matchType === 'regexpMatch') {
        try {
          this.compiled = { type: c.matchType, regexp: compileGoRegexp(c.regexpSource as string) };
        } catch {
          this.compiled = 'bad';
        }
      } else {
        this.compiled = { type: c.matchType };
      }
    }
    const c = this.compiled;
    if (c === 'bad') throw new BadPatternError();
    switch (c.type) {
      case 'exactMatch':
        return path === this.cleaned;
      case 'prefixMatch':
        return path.startsWith(this.cleaned.slice(0, -2));
      case 'suffixMatch': {
        const suffix = this.cleaned.slice(2);
        if (path.endsWith(suffix)) return true;
        return suffix.startsWith('/') && path === suffix.slice(1); // **/foo matches foo
      }
      case 'regexpMatch':
        return (c.regexp as RegExp).test(path);
    }
  }
}

function badPattern(pattern: string, cause: unknown): StagecraftError {
  return new StagecraftError('DOCKERIGNORE', `invalid .dockerignore pattern ${JSON.stringify(pattern)}: syntax error in pattern`, {
    cause,
    hint: 'check [ ] character classes and \\ escapes in .dockerignore',
  });
}

export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  /** True when some pattern starts with `!`. */
  readonly exclusions: boolean;

  /** patternmatcher.New: trims, drops empty lines, cleans, validates with filepath.Match. */
  constructor(patterns: readonly string[]) {
    const list: Pattern[] = [];
    let exclusions = false;
    for (const raw of patterns) {
      let p = trimGoSpace(raw);
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new StagecraftError('DOCKERIGNORE', 'illegal exclusion pattern: "!"', { hint: 'a line with only ! excludes nothing; remove it' });
        exclusion = true;
        exclusions = true;
        p = p.slice(1);
      }
      try {
        filepathMatch(p, '.');
      } catch (e) {
        throw badPattern(raw, e);
      }
      list.push(new Pattern(p, exclusion));
    }
    this.patterns = list;
    this.exclusions = exclusions;
  }

  /**
   * Does `file` (slash-separated, relative to the context) match — either
   * itself or through one of its parent directories — with later patterns
   * overriding earlier ones?
   */
  matchesOrParentMatches(file: string): boolean {
    let matched = false;
    const parent = dirPath(file);
    const parentDirs = parent.split('/');
    for (const pattern of this.patterns) {
      // an inclusion cannot change an already-matched path, nor an exclusion an unmatched one
      if (pattern.exclusion !== matched) continue;
      let match = this.run(pattern, file);
      if (!match && parent !== '.') {
        for (let i = 0; i < parentDirs.length; i++) {
          if (safeMatch(pattern, parentDirs.slice(0, i + 1).join('/'))) {
            match = true;
            break;
          }
        }
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /** Matches `file` itself only, no parent directories. */
  matchesExact(file: string): boolean {
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      if (this.run(pattern, file)) matched = !pattern.exclusion;
    }
    return matched;
  }

  private run(pattern: Pattern, path: string): boolean {
    try {
      return pattern.match(path);
    } catch (e) {
      if (e instanceof BadPatternError) throw badPattern(pattern.cleaned, e);
      throw e;
    }
  }
}

/** Parent-directory checks ignore errors, as upstream does (the file check already reported them). */
function safeMatch(pattern: Pattern, path: string): boolean {
  try {
    return pattern.match(path);
  } catch {
    return false;
  }
}

/** patternmatcher.MatchesOrParentMatches(file, patterns): '.' is never matched. */
export function matchesOrParentMatches(file: string, patterns: readonly string[]): boolean {
  const pm = new PatternMatcher(patterns);
  const f = cleanPath(file);
  if (f === '.') return false;
  return pm.matchesOrParentMatches(f);
}
