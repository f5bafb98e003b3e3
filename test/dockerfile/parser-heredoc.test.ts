/** derived/parser/heredoc_cases.json: heredoc extraction, ParseHeredoc, heredocsFromLine, chomp. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { conformancePath, corpusMissing } from '../support/conformance.js';
import { chompHeredocContent, heredocsFromLine, parse, parseHeredoc } from '../../src/dockerfile/parser/index.js';
import { StagecraftError } from '../../src/errors.js';

const corpus = ['buildkit', 'derived', 'parser', 'heredoc_cases.json'];

interface HeredocCase {
  name: string;
  content: string;
  expand: boolean;
  chomp: boolean;
  fileDescriptor: number;
}
interface Cases {
  extractHeredocs: { dockerfile: string; expected: (HeredocCase[] | null)[] };
  jsonFormNoHeredoc: { dockerfile: string };
  chomp: { input: string; expected: string }[];
  parseHeredoc: { validNameEOF: string[]; invalidError: string[]; notHeredoc: string[] };
  heredocsFromLine: { line: string; names: string[] | null }[];
}

const skip = corpusMissing(...corpus);
const cases = skip ? undefined : (JSON.parse(readFileSync(conformancePath(...corpus), 'utf8')) as Cases);

describe('heredoc_cases.json', { skip }, () => {
  it('extractHeredocs: expected heredocs per AST child', () => {
    const c = cases!.extractHeredocs;
    const { ast } = parse(c.dockerfile);
    assert.equal(ast.children.length, c.expected.length + 1, 'child count');
    let passed = 0;
    c.expected.forEach((want, i) => {
      const got = ast.children[i + 1]!.heredocs;
      assert.deepEqual(
        got.map((h) => ({ ...h })),
        want ?? [],
        `child ${i + 1}: ${ast.children[i + 1]!.original}`,
      );
      passed++;
    });
    console.log(`heredoc extractHeredocs: ${passed}/${c.expected.length} passed`);
  });

  it('jsonFormNoHeredoc: JSON-form RUN never has heredocs', () => {
    const { ast } = parse(cases!.jsonFormNoHeredoc.dockerfile);
    assert.equal(ast.children.length, 4);
    for (const child of ast.children.slice(1)) {
      assert.equal(child.attributes.json, true);
      assert.deepEqual(child.heredocs, []);
    }
    console.log('heredoc jsonFormNoHeredoc: 3/3 passed');
  });

  it('chomp', () => {
    for (const c of cases!.chomp) assert.equal(chompHeredocContent(c.input), c.expected);
    console.log(`heredoc chomp: ${cases!.chomp.length}/${cases!.chomp.length} passed`);
  });

  it('parseHeredoc: valid, invalid and not-a-heredoc words', () => {
    const p = cases!.parseHeredoc;
    for (const src of p.validNameEOF) {
      const h = parseHeredoc(src);
      assert.ok(h, src);
      assert.equal(h.name, 'EOF', src);
      assert.equal(h.chomp, src.startsWith('<<-'), src);
      assert.equal(h.expand, !/['"]/.test(src), src);
    }
    for (const src of p.invalidError) {
      assert.throws(() => parseHeredoc(src), (e) => e instanceof StagecraftError && e.code === 'PARSE', src);
    }
    for (const src of p.notHeredoc) assert.equal(parseHeredoc(src), undefined, src);
    const n = p.validNameEOF.length + p.invalidError.length + p.notHeredoc.length;
    console.log(`heredoc parseHeredoc: ${n}/${n} passed`);
  });

  it('heredocsFromLine', () => {
    for (const c of cases!.heredocsFromLine) {
      assert.deepEqual(
        heredocsFromLine(c.line).map((h) => h.name),
        c.names ?? [],
        c.line,
      );
    }
    const n = cases!.heredocsFromLine.length;
    console.log(`heredoc heredocsFromLine: ${n}/${n} passed`);
  });
});

describe('heredoc behaviour beyond the corpus', () => {
  it('reads bodies in order, counts their lines, keeps CRLF and comment-looking lines', () => {
    const { ast } = parse('FROM a\r\nRUN <<A cat - <<B\r\n# not a comment\r\nA\r\nb\r\nB\r\nRUN x\n');
    const run = ast.children[1]!;
    assert.deepEqual(
      run.heredocs.map((h) => [h.name, h.content]),
      [
        ['A', '# not a comment\r\n'],
        ['B', 'b\r\n'],
      ],
    );
    assert.deepEqual([run.startLine, run.endLine], [2, 6]);
    assert.deepEqual([ast.children[2]!.startLine, ast.children[2]!.endLine], [7, 7]);
  });

  it('attaches ONBUILD RUN heredocs to the ONBUILD instruction', () => {
    const { ast } = parse('FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n');
    const onbuild = ast.children[1]!;
    assert.equal(onbuild.value, 'onbuild');
    assert.deepEqual(onbuild.heredocs.map((h) => h.content), ['echo hi\n']);
  });

  it('reports an unterminated heredoc with its location', () => {
    assert.throws(
      () => parse('FROM a\nRUN <<EOF\necho\n', { file: 'Dockerfile' }),
      (e) =>
        e instanceof StagecraftError &&
        e.message === 'unterminated heredoc' &&
        e.location?.startLine === 2 &&
        e.location.endLine === 3,
    );
  });

  it('ignores heredoc syntax on other instructions', () => {
    const { ast } = parse('FROM a\nUSER <<X\nX\n');
    assert.equal(ast.children.length, 3);
    assert.deepEqual(ast.children[1]!.heredocs, []);
  });
});
