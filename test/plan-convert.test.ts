/**
 * BuildKit's dockerfile2llb unit tables (derived/dockerfile2llb/convert_cases.json):
 * Dockerfile -> graph conversion outcomes, addEnv, the HEALTHCHECK history
 * string, proxy build-args and EXPOSE port specs.
 */
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { conformancePath, corpusMissing } from './support/conformance.js';
import { parse } from '../src/dockerfile/parser/index.js';
import { parseStages, parseExposePorts, parseGoDuration } from '../src/dockerfile/instructions/index.js';
import { addEnv, healthcheckString, planAll, proxyEnvFromBuildArgs, type BuildRequest } from '../src/plan/index.js';

const CORPUS = ['buildkit', 'derived', 'dockerfile2llb', 'convert_cases.json'];
const skip = corpusMissing(...CORPUS);

interface ConvertCase {
  dockerfile: string;
  target?: string;
  ok?: boolean;
  errorEquals?: string;
  expectImageConfig?: Record<string, string>;
  note?: string;
}
interface Cases {
  convert: ConvertCase[];
  addEnv: Array<{ env: string[]; k: string; v: string; expected: string[] }>;
  healthcheckHistory: {
    healthcheck: { Test: string[]; Interval: string; Timeout: string; StartPeriod: string; StartInterval: string; Retries: number };
    createdBy: string;
  };
  proxyArgs: { buildArgs: Record<string, string>; expected: Record<string, string> };
  exposePortErrors: Array<{ spec: string; error: string }>;
  exposePortIPv6: Array<{ spec: string; expected: string[] }>;
  exposePorts: Array<{ specs: string[]; expected?: string[]; error?: boolean }>;
}

/**
 * The convert table only says `ok: false` for these; BuildKit's messages for
 * them come from dockerfile2llb/convert.go (resolveTarget, buildDispatchStates).
 */
const EXPECTED_FAILURES: Record<string, string> = {
  nosuch: 'target stage "nosuch" could not be found',
  'FROM "" AS foo': 'base name ("") should not be blank',
  'FROM ${BLANK} AS foo': 'base name (${BLANK}) should not be blank',
};

const cases: Cases | undefined = skip ? undefined : JSON.parse(readFileSync(conformancePath(...CORPUS), 'utf8'));

function request(target?: string): BuildRequest {
  const linux = { os: 'linux', architecture: 'amd64' };
  return { buildArgs: {}, platform: linux, buildPlatform: linux, file: 'Dockerfile', ...(target !== undefined ? { target } : {}) };
}

/** Parse + plan every needed stage; base images have an empty config. */
function convert(dockerfile: string, target?: string) {
  const r = parse(dockerfile, { file: 'Dockerfile' });
  const parsed = parseStages(r.ast);
  return planAll({ ...parsed, escapeToken: r.escapeToken }, request(target), () => ({}));
}

const tally = new Map<string, { pass: number; total: number }>();
function count(section: string, ok: boolean): void {
  const t = tally.get(section) ?? { pass: 0, total: 0 };
  t.total++;
  if (ok) t.pass++;
  tally.set(section, t);
}
function check(section: string, fn: () => void): void {
  try {
    fn();
    count(section, true);
  } catch (e) {
    count(section, false);
    throw e;
  }
}

const LINT = ['buildkit', 'derived', 'linter', 'lint_cases.json'];
const lintSkip = corpusMissing(...LINT);
interface LintCase {
  dockerfile: string;
  buildErr?: string;
  buildErrLocation?: number;
  frontendAttrs?: Record<string, string>;
  test?: string;
}
const lintCases: LintCase[] = lintSkip ? [] : (JSON.parse(readFileSync(conformancePath(...LINT), 'utf8')) as { cases: LintCase[] }).cases;

after(() => {
  for (const [section, t] of tally) console.log(`dockerfile2llb ${section}: ${t.pass}/${t.total} passed`);
});

