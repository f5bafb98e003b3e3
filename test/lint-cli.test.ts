/** `stagecraft lint` / `stagecraft outline` as a user runs them. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/cli.js';

let dir = '';
let passed = 0;

describe('lint / outline CLI', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sc-lint-'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY app.txt secret.txt /\nFROM scratch AS final\nCOPY --from=0 /app.txt /\n');
    writeFileSync(join(dir, '.dockerignore'), 'app.txt\n');
    // The Dockerfile-specific ignore file wins over the context one.
    writeFileSync(join(dir, 'other.Dockerfile'), 'FROM scratch\nCOPY app.txt secret.txt /\n');
    writeFileSync(join(dir, 'other.Dockerfile.dockerignore'), 'secret.txt\n');
    writeFileSync(join(dir, 'strict.Dockerfile'), '# check=error=true\nFROM scratch as base\n');
    writeFileSync(join(dir, 'broken.Dockerfile'), 'FROM scratch\nNOPE x\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints file:line: Rule: detail (fix: ...) and exits 0 for warnings', async () => {
    const r = await runCli(['lint', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `${join(dir, 'Dockerfile')}:2: CopyIgnoredFile: Attempting to Copy file "app.txt" that is excluded by .dockerignore (fix: remove app.txt from .dockerignore (or add !app.txt), or stop copying it)\n`,
    );
    passed++;
  });

  it('uses <Dockerfile>.dockerignore beside -f', async () => {
    const r = await runCli(['lint', '-f', join(dir, 'other.Dockerfile'), dir, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { warnings: Array<{ rule: string; detail: string; location: { startLine: number } }>; failed: boolean };
    assert.deepEqual(out.warnings.map((w) => [w.rule, w.location.startLine, w.detail]), [
      ['CopyIgnoredFile', 2, 'Attempting to Copy file "secret.txt" that is excluded by .dockerignore'],
    ]);
    assert.equal(out.failed, false);
    passed++;
  });

  it('exits 1 when error=true checks fire, with one error line', async () => {
    const r = await runCli(['lint', '-f', join(dir, 'strict.Dockerfile'), dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /strict\.Dockerfile:2: FromAsCasing: /);
    assert.match(r.stderr, /^error: .*strict\.Dockerfile:2: lint violation found for rules: FromAsCasing/m);
    passed++;
  });

  it('exits 1 on a parse error naming file and line', async () => {
    const r = await runCli(['lint', '-f', join(dir, 'broken.Dockerfile'), dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: \S*broken\.Dockerfile:2: unknown instruction: NOPE/m);
    passed++;
  });

  it('BUILDKIT_DOCKERFILE_CHECK via --build-arg', async () => {
    const r = await runCli(['lint', '-f', join(dir, 'strict.Dockerfile'), dir, '--build-arg', 'BUILDKIT_DOCKERFILE_CHECK=skip=all']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    passed++;
  });

  it('outline prints what the target needs', async () => {
    const r = await runCli(['outline', dir, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout) as { target: string; targetNeeds: string[] };
    assert.equal(o.target, 'final');
    assert.deepEqual(o.targetNeeds, ['stage-0', 'final']);
    const t = await runCli(['outline', dir]);
    assert.match(t.stdout, /^TARGET: final\nNEEDS:  stage-0 -> final\n/);
    passed++;
  });

  it('summary', () => {
    console.log(`lint CLI: ${passed}/6 passed`);
    assert.equal(passed, 6);
  });
});
