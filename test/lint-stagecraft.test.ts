/**
 * stagecraft's own multi-stage checks, table-driven on real Dockerfiles
 * (including the two tutorials in ../shared/seeds).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from './support/conformance.js';
import { lint, formatWarning, type LintInput } from '../src/lint/index.js';

interface Case {
  name: string;
  input: Omit<LintInput, 'file'>;
  /** Expected stagecraft warnings: `line rule` (detail fragments checked where given). */
  expect: Array<{ line: number; rule: string; detail?: string }>;
}

const seedsDir = join(sharedDir, 'seeds');

/** The Dockerfile lines of a tutorial, from the last line starting with `from` through the line starting with `to`. */
function tutorial(file: string, from: string, to: string): string | undefined {
  const p = join(seedsDir, file);
  if (!existsSync(p)) return undefined;
  const lines = readFileSync(p, 'utf8').split('\n');
  // The last occurrence: tutorials show fragments first, then the whole file.
  const start = lines.map((l) => l.startsWith(from)).lastIndexOf(true);
  const end = lines.findIndex((l, i) => i > start && l.startsWith(to));
  if (start < 0 || end < 0) return undefined;
  return lines.slice(start, end + 1).join('\n') + '\n';
}

const pythonTutorial = tutorial('000_22fc0ed0337915cb.txt', 'FROM python:3.10-slim-buster AS builder', 'CMD ["python", "app.py"]');
const alpineTutorial = tutorial('004_bff6f822485cc0de.txt', 'FROM python:3.8-alpine AS builder', 'CMD python runapp.py');

const cases: Case[] = [
  {
    name: 'tutorial: python:3.10-slim-buster builder -> python:3.10-slim runner (same libc, same Python)',
    input: { dockerfile: pythonTutorial ?? '' },
    expect: [],
  },
  {
    name: 'tutorial with the runner moved to python:3.11-slim: site-packages for 3.10',
    input: { dockerfile: (pythonTutorial ?? '').replace('FROM python:3.10-slim\n', 'FROM python:3.11-slim\n') },
    expect: [{ line: 9, rule: 'StagecraftPythonVersionMismatch', detail: 'Python 3.10' }],
  },
  {
    name: 'tutorial with the builder on alpine: musl packages into a glibc runner',
    input: { dockerfile: (pythonTutorial ?? '').replace('python:3.10-slim-buster', 'python:3.10-alpine') },
    expect: [{ line: 9, rule: 'StagecraftLibcMismatch', detail: "(musl, python:3.10-alpine)" }],
  },
  {
    name: 'tutorial: alpine builder -> alpine runner',
    input: { dockerfile: alpineTutorial ?? '' },
    expect: [],
  },
  {
    name: 'tutorial alpine builder -> Debian runner (the tutorial warns against it)',
    input: { dockerfile: (alpineTutorial ?? '').replace('FROM python:3.8-alpine AS runner', 'FROM python:3.8-slim AS runner') },
    expect: [{ line: 9, rule: 'StagecraftLibcMismatch' }],
  },
  {
    name: 'wheels built for 3.8 installed into 3.12',
    input: { dockerfile: (alpineTutorial ?? '').replace('FROM python:3.8-alpine AS runner', 'FROM python:3.12-alpine AS runner') },
    expect: [{ line: 9, rule: 'StagecraftPythonVersionMismatch', detail: 'Python 3.8' }],
  },
  {
    name: 'os-release from the build decides over the name',
    input: {
      dockerfile: 'FROM myorg/base AS build\nRUN make\nFROM myorg/runtime\nCOPY --from=build /out/app /app\n',
      resolveImage: (ref) => ({ osReleaseId: ref.endsWith('base') ? 'alpine' : 'debian' }),
    },
    expect: [{ line: 4, rule: 'StagecraftLibcMismatch' }],
  },
  {
    name: 'scratch stage: copying a path it never writes',
    input: { dockerfile: 'FROM scratch AS assets\nCOPY static/ /static/\nFROM alpine\nCOPY --from=assets /config/app.yaml /etc/app.yaml\n' },
    expect: [{ line: 4, rule: 'StagecraftCopyFromMissingPath', detail: '/config/app.yaml' }],
  },
  {
    name: 'scratch stage: copying what it wrote (under a directory copy, and a parent dir)',
    input: { dockerfile: 'FROM scratch AS assets\nCOPY static/ /static/\nFROM alpine\nCOPY --from=assets /static/css/site.css /srv/\nCOPY --from=assets / /srv/all/\n' },
    expect: [],
  },
  {
    name: 'stage with RUN may create anything: no warning',
    input: { dockerfile: 'FROM golang:1.22 AS build\nRUN go build -o /out/app .\nFROM scratch\nCOPY --from=build /out/app /app\n' },
    expect: [],
  },
  {
    name: 'a WORKDIR directory no COPY/RUN fills',
    input: { dockerfile: 'FROM alpine AS build\nWORKDIR /work\nCOPY go.mod /src/\nFROM alpine\nCOPY --from=build /work/bin/app /app\n' },
    expect: [{ line: 5, rule: 'StagecraftCopyFromMissingPath', detail: 'WORKDIR' }],
  },
  {
    name: 'a path in the base image (image-rooted, not under a WORKDIR): unknown, no warning',
    input: { dockerfile: 'FROM alpine AS base\nWORKDIR /work\nFROM scratch\nCOPY --from=base /bin/busybox /busybox\n' },
    expect: [],
  },
  {
    name: 'the built stage probe overrides static reasoning',
    input: {
      dockerfile: 'FROM golang:1.22 AS build\nRUN go build -o /out/app .\nFROM scratch\nCOPY --from=build /out/app /app\n',
      probeStage: (_i, p) => p !== '/out/app',
    },
    expect: [{ line: 4, rule: 'StagecraftCopyFromMissingPath', detail: 'not found in the built stage' }],
  },
  {
    name: 'unused stages are reported at info level',
    input: { dockerfile: 'FROM alpine AS test\nRUN true\nFROM alpine AS build\nRUN make\nFROM scratch\nCOPY --from=build /out /out\n' },
    expect: [{ line: 1, rule: 'StagecraftUnusedStage', detail: "'test'" }],
  },
  {
    name: 'with --target, later stages are unused',
    input: { dockerfile: 'FROM alpine AS build\nRUN make\nFROM scratch AS final\nCOPY --from=build /out /out\n', target: 'build' },
    expect: [{ line: 3, rule: 'StagecraftUnusedStage', detail: "'final'" }],
  },
  {
    name: 'glob sources are not judged statically',
    input: { dockerfile: 'FROM scratch AS a\nCOPY x /x\nFROM scratch\nCOPY --from=a /y* /\n' },
    expect: [],
  },
  {
    name: 'inherited writes count (FROM <stage> chain)',
    input: { dockerfile: 'FROM scratch AS a\nCOPY x /data/x\nFROM a AS b\nCOPY y /data/y\nFROM scratch\nCOPY --from=b /data/x /x\nCOPY --from=b /nope /nope\n' },
    expect: [{ line: 7, rule: 'StagecraftCopyFromMissingPath', detail: '/nope' }],
  },
];

