import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { filepathMatch } from '../src/dockerfile/dockerignore/index.js';
import { compilePattern, editDistance, hasWildcard, suggest } from '../src/fs/copy-glob.js';

describe('hasWildcard', () => {
  const table: Array<[string, boolean]> = [['a.txt', false], ['*.go', true], ['index.?s', true], ['arr[[]0].txt', true], ['a\\*b', false], ['a\\\\*', true], ['', false]];
  for (const [s, want] of table) it(JSON.stringify(s), () => assert.equal(hasWildcard(s), want));
});

describe('compilePattern with ** (COPY --parents)', () => {
  const table: Array<[string, string, boolean]> = [
    ['src/**/*.txt', 'src/a.txt', true],
    ['src/**/*.txt', 'src/x/b.txt', true],
    ['src/**/*.txt', 'src/x/y/c.txt', true],
    ['src/**/*.txt', 'src/x/y/d.md', false],
    ['src/**/*.txt', 'other/a.txt', false],
    ['**', 'any/thing', true],
    ['**/a', 'a', true],
    ['**/a', 'x/y/a', true],
    ['x/*.txt', 'x/y/a.txt', false],
    ['y/*.txt', 'y/a.txt', true],
  ];
  for (const [p, s, want] of table) it(`${p} ~ ${s}`, () => assert.equal(compilePattern(p, true).matches(s), want));

  it('mayMatchBelow prunes directories that cannot lead to a match', () => {
    const c = compilePattern('a/*/c', false);
    assert.equal(c.mayMatchBelow('a'), true);
    assert.equal(c.mayMatchBelow('b'), false);
    assert.equal(c.mayMatchBelow('a/x'), true);
    assert.equal(c.mayMatchBelow('a/x/c'), false);
    assert.equal(compilePattern('src/**/*.txt', true).mayMatchBelow('anything/deep'), true);
  });

  it('property: without **, the translation agrees with Go filepath.Match', () => {
    const ch = fc.constantFrom('a', 'b', '/', '.', '*', '?', 'x');
    let runs = 0;
    fc.assert(
      fc.property(fc.array(ch, { maxLength: 6 }).map((a) => a.join('')), fc.array(fc.constantFrom('a', 'b', '/', '.', 'x'), { maxLength: 6 }).map((a) => a.join('')), (pat, name) => {
        if (pat.includes('**')) return;
        runs++;
        assert.equal(compilePattern(pat, false).matches(name), filepathMatch(pat, name), `${pat} ~ ${name}`);
      }),
      { numRuns: 1000 },
    );
    console.log(`glob translation vs filepathMatch: ${runs}/${runs} agreed`);
  });
});

describe('suggestions', () => {
  it('edit distance', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('same', 'same'), 0);
  });
  it('near names, closest first, none when far', () => {
    assert.deepEqual(suggest('pakage.json', ['package.json', 'README.md', 'package-lock.json']), ['package.json']);
    assert.deepEqual(suggest('src', ['scr', 'srcs', 'lib']), ['srcs', 'scr']);
    assert.deepEqual(suggest('Dockerfile', ['main.go']), []);
  });
});
