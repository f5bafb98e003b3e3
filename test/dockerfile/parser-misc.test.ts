/** derived/parser/misc_cases.json: words, JSON forms, directives, warnings, limits. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { conformancePath, corpusMissing } from '../support/conformance.js';
import {
  DirectiveParser,
  detectSyntax,
  errNotStringArray,
  nodeValues,
  parse,
  parseDirective,
  parseJSON,
  parseNameVal,
  parseWords,
} from '../../src/dockerfile/parser/index.js';
import { StagecraftError } from '../../src/errors.js';

const corpus = ['buildkit', 'derived', 'parser', 'misc_cases.json'];

interface Misc {
  parseWords: { input: string; expected: string[] }[];
  jsonArrayValid: string[];
  jsonArrayInvalid_errNotStringArray: string[];
  lineNumbers: { file: string; ast: [number, number]; children: [number, number][] };
  emptyContinuationWarnings: {
    dockerfile: string;
    expectedWarnings: number;
    warning0ShortContains: string[];
    warning1ShortContains: string[];
    detailContains: string;
  };
  maxLineLength: { dockerfile: string; error: string };
  directives: { input: string; expected: { name: string; value: string }[] }[];
  detectSyntax: { input: string; ok: boolean; ref?: string; cmdline?: string; line?: number }[];
  parseDirectiveCheck: { input: string; ok: boolean; value?: string; cmdline?: string; line?: number }[];
  parseNameVal: { input: string; cmd: string; nodes?: string[]; error?: string }[];
}

const skip = corpusMissing(...corpus);
const m = skip ? undefined : (JSON.parse(readFileSync(conformancePath(...corpus), 'utf8')) as Misc);

const isNotStringArray = (e: unknown) =>
  e instanceof StagecraftError && e.code === 'PARSE' && e.message === errNotStringArray;

describe('misc_cases.json', { skip }, () => {
  it('parseWords', () => {
    for (const c of m!.parseWords) assert.deepEqual(parseWords(c.input, '\\'), c.expected, c.input);
    console.log(`misc parseWords: ${m!.parseWords.length}/${m!.parseWords.length} passed`);
  });

  it('JSON arrays that are not all strings raise "not a string array"', () => {
    // The corpus transcribed the same eight arrays under both keys: each is
    // valid JSON but not an array of strings, so both lists must raise
    // errNotStringArray rather than fall back to shell form.
    const all = [...m!.jsonArrayInvalid_errNotStringArray, ...m!.jsonArrayValid];
    for (const src of all) assert.throws(() => parseJSON(src), isNotStringArray, src);
    for (const src of m!.jsonArrayInvalid_errNotStringArray) {
      assert.throws(() => parse(`CMD ${src}`), (e) => isNotStringArray(e) && (e as StagecraftError).location?.startLine === 1);
    }
    console.log(`misc jsonArray: ${all.length}/${all.length} passed`);
  });

  it('lineNumbers', () => {
    const df = readFileSync(conformancePath('buildkit', m!.lineNumbers.file));
    const { ast } = parse(new Uint8Array(df));
    assert.deepEqual([ast.startLine, ast.endLine], m!.lineNumbers.ast);
    assert.deepEqual(ast.children.map((c) => [c.startLine, c.endLine]), m!.lineNumbers.children);
    console.log('misc lineNumbers: 1/1 passed');
  });

  it('emptyContinuationWarnings', () => {
    const c = m!.emptyContinuationWarnings;
    const { warnings } = parse(c.dockerfile);
    assert.equal(warnings.length, c.expectedWarnings);
    for (const s of c.warning0ShortContains) assert.ok(warnings[0]!.short.includes(s), s);
    for (const s of c.warning1ShortContains) assert.ok(warnings[1]!.short.includes(s), s);
    for (const w of warnings) assert.ok(w.detail.some((d) => d.includes(c.detailContains)));
    // The warning sits on the instruction's last line, as BuildKit reports it.
    assert.deepEqual(warnings.map((w) => w.location?.startLine), [11, 15]);
    console.log('misc emptyContinuationWarnings: 1/1 passed');
  });

  it('maxLineLength', () => {
    const df = `FROM image\nLABEL test=${'a'.repeat(65536)}\n`;
    assert.throws(
      () => parse(df),
      (e) => e instanceof StagecraftError && e.message === m!.maxLineLength.error && e.location?.startLine === 2,
    );
    // The limit is 65535 bytes of text plus the newline, counted in UTF-8.
    const at = (n: number) => `FROM image\nLABEL t=${'a'.repeat(n - 8)}\n`;
    assert.doesNotThrow(() => parse(at(65535)));
    assert.throws(() => parse(at(65536)), /greater than max allowed size of 65535/);
    assert.throws(() => parse(`FROM image\nLABEL t=${'é'.repeat(32764)}\n`), /max allowed size/);
    console.log('misc maxLineLength: 1/1 passed');
  });

  it('directives: escape key is case-insensitive; unknown keys end the block', () => {
    for (const c of m!.directives) {
      const got = new DirectiveParser('#').parseAll(c.input).map((d) => ({ name: d.name, value: d.value }));
      assert.deepEqual(got, c.expected, c.input);
      const { directives } = parse(c.input + 'FROM x\n');
      assert.deepEqual(directives, Object.fromEntries(c.expected.map((d) => [d.name, d.value])));
    }
    console.log(`misc directives: ${m!.directives.length}/${m!.directives.length} passed`);
  });

  it('detectSyntax', () => {
    for (const c of m!.detectSyntax) {
      const got = detectSyntax(c.input);
      assert.equal(got !== undefined, c.ok, c.input);
      if (got) {
        if (c.ref !== undefined) assert.equal(got.value, c.ref, c.input);
        if (c.cmdline !== undefined) assert.equal(got.cmdline, c.cmdline, c.input);
        if (c.line !== undefined) assert.equal(got.line, c.line, c.input);
      }
    }
    console.log(`misc detectSyntax: ${m!.detectSyntax.length}/${m!.detectSyntax.length} passed`);
  });

  it('parseDirectiveCheck', () => {
    for (const c of m!.parseDirectiveCheck) {
      const got = parseDirective('check', c.input);
      assert.equal(got !== undefined, c.ok, c.input);
      if (got) {
        if (c.value !== undefined) assert.equal(got.value, c.value, c.input);
        if (c.cmdline !== undefined) assert.equal(got.cmdline, c.cmdline, c.input);
        if (c.line !== undefined) assert.equal(got.line, c.line, c.input);
      }
    }
    console.log(`misc parseDirectiveCheck: ${m!.parseDirectiveCheck.length}/${m!.parseDirectiveCheck.length} passed`);
  });

  it('parseNameVal', () => {
    for (const c of m!.parseNameVal) {
      if (c.error !== undefined) {
        assert.throws(() => parseNameVal(c.input, c.cmd), (e) => e instanceof StagecraftError && e.message === c.error);
      } else {
        assert.deepEqual(nodeValues(parseNameVal(c.input, c.cmd)), c.nodes);
      }
    }
    console.log(`misc parseNameVal: ${m!.parseNameVal.length}/${m!.parseNameVal.length} passed`);
  });
});
