/**
 * DockerIgnore behaviour a build relies on (which paths leave the context,
 * which directories a walker may prune, which ignore file applies), Go
 * filepath.Match details beyond the upstream vectors, and properties.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  cleanPath,
  DockerIgnore,
  dockerignoreCandidates,
  filepathMatch,
  Pattern,
  PatternMatcher,
  readDockerignore,
  selectDockerignoreFile,
} from '../../src/dockerfile/dockerignore/index.js';
import { StagecraftError } from '../../src/errors.js';

describe('DockerIgnore.ignored', () => {
  const ig = DockerIgnore.parse(['# deps', 'node_modules', '*.log', '!important.log', '/build/', 'docs/**/*.tmp', '**/.git', ''].join('\n'));

  const table: [string, boolean][] = [
    ['node_modules', true],
    ['node_modules/a/b.js', true],
    ['sub/node_modules', false], // no ** so only at the root
    ['app.log', true],
    ['important.log', false],
    ['logs/app.log', false], // * does not cross /
    ['build', true],
    ['build/out/x', true],
    ['/build/out', true], // a leading slash is context-relative
    ['docs/a/b/c.tmp', true],
    ['docs/c.tmp', true],
    ['docs/c.txt', false],
    ['.git', true],
    ['a/b/.git/config', true],
    ['.', false],
    ['', false],
    ['src/index.ts', false],
  ];
  for (const [path, expected] of table) {
    it(`${JSON.stringify(path)} -> ${expected}`, () => assert.equal(ig.ignored(path), expected));
  }

  it('keeps the cleaned patterns with ! restored', () => {
    assert.deepEqual(ig.patterns, ['node_modules', '*.log', '!important.log', 'build', 'docs/**/*.tmp', '**/.git']);
  });

  it('a later pattern re-ignores what an exception brought back', () => {
    const d = new DockerIgnore(['*.md', '!README.md', 'README.md']);
    assert.equal(d.ignored('README.md'), true);
  });

  it('an exception brings back exactly the file it names inside an ignored directory', () => {
    const d = new DockerIgnore(['docs', '!docs/README.md']);
    assert.equal(d.ignored('docs/README.md'), false);
    assert.equal(d.ignored('docs/other.md'), true);
    assert.equal(d.ignored('docs'), true);
  });

  it('Go regexp escapes pass through: \\d is a digit class, as in Docker', () => {
    const d = new DockerIgnore(['file\\d.txt', '[[:upper:]]*']);
    assert.equal(d.ignored('file7.txt'), true);
    assert.equal(d.ignored('filex.txt'), false);
    assert.equal(d.ignored('Makefile'), true);
    assert.equal(d.ignored('makefile'), false);
  });
});

describe('DockerIgnore.canSkipDir', () => {
  it('no exceptions: any ignored directory can be skipped', () => {
    const d = new DockerIgnore(['node_modules', 'dist']);
    assert.equal(d.canSkipDir('node_modules'), true);
    assert.equal(d.canSkipDir('dist'), true);
    assert.equal(d.canSkipDir('src'), false); // not ignored at all
  });

  it('a literal exception below the directory keeps it walkable; others are skipped', () => {
    const d = new DockerIgnore(['vendor', 'cache', '!vendor/keep/me.txt']);
    assert.equal(d.canSkipDir('vendor'), false);
    assert.equal(d.canSkipDir('vendor/keep'), false);
    assert.equal(d.canSkipDir('vendor/other'), true);
    assert.equal(d.canSkipDir('cache'), true);
  });

  it('a wildcard exception disables pruning (BuildKit fsutil rule)', () => {
    const d = new DockerIgnore(['**', '!**/*.go']);
    assert.equal(d.canSkipDir('anything'), false);
    assert.equal(d.ignored('pkg/x.go'), false);
    assert.equal(d.ignored('pkg/x.c'), true);
  });
});

describe('selectDockerignoreFile', () => {
  it('<Dockerfile>.dockerignore beside the Dockerfile wins', () => {
    const existing = ['ctx/.dockerignore', 'ctx/build/app.Dockerfile.dockerignore'];
    assert.equal(selectDockerignoreFile('ctx/build/app.Dockerfile', 'ctx', existing), 'ctx/build/app.Dockerfile.dockerignore');
  });
  it('falls back to <context>/.dockerignore', () => {
    assert.equal(selectDockerignoreFile('ctx/Dockerfile', 'ctx', ['ctx/.dockerignore']), 'ctx/.dockerignore');
    assert.equal(selectDockerignoreFile('/abs/ctx/Dockerfile', '/abs/ctx/', ['/abs/ctx/.dockerignore']), '/abs/ctx/.dockerignore');
  });
  it('none present gives undefined; a stdin Dockerfile has only the context candidate', () => {
    assert.equal(selectDockerignoreFile('ctx/Dockerfile', 'ctx', []), undefined);
    assert.deepEqual(dockerignoreCandidates('-', '.'), ['.dockerignore']);
    assert.deepEqual(dockerignoreCandidates(undefined, 'ctx'), ['ctx/.dockerignore']);
  });
});