describe('stagecraft multi-stage checks', () => {
  let passed = 0;
  for (const c of cases) {
    it(c.name, { skip: c.input.dockerfile === '' ? `tutorial not found in ${seedsDir}` : false }, () => {
      const r = lint({ ...c.input, file: 'Dockerfile' });
      assert.equal(r.error, undefined, r.error?.message);
      const got = r.warnings.filter((w) => w.rule.startsWith('Stagecraft'));
      assert.deepEqual(
        got.map((w) => `${w.location.startLine} ${w.rule}`),
        c.expect.map((e) => `${e.line} ${e.rule}`),
        got.map((w) => formatWarning(w)).join('\n'),
      );
      for (const [i, e] of c.expect.entries()) {
        const w = got[i]!;
        if (e.detail !== undefined) assert.ok(w.detail.includes(e.detail), `${w.detail} should mention ${e.detail}`);
        assert.equal(w.location.file, 'Dockerfile');
        assert.ok(w.fix.length > 0 && !w.fix.includes('\n'), 'one-line fix');
        assert.equal(w.level, w.rule === 'StagecraftUnusedStage' ? 'info' : 'warning');
      }
      passed++;
    });
  }
  it('summary', () => {
    console.log(`stagecraft checks: ${passed}/${cases.length} passed`);
    assert.equal(passed, cases.filter((c) => c.input.dockerfile !== '').length);
  });

  it('error=true fails on stagecraft warnings too, not on info', () => {
    const info = lint({ dockerfile: '# check=error=true\nFROM alpine AS unused\nFROM scratch\nCOPY x /x\n' });
    assert.equal(info.failed, false);
    assert.equal(info.warnings.length, 1);
    const warn = lint({ dockerfile: '# check=error=true\nFROM scratch AS a\nFROM scratch\nCOPY --from=a /x /x\n' });
    assert.equal(warn.failed, true);
    assert.equal(warn.error?.message, 'lint violation found for rules: StagecraftCopyFromMissingPath');
  });

  it('skip=<Stagecraft rule> silences it', () => {
    const r = lint({ dockerfile: '# check=skip=StagecraftUnusedStage\nFROM alpine AS unused\nFROM scratch\n' });
    assert.deepEqual(r.warnings, []);
  });
});
