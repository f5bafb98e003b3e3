/**
 * The Go RE2 -> JavaScript translation behind regexp-type .dockerignore
 * patterns: Go's syntax rules, its ASCII-only Perl and POSIX classes, and the
 * inputs Go rejects.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileGoRegexp, GoRegexpError } from '../../src/dockerfile/dockerignore/go-regexp.js';

describe('compileGoRegexp', () => {
  const matches: [string, string, boolean][] = [
    ['^[[:alpha:]]+$', 'abc', true],
    ['^[[:alpha:]]+$', 'ab1', false],
    ['^[^[:digit:]]$', 'a', true],
    ['^[^[:digit:]]$', '1', false],
    ['^[[:^digit:]x]$', '5', false],
    ['^\\d\\s\\w$', '1 _', true],
    ['^\\s$', '\u00a0', false], // Go \s is ASCII only
    ['^\\w$', 'é', false], // Go \w is ASCII only
    ['^\\x41\\x{42}\\101$', 'ABA', true],
    ['^\\Qa.b\\E$', 'a.b', true],
    ['^\\Qa.b\\E$', 'axb', false],
    ['^[]a]$', ']', true],
    ['^a{2}$', 'aa', true],
    ['^a{,2}$', 'a{,2}', true],
    ['^.$', '\n', false],
    ['^[^/]$', '\n', true],
    ['^.$', '☺', true],
    ['^[a-ζ]$', 'α', true],
    ['^\\pL\\p{Greek}$', 'xα', true],
    ['^a*?b$', 'aab', true],
    ['^(.*/)?x$', 'a/b/x', true],
    ['^[a-c-e]$', '-', true], // Perl mode: '-' is fine anywhere
    ['^\\-\\]\\!$', '-]!', true],
  ];
  for (const [src, input, want] of matches) {
    it(`${src} on ${JSON.stringify(input)} -> ${want}`, () => assert.equal(compileGoRegexp(src).test(input), want));
  }

  const invalid = ['a**', '*a', '[z-a]', '\\q', '(a', 'a)', '\\8', '[a', '\\1', 'a\\', '\\x4', '\\x{110000}', '[[:nope:]]', 'a+*'];
  for (const src of invalid) {
    it(`rejects ${src}`, () => assert.throws(() => compileGoRegexp(src), GoRegexpError));
  }
});
