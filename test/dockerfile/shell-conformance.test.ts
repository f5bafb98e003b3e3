/**
 * BuildKit's own shell-expansion tables (frontend/dockerfile/shell and the
 * derived lex_test.go tables), run against our ShellLex.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { conformancePath, corpusMissing } from '../support/conformance.js';
import { ExpansionError, getEnv, shellPatternToRegex, ShellLex } from '../../src/dockerfile/shell/index.js';
import { isStagecraftError } from '../../src/errors.js';

const SHELL_DIR = ['buildkit', 'frontend', 'dockerfile', 'shell'];
const lex = new ShellLex({ escapeToken: '\\' });

function sorted(s: Iterable<string>): string[] {
  return [...s].sort();
}

describe('envVarTest (ProcessWord)', () => {
  const missing = corpusMissing(...SHELL_DIR, 'envVarTest');
  it('expands every A and U row like BuildKit', { skip: missing }, () => {
    const text = readFileSync(conformancePath(...SHELL_DIR, 'envVarTest'), 'utf8');
    const env = ['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL='];
    const failures: string[] = [];
    const skipped: string[] = [];
    let total = 0;
    let lineNo = 0;
    for (const rawLine of text.split('\n')) {
      lineNo++;
      if (rawLine.startsWith('#')) continue;
      const line = rawLine.trim();
      if (line === '') continue;
      const fields = line.split('|');
      assert.equal(fields.length, 3, `envVarTest:${lineNo} must have 3 fields`);
      const [platform, input, expected] = fields.map((f) => f.trim()) as [string, string, string];
      if (platform === 'W') {
        skipped.push(`envVarTest:${lineNo} ${input} (Windows-only: env keys are case-insensitive there)`);
        continue;
      }
      assert.ok(platform === 'A' || platform === 'U', `envVarTest:${lineNo} unknown platform ${platform}`);
      total++;
      try {
        const got = lex.processWord(input, env);
        if (expected === 'error') failures.push(`envVarTest:${lineNo} ${input}: expected an error, got ${JSON.stringify(got)}`);
        else if (got !== expected) failures.push(`envVarTest:${lineNo} ${input}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
      } catch (e) {
        if (!isStagecraftError(e) || e.code !== 'EXPANSION') failures.push(`envVarTest:${lineNo} ${input}: non-EXPANSION error ${String(e)}`);
        else if (expected !== 'error') failures.push(`envVarTest:${lineNo} ${input}: unexpected error ${e.message}`);
      }
    }
    for (const s of skipped) console.log(`skipped: ${s}`);
    console.log(`shell envVarTest: ${total - failures.length}/${total} passed (${skipped.length} Windows-only rows skipped)`);
    assert.deepEqual(failures, []);
    assert.equal(total, 228);
  });
});

describe('wordsTest (ProcessWords)', () => {
  const missing = corpusMissing(...SHELL_DIR, 'wordsTest');
  it('splits every row like BuildKit (normal mode; upstream never runs its second mode)', { skip: missing }, () => {
    const text = readFileSync(conformancePath(...SHELL_DIR, 'wordsTest'), 'utf8');
    const env: string[] = [];
    const failures: string[] = [];
    let total = 0;
    let lineNo = 0;
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (const line of lines) {
      lineNo++;
      if (line.startsWith('#')) continue;
      if (line.startsWith('ENV ')) {
        env.push(line.slice(4).replace(/^\s+/, ''));
        continue;
      }
      const parts = line.split('|');
      assert.equal(parts.length, 2, `wordsTest:${lineNo} must have exactly one |`);
      const input = (parts[0] as string).trim();
      const expected = (parts[1] as string).replace(/^ +/, '').split(',');
      total++;
      let got: string[];
      try {
        got = lex.processWords(input, env);
      } catch (e) {
        if (!(e instanceof ExpansionError)) throw e;
        got = ['error'];
      }
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        failures.push(`wordsTest:${lineNo} ${input}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
      }
    }
    console.log(`shell wordsTest: ${total - failures.length}/${total} passed`);
    assert.deepEqual(failures, []);
    assert.equal(total, 24);
  });
});

interface MatchCase {
  input: string;
  env: Record<string, string>;
  expected?: string;
  matched?: string[];
  unmatched?: string[];
  error?: boolean;
}
interface LexCases {
  processWordWithMatches: MatchCase[];
  mandatoryEnvVars: { input: string; env: string[]; expected?: string; errorContains?: string }[];
  platformReleaseName: { input: string; env: Record<string, string>; expected: string }[];
  getEnvLastWins: { env: string[]; name: string; expected: string }[];
  shellPatternToRegex_internal: { cases: Record<string, string>; invalid: string[] };
}

describe('lex_cases.json', () => {
  const rel = ['buildkit', 'derived', 'shell', 'lex_cases.json'] as const;
  const missing = corpusMissing(...rel);
  const cases: LexCases | undefined = missing ? undefined : JSON.parse(readFileSync(conformancePath(...rel), 'utf8'));

  it('processWordWithMatches: result, matched and unmatched', { skip: missing }, () => {
    const failures: string[] = [];
    const list = cases!.processWordWithMatches;
    list.forEach((c, i) => {
      const tag = `processWordWithMatches[${i}] ${c.input}`;
      try {
        const r = lex.processWordWithMatches(c.input, c.env);
        if (c.error) return void failures.push(`${tag}: expected an error, got ${JSON.stringify(r.result)}`);
        if (r.result !== c.expected) failures.push(`${tag}: expected ${JSON.stringify(c.expected)}, got ${JSON.stringify(r.result)}`);
        if (JSON.stringify(sorted(r.matched)) !== JSON.stringify(sorted(c.matched ?? []))) failures.push(`${tag}: matched ${JSON.stringify(sorted(r.matched))}`);
        if (JSON.stringify(sorted(r.unmatched)) !== JSON.stringify(sorted(c.unmatched ?? []))) failures.push(`${tag}: unmatched ${JSON.stringify(sorted(r.unmatched))}`);
      } catch (e) {
        if (!(e instanceof ExpansionError)) return void failures.push(`${tag}: non-expansion error ${String(e)}`);
        if (!c.error) return void failures.push(`${tag}: unexpected error ${e.message}`);
        if (c.unmatched && JSON.stringify(sorted(e.unmatched)) !== JSON.stringify(sorted(c.unmatched))) {
          failures.push(`${tag}: unmatched on error ${JSON.stringify(sorted(e.unmatched))}`);
        }
      }
    });
    console.log(`shell lex_cases processWordWithMatches: ${list.length - failures.length}/${list.length} passed`);
    assert.deepEqual(failures, []);
    assert.equal(list.length, 47);
  });

  it('mandatoryEnvVars: ${V:?msg} errors carry the expanded message', { skip: missing }, () => {
    const failures: string[] = [];
    const list = cases!.mandatoryEnvVars;
    list.forEach((c, i) => {
      const tag = `mandatoryEnvVars[${i}] ${c.input} ${JSON.stringify(c.env)}`;
      try {
        const got = lex.processWord(c.input, c.env);
        if (c.errorContains !== undefined) failures.push(`${tag}: expected error, got ${JSON.stringify(got)}`);
        else if (got !== c.expected) failures.push(`${tag}: got ${JSON.stringify(got)}`);
      } catch (e) {
        if (!(e instanceof ExpansionError) || e.code !== 'EXPANSION') failures.push(`${tag}: wrong error type ${String(e)}`);
        else if (c.errorContains === undefined) failures.push(`${tag}: unexpected error ${e.message}`);
        else if (!e.message.includes(c.errorContains)) failures.push(`${tag}: message ${JSON.stringify(e.message)}`);
      }
    });
    console.log(`shell lex_cases mandatoryEnvVars: ${list.length - failures.length}/${list.length} passed`);
    assert.deepEqual(failures, []);
    assert.equal(list.length, 6);
  });

  it('platformReleaseName: nested ${V:+-${V}}', { skip: missing }, () => {
    const list = cases!.platformReleaseName;
    let pass = 0;
    for (const c of list) {
      assert.equal(lex.processWord(c.input, c.env), c.expected, c.input);
      pass++;
    }
    console.log(`shell lex_cases platformReleaseName: ${pass}/${list.length} passed`);
    assert.equal(pass, 3);
  });

  it('getEnvLastWins: duplicate keys, the last one wins', { skip: missing }, () => {
    const list = cases!.getEnvLastWins;
    let pass = 0;
    for (const c of list) {
      assert.equal(getEnv(c.env, c.name), c.expected, JSON.stringify(c));
      // and the same through expansion
      assert.equal(lex.processWord('${' + c.name + '}', c.env), c.expected, JSON.stringify(c));
      pass++;
    }
    console.log(`shell lex_cases getEnvLastWins: ${pass}/${list.length} passed`);
    assert.equal(pass, 6);
  });

  it('shellPatternToRegex_internal: same regexp text as BuildKit, invalid escapes rejected', { skip: missing }, () => {
    const { cases: table, invalid } = cases!.shellPatternToRegex_internal;
    let pass = 0;
    for (const [pattern, goSource] of Object.entries(table)) {
      assert.equal(shellPatternToRegex(pattern, true, true).goSource, goSource, pattern);
      pass++;
    }
    for (const pattern of invalid) {
      assert.throws(() => shellPatternToRegex(pattern, true, true), /invalid escape/, pattern);
      pass++;
    }
    const total = Object.keys(table).length + invalid.length;
    console.log(`shell lex_cases shellPatternToRegex_internal: ${pass}/${total} passed`);
    assert.equal(pass, 7);
  });
});
