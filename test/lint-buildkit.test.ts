/**
 * BuildKit's linter integration cases (derived/linter/lint_cases.json):
 * every case's warnings (sorted by line, detail) must match rule,
 * description, url, detail, level and line; buildErr / buildErrLocation too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { conformancePath, corpusMissing } from './support/conformance.js';
import { lint, type LintWarning } from '../src/lint/index.js';
import { parse } from '../src/dockerfile/parser/index.js';
import { parseStages } from '../src/dockerfile/instructions/stages.js';
import { planGraph } from '../src/plan/graph.js';

interface Expected { rule: string; description: string; url: string | null; detail: string; level: number; line: number }
interface Case {
  test: string;
  index: number;
  dockerfile?: string;
  dockerignore?: string;
  warnings?: Expected[];
  frontendAttrs?: Record<string, string>;
  buildErr?: string;
  buildErrLocation?: number;
  streamBuildErrRegexp?: unknown;
  unresolved?: string;
}

const corpus = ['buildkit', 'derived', 'linter', 'lint_cases.json'];
const missing = corpusMissing(...corpus);

function byLineDetail<T extends { line: number; detail: string }>(a: T, b: T): number {
  return a.line - b.line || (a.detail < b.detail ? -1 : a.detail > b.detail ? 1 : 0);
}

function actual(ws: LintWarning[]): Expected[] {
  return ws
    .filter((w) => !w.rule.startsWith('Stagecraft'))
    .map((w) => ({ rule: w.rule, description: w.description, url: w.url, detail: w.detail, level: 1, line: w.location.startLine }))
    .sort(byLineDetail);
}

describe('BuildKit lint cases', { skip: missing }, () => {
  const cases = missing ? [] : (JSON.parse(readFileSync(conformancePath(...corpus), 'utf8')) as { cases: Case[] }).cases;
  let passed = 0;
  let run = 0;
  const skipped: string[] = [];
  for (const c of cases) {
    const name = `${c.test} #${c.index}`;
    if (c.dockerfile === undefined) {
      skipped.push(`${name}: ${c.unresolved ?? 'no Dockerfile'} (needs a registry serving a foreign-platform image)`);
      continue;
    }
    run++;
    it(name, () => {
      const buildArgs: Record<string, string> = {};
      for (const [k, v] of Object.entries(c.frontendAttrs ?? {})) {
        if (k.startsWith('build-arg:')) buildArgs[k.slice('build-arg:'.length)] = v;
      }
      const r = lint({
        dockerfile: c.dockerfile!, file: 'Dockerfile', buildArgs,
        ...(c.dockerignore !== undefined ? { dockerignore: c.dockerignore } : {}),
        stagecraftChecks: false,
      });
      const expected = (c.warnings ?? []).map((w) => ({ ...w, url: w.url ?? '' })).sort(byLineDetail);
      assert.deepEqual(actual(r.warnings), expected);
      if (c.buildErr !== undefined) {
        assert.ok(r.error, `expected build error: ${c.buildErr}`);
        assert.equal(r.error.message, c.buildErr);
        assert.equal(r.failed, true);
        if (c.buildErrLocation !== undefined) assert.equal(r.error.location?.startLine, c.buildErrLocation);
      } else {
        // Cases with only streamBuildErrRegexp fail later, when COPY finds the ignored file missing: not a lint error.
        assert.equal(r.error, undefined, r.error?.message);
      }
      // A build hands lint its own parse, after planning from it: the result must be the same.
      let parsed;
      try {
        parsed = parse(c.dockerfile!, { file: 'Dockerfile' });
        const platform = { os: 'linux', architecture: 'amd64' } as const;
        planGraph({ ...parseStages(parsed.ast), escapeToken: parsed.escapeToken }, { buildArgs, platform, buildPlatform: platform, file: 'Dockerfile' });
      } catch { /* the build reports its own parse and plan errors */ }
      if (parsed) {
        const again = lint({
          dockerfile: c.dockerfile!, parsed, file: 'Dockerfile', buildArgs,
          ...(c.dockerignore !== undefined ? { dockerignore: c.dockerignore } : {}),
          stagecraftChecks: false,
        });
        assert.deepEqual(again, r, 'lint of the build\'s parse differs from lint of the text');
      }
      passed++;
    });
  }
  it('summary', () => {
    for (const s of skipped) console.log(`# skipped ${s}`);
    console.log(`lint cases: ${passed}/${run} passed (${skipped.length} skipped)`);
    assert.equal(passed, run);
  });
});

describe('InvalidBaseImagePlatform with image metadata from a resolver (the corpus needs a registry for these)', () => {
  const ref = '127.0.0.1:5000/foreign:latest';
  const resolveImage = (r: string): { platform: string } | undefined => (r === ref ? { platform: 'linux/arm64' } : undefined);
  it('warns when the base image resolved to another platform', () => {
    const r = lint({ dockerfile: `\nFROM ${ref}\n`, platform: 'linux/amd64', resolveImage });
    assert.deepEqual(
      r.warnings.map((w) => [w.rule, w.description, w.url, w.detail, w.location.startLine]),
      [[
        'InvalidBaseImagePlatform', 'Base image platform does not match expected target platform', '',
        `Base image ${ref} was pulled with platform "linux/arm64", expected "linux/amd64" for current build`, 2,
      ]],
    );
  });
  it('is quiet when FROM --platform asks for that platform', () => {
    const r = lint({ dockerfile: `\nFROM --platform=linux/arm64 ${ref} AS arm64\n`, platform: 'linux/amd64', resolveImage });
    assert.deepEqual(r.warnings, []);
  });
});
