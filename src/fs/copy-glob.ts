/**
 * Pattern helpers for COPY/ADD sources. Plain wildcards use the exact Go
 * filepath.Match from src/dockerfile/dockerignore; this file adds `**` (any
 * number of path components, including none) for --parents, a test for
 * "has a wildcard", and edit-distance suggestions for missing sources.
 * Pure: strings in, values out.
 */
import { StagecraftError } from '../errors.js';
import { editDistance } from '../util/edit-distance.js';

export { editDistance };

/** True when a path component holds a wildcard (`\` escapes the next byte). */
export function hasWildcard(component: string): boolean {
  for (let i = 0; i < component.length; i++) {
    const ch = component[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

function badPattern(pattern: string): StagecraftError {
  return new StagecraftError('COPY', `syntax error in pattern: ${pattern}`, {
    hint: 'escape [ ] * ? with a backslash or a class, e.g. arr[[]0].txt',
  });
}

function escapeRe(ch: string, inClass = false): string {
  if (/[\\^$.*+?()[\]{}|\/]/.test(ch) || (inClass && ch === '-')) return `\\${ch}`;
  return ch;
}

/** Translate one pattern into a regex source (without anchors). */
function translate(pattern: string, doublestar: boolean): string {
  let re = '';
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (doublestar && pattern[i + 1] === '*') {
        // `**/` matches zero or more leading components; a bare `**` anything.
        i += 2;
        while (pattern[i] === '*') i++;
        if (pattern[i] === '/') {
          re += '(?:.*/)?';
          i++;
        } else {
          re += '.*';
        }
        continue;
      }
      re += '[^/]*';
      i++;
    } else if (ch === '?') {
      re += '[^/]';
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= n) throw badPattern(pattern);
      re += escapeRe(pattern[i + 1]!);
      i += 2;
    } else if (ch === '[') {
      i++;
      let cls = '';
      if (pattern[i] === '^') {
        cls += '^';
        i++;
      }
      let ranges = 0;
      for (;;) {
        if (i >= n) throw badPattern(pattern);
        if (pattern[i] === ']' && ranges > 0) {
          i++;
          break;
        }
        const lo = readClassChar();
        let hi = lo;
        if (pattern[i] === '-') {
          i++;
          hi = readClassChar();
          if (hi.codePointAt(0)! < lo.codePointAt(0)!) throw badPattern(pattern);
        }
        cls += lo === hi ? escapeRe(lo, true) : `${escapeRe(lo, true)}-${escapeRe(hi, true)}`;
        ranges++;
      }
      re += `[${cls}]`;
    } else {
      re += escapeRe(ch);
      i++;
    }
  }
  return re;

  function readClassChar(): string {
    const c = pattern[i];
    if (c === undefined || c === '-' || c === ']') throw badPattern(pattern);
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) throw badPattern(pattern);
      i += 2;
      return e;
    }
    const cp = pattern.codePointAt(i)!;
    const s = String.fromCodePoint(cp);
    i += s.length;
    return s;
  }
}

export interface CompiledPattern {
  pattern: string;
  /** Whole-path match. */
  matches(path: string): boolean;
  /**
   * Whether some descendant of directory `dir` could match (used to decide
   * whether to descend). Conservative: true when unsure.
   */
  mayMatchBelow(dir: string): boolean;
}

/**
 * Compile a pattern. `doublestar` enables `**` (for --parents/--exclude);
 * without it `**` is two `*` and cannot cross `/`, as in filepath.Match.
 */
export function compilePattern(pattern: string, doublestar = false): CompiledPattern {
  const re = new RegExp(`^${translate(pattern, doublestar)}$`, 'u');
  const comps = pattern.split('/');
  const deep = doublestar && pattern.includes('**');
  const prefixes = comps.map((_, k) => new RegExp(`^${translate(comps.slice(0, k + 1).join('/'), doublestar)}$`, 'u'));
  return {
    pattern,
    matches: (p) => re.test(p),
    mayMatchBelow(dir: string): boolean {
      if (deep) return true;
      const depth = dir.split('/').length;
      if (depth >= comps.length) return false;
      return prefixes[depth - 1]!.test(dir);
    },
  };
}


/** Names within a small edit distance of `name`, closest first (at most 3). */
export function suggest(name: string, candidates: string[]): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  return candidates
    .map((c) => ({ c, d: editDistance(name.toLowerCase(), c.toLowerCase()) }))
    .filter((x) => x.d <= limit && x.c !== name)
    .sort((x, y) => x.d - y.d || (x.c < y.c ? -1 : 1))
    .slice(0, 3)
    .map((x) => x.c);
}
