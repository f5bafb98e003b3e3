/** Table-driven checks of parser behaviour the corpora do not pin down. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  dump,
  goQuote,
  keywordAsWritten,
  parse,
  parseCheckDirective,
  parseJSON,
  print,
} from '../../src/dockerfile/parser/index.js';
import { StagecraftError } from '../../src/errors.js';

const dumpOf = (text: string | Uint8Array) => dump(parse(text).ast);
const parseError = (text: string) => {
  try {
    parse(text, { file: 'Dockerfile' });
  } catch (e) {
    assert.ok(e instanceof StagecraftError && e.code === 'PARSE', String(e));
    return e;
  }
  assert.fail(`expected a parse error for ${JSON.stringify(text)}`);
};

describe('directives', () => {
  const cases: { name: string; text: string; escape: '\\' | '`'; directives: Record<string, string> }[] = [
    { name: 'syntax and escape at the top', text: '# syntax=x\n# escape=`\nFROM a\n', escape: '`', directives: { syntax: 'x', escape: '`' } },
    { name: 'key is case-insensitive', text: '# ESCAPE = `\nFROM a\n', escape: '`', directives: { escape: '`' } },
    { name: 'check directive', text: '#check=skip=all;error=true\nFROM a\n', escape: '\\', directives: { check: 'skip=all;error=true' } },
    { name: 'a blank line ends the block', text: '\n# escape=`\nFROM a\n', escape: '\\', directives: {} },
    { name: 'a comment ends the block', text: '# hello\n# escape=`\nFROM a\n', escape: '\\', directives: {} },
    { name: 'an unknown directive ends the block', text: '# foo=bar\n# escape=`\nFROM a\n', escape: '\\', directives: {} },
    { name: 'a shebang ends the block in the parser', text: '#!/bin/sh\n# escape=`\nFROM a\n', escape: '\\', directives: {} },
    { name: 'after an instruction it is a comment', text: 'FROM a\n# syntax=x\nRUN b\n', escape: '\\', directives: {} },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parse(c.text);
      assert.equal(r.escapeToken, c.escape);
      assert.deepEqual(r.directives, c.directives);
    });
  }

  it('directive lines are not comments of the first instruction; later ones are', () => {
    assert.deepEqual(parse('# syntax=x\n# doc\nFROM a\n').ast.children[0]!.prevComment, ['doc']);
    assert.deepEqual(parse('FROM a\n# syntax=x\nRUN b\n').ast.children[1]!.prevComment, ['syntax=x']);
  });

  it('rejects a repeated directive and a bad escape token, with the line', () => {
    const e1 = parseError('# escape=`\n# escape=`\nFROM a\n');
    assert.equal(e1.message, 'only one escape parser directive can be used');
    assert.equal(e1.location?.startLine, 2);
    const e2 = parseError('# escape=x\nFROM a\n');
    assert.equal(e2.message, "invalid escape token 'x' does not match ` or \\");
    assert.equal(e2.where(), 'Dockerfile:1');
  });
});

describe('parseCheckDirective', () => {
  const ok: [string, ReturnType<typeof parseCheckDirective>][] = [
    ['', { skip: [], error: false, experimental: [] }],
    ['skip=all', { skip: 'all', error: false, experimental: [] }],
    ['skip=JSONArgsRecommended, StageNameCasing ;error=true', { skip: ['JSONArgsRecommended', 'StageNameCasing'], error: true, experimental: [] }],
    ['error=1;experimental=all', { skip: [], error: true, experimental: 'all' }],
    ['experimental=InvalidDefinitionDescription', { skip: [], error: false, experimental: ['InvalidDefinitionDescription'] }],
    ['error=False', { skip: [], error: false, experimental: [] }],
  ];
  for (const [input, want] of ok) it(`parses ${JSON.stringify(input)}`, () => assert.deepEqual(parseCheckDirective(input), want));
  const bad: [string, string][] = [
    ['foo=bar', 'invalid check option "foo"'],
    ['skip', 'invalid check option "skip"'],
    ['error=maybe', 'failed to parse check option "error=maybe": strconv.ParseBool: parsing "maybe": invalid syntax'],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () =>
      assert.throws(() => parseCheckDirective(input), (e) => e instanceof StagecraftError && e.message === message));
  }
});

describe('comments, continuations, line endings', () => {
  it('collects comments above an instruction; a bare # resets, blank lines do not', () => {
    const { ast } = parse('FROM a\n# a\n#\n# b\n\n  # c\nRUN x \\\n# inside\n  y\n');
    assert.deepEqual(ast.children[1]!.prevComment, ['b', '# c']); // Go drops the first byte, not the `#`
    assert.equal(ast.children[1]!.next!.value, 'x   y');
  });

  it('handles CRLF and a BOM in bytes', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('FROM a\r\nRUN b \\\r\n  c\r\n')]);
    assert.equal(dumpOf(bytes), '(from "a")\n(run "b   c")');
  });

  it('warns about an empty continuation line at the instruction end', () => {
    const { warnings } = parse('FROM a\nRUN x \\\n\n  y\n');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.short, 'Empty continuation line found in: RUN x   y');
    assert.deepEqual(warnings[0]!.location, { startLine: 4, endLine: 4 });
    assert.equal(warnings[0]!.url, 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/');
  });

  it('reports file, lines and message for an instruction error', () => {
    const e = parseError('FROM a\nENV PATH\n');
    assert.equal(e.message, 'ENV must have two arguments');
    assert.deepEqual(e.location, { file: 'Dockerfile', startLine: 2, endLine: 2 });
    assert.equal(parseError('# only\n\n').message, 'file with no instructions');
    assert.equal(parseError('').message, 'file with no instructions');
  });
});

describe('instruction arguments', () => {
  const dumps: [string, string][] = [
    ['RUN --mount=type=cache,target=/root/.cache pip install x', '(run ["--mount=type=cache,target=/root/.cache"] "pip install x")'],
    ['COPY --chown="a b" x y', '(copy ["--chown=a b"] "x" "y")'],
    // Flags are read byte by byte: non-ASCII comes out as Latin-1 of its UTF-8 bytes.
    ['COPY --chown=é x y', '(copy ["--chown=Ã©"] "x" "y")'],
    ['HEALTHCHECK NONE', '(healthcheck "NONE")'],
    ['HEALTHCHECK --interval=5s CMD ["a", "b"]', '(healthcheck ["--interval=5s"] "CMD" "a" "b")'],
    ['FOO bar baz', '(foo "")'],
    ['ONBUILD', '(onbuild)'],
    ['ONBUILD ONBUILD RUN --x=1 a', '(onbuild (onbuild (run ["--x=1"] "a")))'],
    ['ARG a b=c "d e"=f', '(arg "a" "b=c" "\\"d e\\"=f")'],
    ['ENV a=b\\ c d="e f"', '(env "a" "b\\\\ c" "=" "d" "\\"e f\\"" "=")'],
    ['LABEL a  b c', '(label "a" "b c" "")'],
    ['EXPOSE 80\t443', '(expose "80" "443")'],
    ['VOLUME ["/a", "/b"]', '(volume "/a" "/b")'],
    ['CMD ["a"] trailing', '(cmd "[\\"a\\"] trailing")'],
    ['CMD [1e400]', '(cmd "[1e400]")'],
    ['CMD ["\\ud800x", "\\u00e9"]', '(cmd "\ufffdx" "é")'],
    ['SHELL ["/bin/sh", "-c"]', '(shell "/bin/sh" "-c")'],
  ];
  for (const [line, want] of dumps) it(line, () => assert.equal(dumpOf(line), want));

  it('the escape directive applies to flags', () => {
    assert.equal(dumpOf('# escape=`\nRUN --mount=source=C:\\src,x=`` a'), '(run ["--mount=source=C:\\\\src,x=`"] "a")');
  });

  it('JSON form: strings only; anything else that is valid JSON is an error', () => {
    assert.deepEqual(parseJSON(' ["a", "b"] '), { ok: true, values: ['a', 'b'] });
    assert.deepEqual(parseJSON('[]'), { ok: true, values: [] });
    assert.deepEqual(parseJSON("['a']"), { ok: false });
    assert.throws(() => parse('CMD [ "a", [ "b" ] ]'), /arrays must be comprised of strings only/);
  });

  it('ONBUILD sub-instructions share their parent lines; keywordAsWritten keeps casing', () => {
    const { ast } = parse('From a\n\nonbuild Run x\n');
    assert.equal(keywordAsWritten(ast.children[0]!), 'From');
    const child = ast.children[1]!.next!.children[0]!;
    assert.deepEqual([child.startLine, child.endLine], [3, 3]);
    assert.equal(child.value, 'run');
    assert.equal(keywordAsWritten(child), 'Run');
  });
});

describe('goQuote (Go strconv.Quote)', () => {
  const cases: [string, string][] = [
    ['', '""'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\n\t\r\x00\x07\x7f', '"\\n\\t\\r\\x00\\a\\x7f"'],
    ['♥ é 😀', '"♥ é 😀"'],
    ['\u00a0\u200b\u2028', '"\\u00a0\\u200b\\u2028"'],
    ['\u{10ffff}', '"\\U0010ffff"'],
  ];
  for (const [input, want] of cases) it(JSON.stringify(input), () => assert.equal(goQuote(input), want));
});

describe('print', () => {
  it('writes a readable Dockerfile that parses back identically', () => {
    const text = '# syntax=docker/dockerfile:1\nFROM alpine AS build\n# build it\nRUN --mount=type=cache,target=/c <<EOF\nmake\nEOF\nCOPY --from=build ["/out", "/app"]\nENV A=1 B="two words"\nONBUILD RUN echo hi\n';
    const r = parse(text);
    const printed = print(r.ast, r.escapeToken, { syntax: r.directives.syntax });
    assert.equal(
      printed,
      '# syntax=docker/dockerfile:1\n\nFROM alpine AS build\n# build it\nRUN --mount=type=cache,target=/c <<EOF\nmake\nEOF\nCOPY --from=build ["/out", "/app"]\nENV A=1 B="two words"\nONBUILD RUN echo hi\n',
    );
    assert.equal(dump(parse(printed).ast), dump(r.ast));
  });

  it('keeps the backtick escape', () => {
    const r = parse('# escape=`\nFROM a\nRUN --x="a``b" c\n');
    const printed = print(r.ast, r.escapeToken);
    const back = parse(printed);
    assert.equal(back.escapeToken, '`');
    assert.equal(dump(back.ast), dump(r.ast));
  });

  // An instruction whose keyword is the escape token, with nothing after it,
  // only parses from a last line whose continuation runs into the end of the
  // file (found by the round-trip property, seed 420895072).
  const escapeKeyword: Array<[string, string]> = [
    ['\\ \\', '\\ \\\n'],
    ['FROM a\n\\ \\\n', 'FROM a\n\\ \\\n'],
    ['# escape=`\n` `', '# escape=`\n\n` `\n'],
  ];
  for (const [text, want] of escapeKeyword) {
    it(`writes a keyword-only escape-token instruction: ${JSON.stringify(text)}`, () => {
      const r = parse(text);
      const printed = print(r.ast, r.escapeToken);
      assert.equal(printed, want);
      assert.equal(dump(parse(printed).ast), dump(r.ast));
    });
  }
});
