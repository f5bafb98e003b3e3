/**
 * Options and edge cases the upstream tables do not cover: the backtick escape
 * token, RawQuotes, SkipUnsetEnv, SkipProcessQuotes, Go replace-all semantics,
 * and the error type. Expected values follow BuildKit's lexer rules.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExpansionError, ShellLex, type Env } from '../../src/dockerfile/shell/index.js';
import { StagecraftError } from '../../src/errors.js';

const env: Env = { A: 'a', EMPTY: '', SP: 'x  y', PATH: '/usr/bin:/bin' };

describe('ShellLex options', () => {
  const table: [string, ShellLex, string, string | string[]][] = [
    ['backtick escapes a quote', new ShellLex({ escapeToken: '`' }), 'it`"s', 'it"s'],
    ['backtick leaves backslash alone', new ShellLex({ escapeToken: '`' }), 'C:\\dir\\$A', 'C:\\dir\\a'],
    ['backtick escapes $', new ShellLex({ escapeToken: '`' }), '`$A', '$A'],
    ['backtick inside double quotes', new ShellLex({ escapeToken: '`' }), '"x`"y"', 'x"y'],
    ['rawQuotes keeps quotes', new ShellLex({ rawQuotes: true }), `'$A' "$A"`, `'$A' "a"`],
    ['rawEscapes keeps escapes', new ShellLex({ rawEscapes: true }), 'a\\ b\\$A', 'a\\ b\\$A'],
    ['skipUnsetEnv keeps $X', new ShellLex({ skipUnsetEnv: true }), '$A-$NOPE', 'a-$NOPE'],
    ['skipUnsetEnv keeps ${X}', new ShellLex({ skipUnsetEnv: true }), '${NOPE}', '${NOPE}'],
    ['skipUnsetEnv keeps ${X:-w}', new ShellLex({ skipUnsetEnv: true }), '${NOPE:-$A}', '${NOPE:-a}'],
    ['skipUnsetEnv keeps ${X:?w} without failing', new ShellLex({ skipUnsetEnv: true }), '${NOPE:?bad}', '${NOPE:?bad}'],
    ['skipUnsetEnv keeps ${X/p/r}', new ShellLex({ skipUnsetEnv: true }), '${NOPE//a/b}', '${NOPE/a/b}'],
    ['skipUnsetEnv still expands set values', new ShellLex({ skipUnsetEnv: true }), '${A:+set}', 'set'],
    ['skipProcessQuotes keeps quotes as text', new ShellLex({ skipProcessQuotes: true }), `'$A'`, `'a'`],
    ['unterminated quote is fine with skipProcessQuotes', new ShellLex({ skipProcessQuotes: true }), `"$A`, `"a`],
    ['replace all, Go empty-match rule', new ShellLex(), '${A//x/-}', 'a'],
    ['replace first', new ShellLex(), '${PATH/:/;}', '/usr/bin;/bin'],
    ['replace all', new ShellLex(), '${PATH//\\//|}', '|usr|bin:|bin'],
    ['replace all: $0 in the template is the match (Go Expand)', new ShellLex(), '${PATH//bin/<\\$0>}', '/usr/<\\bin>:/<\\bin>'],
    ['suffix trim, shortest', new ShellLex(), '${PATH%:*}', '/usr/bin'],
    ['suffix trim, longest', new ShellLex(), '${PATH%%/*}', ''],
    ['prefix trim of pattern with escaped star', new ShellLex(), '${PATH#*/}', 'usr/bin:/bin'],
    ['unicode name', new ShellLex(), '$이름x', ''],
  ];
  for (const [name, lex, input, expected] of table) {
    it(name, () => {
      assert.equal(lex.processWord(input, env), expected);
    });
  }

  it('accepts every Env shape, and an EnvLookup as is', () => {
    const lex = new ShellLex();
    const shapes: Env[] = [
      ['A=1', 'A=2'],
      [['A', '1'], ['A', '2']],
      new Map([['A', '2']]),
      { A: '2' },
      { get: (n: string) => (n === 'A' ? '2' : undefined), keys: () => ['A'] },
    ];
    for (const e of shapes) {
      const r = lex.processWordWithMatches('$A-$B', e);
      assert.equal(r.result, '2-');
      assert.deepEqual([...r.matched], ['A']);
      assert.deepEqual([...r.unmatched], ['B']);
    }
  });

  it('processWords: quoted spaces survive, expanded spaces split', () => {
    const lex = new ShellLex();
    assert.deepEqual(lex.processWords('$SP "$SP" a\\ b', env), ['x', 'y', 'x  y', 'a b']);
    assert.deepEqual(lex.processWords('""', env), []);
    assert.deepEqual(lex.processWords('  ', env), []);
  });

  it('errors are ExpansionError (StagecraftError EXPANSION) naming the word', () => {
    const lex = new ShellLex();
    const err = (() => {
      try {
        lex.processWord('${FOO:?custom error}', env);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ExpansionError);
    assert.ok(err instanceof StagecraftError);
    assert.equal(err.code, 'EXPANSION');
    assert.equal(err.message, 'failed to process "${FOO:?custom error}": FOO: custom error');
    assert.deepEqual([...err.unmatched], ['FOO']);
  });

  it('default messages for ? forms', () => {
    const lex = new ShellLex();
    assert.throws(() => lex.processWord('${X?}', env), /X: is not allowed to be unset/);
    assert.throws(() => lex.processWord('${EMPTY:?}', env), /EMPTY: is not allowed to be empty/);
    assert.throws(() => lex.processWord('${A//\\x/y}', env), /invalid pattern \(\\x\) in substitution: invalid escape/);
    assert.throws(() => lex.processWord('${A/x}', env), /missing '\/' in \$\{\}/);
  });
});

