/**
 * moby/patternmatcher's own test vectors (patternmatcher_test.go and
 * ignorefile_test.go, transcribed to JSON), run against our implementation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { conformancePath, corpusMissing } from '../support/conformance.js';
import {
  BadPatternError,
  compilePattern,
  filepathMatch,
  matchesOrParentMatches,
  PatternMatcher,
  readDockerignore,
} from '../../src/dockerfile/dockerignore/index.js';
import { StagecraftError } from '../../src/errors.js';

const REL = ['patternmatcher', 'patternmatcher_cases.json'] as const;
const missing = corpusMissing(...REL);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const data: any = missing ? undefined : JSON.parse(readFileSync(conformancePath(...REL), 'utf8'));

/** Runs one table: each case returns '' on success or a failure description. */
function runTable<T>(name: string, cases: T[], expectedCount: number, check: (c: T) => string): void {
  const failures: string[] = [];
  cases.forEach((c, i) => {
    let msg: string;
    try {
      msg = check(c);
    } catch (e) {
      msg = `threw ${String(e)}`;
    }
    if (msg !== '') failures.push(`${name}[${i}] ${JSON.stringify(c)}: ${msg}`);
  });
  console.log(`patternmatcher ${name}: ${cases.length - failures.length}/${cases.length} passed`);
  assert.deepEqual(failures, []);
  assert.equal(cases.length, expectedCount);
}

function errorKind(fn: () => unknown): 'none' | 'bad' | 'other' {
  try {
    fn();
    return 'none';
  } catch (e) {
    if (e instanceof BadPatternError) return 'bad';
    if (e instanceof StagecraftError && e.code === 'DOCKERIGNORE') return e.cause instanceof BadPatternError ? 'bad' : 'other';
    throw e;
  }
}

describe('patternmatcher_cases.json', { skip: missing }, () => {
  it('matches: one pattern, MatchesOrParentMatches', () => {
    runTable('matches', data.matches, 67, (c: { pattern: string; text: string; pass: boolean }) => {
      const got = new PatternMatcher([c.pattern]).matchesOrParentMatches(c.text);
      return got === c.pass ? '' : `got ${got}`;
    });
  });

  it('multiPatternMatches: last match wins, ! negates', () => {
    runTable('multiPatternMatches', data.multiPatternMatches, 4, (c: { patterns: string[]; text: string; pass: boolean }) => {
      const got = new PatternMatcher(c.patterns).matchesOrParentMatches(c.text);
      return got === c.pass ? '' : `got ${got}`;
    });
  });

  it('matchesUnixOnly: backslash escapes', () => {
    runTable('matchesUnixOnly', data.matchesUnixOnly, 1, (c: { pattern: string; text: string; pass: boolean }) => {
      const got = new PatternMatcher([c.pattern]).matchesOrParentMatches(c.text);
      return got === c.pass ? '' : `got ${got}`;
    });
  });

  it('filepathMatch: Go Match vectors, run as upstream runs them (MatchesOrParentMatches, one pattern)', () => {
    // patternmatcher's TestMatch feeds Go's filepath.Match table through
    // MatchesOrParentMatches, so "a*" matches "ab/c" via its parent "ab".
    runTable('filepathMatch', data.filepathMatch, 54, (c: { pattern: string; text: string; match: boolean; error: string | null }) => {
      let got = false;
      const kind = errorKind(() => {
        got = matchesOrParentMatches(c.text, [c.pattern]);
      });
      if (c.error === 'ErrBadPattern') {
        if (kind !== 'bad') return `expected ErrBadPattern, got ${kind}/${got}`;
        // and filepath.Match itself rejects the pattern whatever the name
        return errorKind(() => filepathMatch(c.pattern, c.text)) === 'bad' ? '' : 'filepathMatch accepted a bad pattern';
      }
      if (kind !== 'none') return `unexpected error`;
      if (got !== c.match) return `got ${got}`;
      // without a '/' in the name there is no parent to match, so plain Match agrees
      if (!c.text.includes('/') && filepathMatch(c.pattern, c.text) !== c.match) return 'filepathMatch disagrees';
      return '';
    });
  });

  it('compile: match type and regexp (Unix separator)', () => {
    runTable('compile', data.compile, 21, (c: { pattern: string; matchType: string; regexp: string | null }) => {
      const got = compilePattern(c.pattern);
      if (got.matchType !== c.matchType) return `type ${got.matchType}`;
      if ((got.regexpSource ?? null) !== c.regexp) return `regexp ${got.regexpSource}`;
      return '';
    });
  });

  it('misc_Matches: package-level MatchesOrParentMatches, errors', () => {
    type Misc = { patterns: string[]; text: string; pass?: boolean; error?: boolean | string; newOk?: boolean };
    runTable('misc_Matches', data.misc_Matches, 12, (c: Misc) => {
      if (c.newOk) {
        const pm = new PatternMatcher(c.patterns);
        // the compile error surfaces on the first and on every later call
        for (let k = 0; k < 2; k++) {
          const kind = errorKind(() => pm.matchesOrParentMatches(c.text));
          if (kind !== 'bad') return `call ${k + 1}: expected ErrBadPattern, got ${kind}`;
        }
        return '';
      }
      let got = false;
      const kind = errorKind(() => {
        got = matchesOrParentMatches(c.text, c.patterns);
      });
      if (c.error) return kind !== 'none' ? '' : `expected an error, got ${got}`;
      if (kind !== 'none') return 'unexpected error';
      return got === c.pass ? '' : `got ${got}`;
    });
  });

  it('new_cleanPatterns: New drops blanks, trims, detects exclusions', () => {
    type NewCase = { patterns: string[]; cleanedCount?: number; exclusions?: boolean; error?: boolean };
    runTable('new_cleanPatterns', data.new_cleanPatterns, 6, (c: NewCase) => {
      let pm: PatternMatcher | undefined;
      const kind = errorKind(() => {
        pm = new PatternMatcher(c.patterns);
      });
      if (c.error) return kind === 'other' ? '' : `expected an error, got ${kind}`;
      if (!pm) return 'no matcher';
      if (c.cleanedCount !== undefined && pm.patterns.length !== c.cleanedCount) return `count ${pm.patterns.length}`;
      if (c.exclusions !== undefined && pm.exclusions !== c.exclusions) return `exclusions ${pm.exclusions}`;
      return '';
    });
  });

  it('ignorefile_ReadAll: .dockerignore line normalisation', () => {
    runTable('ignorefile_ReadAll', data.ignorefile_ReadAll, 2, (c: { input: string | null; expected: string[] }) => {
      const got = readDockerignore(c.input);
      return JSON.stringify(got) === JSON.stringify(c.expected) ? '' : `got ${JSON.stringify(got)}`;
    });
  });
});