describe('dockerfile2llb convert_cases', { skip }, () => {
  describe('convert', () => {
    for (const [i, c] of (cases?.convert ?? []).entries()) {
      const title = `#${i} ${c.note ?? JSON.stringify(c.dockerfile.split('\n')[0])}${c.target ? ` target=${c.target}` : ''}`;
      it(title, () =>
        check('convert', () => {
          if (c.errorEquals !== undefined) {
            assert.throws(() => convert(c.dockerfile, c.target), (e: Error) => {
              assert.equal(e.message, c.errorEquals);
              return true;
            });
          } else if (c.ok === false) {
            const want = EXPECTED_FAILURES[c.target ?? c.dockerfile];
            assert.ok(want !== undefined, 'every failing case has a known BuildKit message');
            assert.throws(() => convert(c.dockerfile, c.target), (e: Error) => {
              assert.equal(e.message, want);
              return true;
            });
          } else {
            const plan = convert(c.dockerfile, c.target);
            for (const [path, want] of Object.entries(c.expectImageConfig ?? {})) {
              const got = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], plan.target.config);
              assert.equal(got, want, path);
            }
          }
        }),
      );
    }
  });

  describe('addEnv', () => {
    for (const [i, c] of (cases?.addEnv ?? []).entries()) {
      it(`#${i} ${c.k}=${c.v} into ${JSON.stringify(c.env)}`, () =>
        check('addEnv', () => {
          const before = [...c.env];
          assert.deepEqual(addEnv(c.env, c.k, c.v), c.expected);
          assert.deepEqual(c.env, before, 'input list is not modified');
        }),
      );
    }
  });

  it('healthcheck history string', () =>
    check('healthcheckHistory', () => {
      const h = cases!.healthcheckHistory.healthcheck;
      const got = healthcheckString({
        test: h.Test,
        interval: parseGoDuration(h.Interval),
        timeout: parseGoDuration(h.Timeout),
        startPeriod: parseGoDuration(h.StartPeriod),
        startInterval: parseGoDuration(h.StartInterval),
        retries: h.Retries,
      });
      assert.equal(`HEALTHCHECK ${got}`, cases!.healthcheckHistory.createdBy);
    }));

  it('proxy build-args: lowercase wins; none gives undefined', () =>
    check('proxyArgs', () => {
      assert.deepEqual(proxyEnvFromBuildArgs(cases!.proxyArgs.buildArgs), cases!.proxyArgs.expected);
      assert.equal(proxyEnvFromBuildArgs({ FOO: 'bar' }), undefined);
    }));

  describe('expose', () => {
    for (const c of cases?.exposePortErrors ?? []) {
      it(`error ${JSON.stringify(c.spec)}`, () =>
        check('exposePortErrors', () => {
          assert.throws(() => parseExposePorts([c.spec]), (e: Error) => {
            assert.equal(e.message, c.error);
            return true;
          });
        }),
      );
    }
    for (const c of cases?.exposePortIPv6 ?? []) {
      it(`IPv6 ${c.spec}`, () => check('exposePortIPv6', () => assert.deepEqual(parseExposePorts([c.spec]), c.expected)));
    }
    for (const c of cases?.exposePorts ?? []) {
      it(`ports ${c.specs.join(' ')}`, () =>
        check('exposePorts', () => {
          if (c.error) assert.throws(() => parseExposePorts(c.specs));
          else assert.deepEqual(parseExposePorts(c.specs), c.expected);
        }),
      );
    }
  });
});

/**
 * lint_cases.json cases whose build fails: those failing in the planner must
 * fail with BuildKit's exact message and line. Others belong elsewhere and are
 * listed with the reason.
 */
describe('lint_cases build errors decided by the planner', { skip: lintSkip }, () => {
  for (const [i, c] of lintCases.entries()) {
    if (c.buildErr === undefined) continue;
    const err = c.buildErr;
    if (err.startsWith('lint violation found')) {
      console.log(`lint case #${i}: not a planner error (lint rules promoted to errors belong to the linter): ${err}`);
      continue;
    }
    if (err.startsWith('dockerfile parse error')) {
      console.log(`lint case #${i}: not a planner error (raised while parsing instructions): ${err}`);
      continue;
    }
    it(`#${i} ${err}`, () =>
      check('lint buildErr', () => {
        const buildArgs: Record<string, string> = {};
        for (const [k, v] of Object.entries(c.frontendAttrs ?? {})) if (k.startsWith('build-arg:')) buildArgs[k.slice(10)] = v;
        const r = parse(c.dockerfile, { file: 'Dockerfile' });
        const linux = { os: 'linux', architecture: 'amd64' };
        assert.throws(
          () => planAll({ ...parseStages(r.ast), escapeToken: r.escapeToken }, { buildArgs, platform: linux, buildPlatform: linux }, () => ({})),
          (e: Error & { location?: { startLine: number } }) => {
            assert.equal(e.message, err);
            if (c.buildErrLocation !== undefined) assert.equal(e.location?.startLine, c.buildErrLocation);
            return true;
          },
        );
      }),
    );
  }
});