describe('ShellLex properties', () => {
  const lex = new ShellLex();
  const nameArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);

  it('never throws anything but a StagecraftError EXPANSION', () => {
    const alphabet = fc.constantFrom('$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', '`', "'", '"', ' ', 'A', 'a', '*', '0', '@', '한');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 24 }).map((a) => a.join('')), fc.boolean(), fc.boolean(), (word, raw, skip) => {
        for (const l of [lex, new ShellLex({ escapeToken: '`', rawQuotes: raw, skipUnsetEnv: skip })]) {
          try {
            const r = l.processWordWithMatches(word, env);
            assert.equal(typeof r.result, 'string');
          } catch (e) {
            assert.ok(e instanceof StagecraftError && e.code === 'EXPANSION', String(e));
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a word without $, quotes or escapes is returned unchanged', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }).filter((s) => !/[$'"\\]/.test(s) && !s.startsWith('\uFEFF')), (word) => {
        assert.equal(lex.processWord(word, env), word);
      }),
    );
  });

  it('${V:-x} is V when V is non-empty, x otherwise', () => {
    const safe = fc.string({ maxLength: 12 }).filter((s) => !/[$'"\\}]/.test(s));
    fc.assert(
      fc.property(nameArb, fc.string({ maxLength: 12 }), safe, (name, value, fallback) => {
        const got = lex.processWord('${' + name + ':-' + fallback + '}', [[name, value]]);
        assert.equal(got, value !== '' ? value : fallback);
      }),
    );
  });

  it('single-quoted text is literal', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }).filter((s) => !s.includes("'")), (s) => {
        assert.equal(lex.processWord(`'${s}'`, env), s);
      }),
    );
  });

  it('processWords of plain text is a split on Go whitespace', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', ' ', '\t', '\n', '\u3000', 'é'), { maxLength: 20 }).map((a) => a.join('')), (word) => {
        const expected = word.split(/[ \t\n\u3000]+/).filter((w) => w !== '');
        assert.deepEqual(lex.processWords(word, env), expected);
      }),
    );
  });

  it('the last duplicate key wins and is reported as matched', () => {
    fc.assert(
      fc.property(nameArb, fc.array(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 5 }), (name, values) => {
        const pairs = values.map((v) => `${name}=${v}`);
        const r = lex.processWordWithMatches('$' + name, pairs);
        assert.equal(r.result, values[values.length - 1]);
        assert.deepEqual([...r.matched], [name]);
        assert.deepEqual([...r.unmatched], []);
      }),
    );
  });
});