describe('readDockerignore', () => {
  it('handles CRLF, BOM, comments only at line start, ! with spaces, ../ and ./', () => {
    const text = '\uFEFF# c\r\n  # not a comment\r\n./a/../b//c/\r\n!  /x/./y\r\n../up\r\n';
    assert.deepEqual(readDockerignore(text), ['# not a comment', 'b/c', '!x/y', '../up']);
  });
});

describe('errors', () => {
  it('a bad pattern is a one-line DOCKERIGNORE error naming the pattern', () => {
    assert.throws(
      () => new DockerIgnore(['ok', 'a[']),
      (e: unknown) => e instanceof StagecraftError && e.code === 'DOCKERIGNORE' && e.message.includes('"a["') && !e.message.includes('\n'),
    );
    assert.throws(() => new DockerIgnore(['!']), (e: unknown) => e instanceof StagecraftError && e.code === 'DOCKERIGNORE');
  });
});

describe('filepathMatch (Go filepath.Match)', () => {
  const table: [string, string, boolean][] = [
    ['a*', 'ab/c', false],
    ['a*/b', 'a/c/b', false],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['*', '', true],
    ['', '', true],
    ['', 'a', false],
    ['[a-c]x', 'bx', true],
    ['[^a-c]x', 'bx', false],
    ['\\[x\\]', '[x]', true],
    ['a☺*', 'a☺☺', true],
  ];
  for (const [p, n, want] of table) {
    it(`Match(${JSON.stringify(p)}, ${JSON.stringify(n)}) = ${want}`, () => assert.equal(filepathMatch(p, n), want));
  }
});

describe('properties', () => {
  const seg = fc.stringMatching(/^[a-z0-9_.-]{1,8}$/).filter((s) => s !== '.' && s !== '..');
  const relPath = fc.array(seg, { minLength: 1, maxLength: 4 }).map((a) => a.join('/'));

  it('a literal path pattern matches itself and everything below it', () => {
    fc.assert(
      fc.property(relPath, seg, (p, child) => {
        const d = new DockerIgnore([p]);
        assert.equal(d.ignored(p), true);
        assert.equal(d.ignored(`${p}/${child}`), true);
      }),
    );
  });

  it('!p after p un-ignores p', () => {
    fc.assert(
      fc.property(relPath, (p) => {
        assert.equal(new DockerIgnore([p, '!' + p]).ignored(p), false);
      }),
    );
  });

  it('paths are compared after cleaning', () => {
    fc.assert(
      fc.property(relPath, (p) => {
        const d = new DockerIgnore([p]);
        assert.equal(d.ignored(`./${p}/`), true);
        assert.equal(d.ignored(`/${p}`), true);
      }),
    );
  });

  it('without ** the compiled pattern agrees with Go filepath.Match', () => {
    const patSeg = fc.stringMatching(/^[ab*?]{1,4}$/).filter((s) => !s.includes('**'));
    const nameSeg = fc.stringMatching(/^[ab]{0,4}$/);
    fc.assert(
      fc.property(fc.array(patSeg, { minLength: 1, maxLength: 3 }), fc.array(nameSeg, { minLength: 1, maxLength: 3 }), (ps, ns) => {
        const pattern = ps.join('/');
        const name = ns.join('/');
        assert.equal(new Pattern(pattern, false).match(name), filepathMatch(pattern, name), `${pattern} vs ${name}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('filepathMatch agrees with a plain regexp for patterns without classes or escapes', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[ab/*?]{0,8}$/), fc.stringMatching(/^[ab/]{0,8}$/), (pattern, name) => {
        const re = new RegExp('^' + pattern.replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
        assert.equal(filepathMatch(pattern, name), re.test(name), `${pattern} vs ${name}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('cleanPath is idempotent and never leaves //, /./ or a trailing /', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a./]{0,12}$/), (p) => {
        const c = cleanPath(p);
        assert.equal(cleanPath(c), c);
        assert.ok(!c.includes('//') && !c.includes('/./') && (c === '/' || !c.endsWith('/')), c);
      }),
    );
  });

  it('PatternMatcher never throws anything but a StagecraftError', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[!a*?[\]\\^/-]{0,6}$/), { maxLength: 4 }), relPath, (patterns, path) => {
        try {
          new PatternMatcher(patterns).matchesOrParentMatches(path);
        } catch (e) {
          assert.ok(e instanceof StagecraftError && e.code === 'DOCKERIGNORE', String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
