/**
 * The long-lived helper shell (src/util/helper-shell.ts) must give the same
 * result as spawn(): arguments passed through unchanged (never interpreted by
 * the shell), exit status, stderr and stdout framed exactly, concurrent
 * callers each getting their own result. Needs only /bin/sh and coreutils.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { commandLine, runHelper, shellQuote, spawnDirect } from '../src/util/helper-shell.js';
const TOTAL = 6;
let passed = 0;
after(() => console.log(`helper shell: ${passed}/${TOTAL} passed`));

/** Any argument spawn() accepts: no NUL. */
const arg = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0'));

describe('helper shell', () => {
  it('passes any argument through unchanged, like spawn() (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(arg, { maxLength: 6 }), async (args) => {
      const viaShell = await runHelper('printf', ['%s\\0', 'first', ...args], { stdout: true });
      const direct = await spawnDirect('printf', ['%s\\0', 'first', ...args], { stdout: true });
      assert.equal(viaShell.code, 0);
      assert.deepEqual(viaShell.stdout, direct.stdout);
      assert.deepEqual(viaShell.stdout.toString().split('\0').slice(1, -1), args);
    }), { numRuns: 60 });
    passed++;
  });

  it('never runs shell syntax found in an argument', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sc-helper-'));
    try {
      const marker = join(dir, 'pwned');
      const nasty = [`$(touch ${marker})`, `\`touch ${marker}\``, `'; touch ${marker}; '`, `"; touch ${marker}; "`, `\n touch ${marker}\n`, `x && touch ${marker}`];
      const r = await runHelper('printf', ['%s|', ...nasty], { stdout: true });
      assert.equal(r.code, 0);
      assert.equal(r.stdout.toString(), nasty.map((s) => `${s}|`).join(''));
      assert.equal(existsSync(marker), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    passed++;
  });

  it('reports exit status, stderr and stdout as spawn() does, table', async () => {
    const cases: Array<[string, string[], { stdout?: boolean; cwd?: string; env?: Record<string, string> }]> = [
      ['sh', ['-c', 'echo out; echo err >&2; exit 3'], { stdout: true }],
      ['sh', ['-c', 'printf no-newline >&2; printf no-newline-out; exit 0'], { stdout: true }],
      ['sh', ['-c', 'echo err only >&2; exit 1'], {}],
      ['sh', ['-c', 'pwd'], { stdout: true, cwd: '/usr' }],
      ['sh', ['-c', 'echo "$SC_HELPER_TEST"'], { stdout: true, env: { SC_HELPER_TEST: "it's $x" } }],
      ['umount', ['/nonexistent-stagecraft-helper-test'], {}],
      ['cat', [], { stdout: true }], // stdin is empty, as with spawn's 'ignore'
      ['sh', ['-c', 'kill -TERM $$'], {}],
    ];
    for (const [cmd, args, opts] of cases) {
      const a = await runHelper(cmd, args, opts);
      const b = await spawnDirect(cmd, args, opts);
      assert.equal(a.stderr, b.stderr, `${cmd} ${args.join(' ')}: stderr`);
      assert.deepEqual(a.stdout, b.stdout, `${cmd} ${args.join(' ')}: stdout`);
      // A signal: spawn() gives a null code (-1 here), the shell 128+N; both are failures.
      if (args[1] === 'kill -TERM $$') assert.ok(a.code !== 0 && b.code !== 0);
      else assert.equal(a.code, b.code, `${cmd} ${args.join(' ')}: code`);
    }
    passed++;
  });

  it('a missing command fails exactly as spawn() does (code -1, ENOENT)', async () => {
    const a = await runHelper('stagecraft-no-such-command', ['x']);
    assert.equal(a.code, -1);
    assert.equal(a.stderr, 'spawn stagecraft-no-such-command ENOENT');
    assert.equal(a.error?.code, 'ENOENT');
    passed++;
  });

  it('keeps concurrent callers apart, and large outputs whole', async () => {
    const jobs = Array.from({ length: 24 }, (_, i) =>
      runHelper('sh', ['-c', `sleep 0.0${i % 5}; echo ${i}; echo e${i} >&2; exit ${i % 4}`], { stdout: true }));
    const results = await Promise.all(jobs);
    results.forEach((r, i) => {
      assert.equal(r.stdout.toString(), `${i}\n`);
      assert.equal(r.stderr, `e${i}\n`);
      assert.equal(r.code, i % 4);
    });
    const big = await runHelper('head', ['-c', '3000000', '/dev/zero'], { stdout: true });
    assert.equal(big.code, 0);
    assert.equal(big.stdout.length, 3_000_000);
    assert.ok(big.stdout.every((b) => b === 0));
    passed++;
  });

  it('quotes for sh and rejects what cannot be passed', () => {
    const table: Array<[string, string]> = [['', "''"], ['a b', "'a b'"], ["it's", "'it'\\''s'"], ['$x', "'$x'"]];
    for (const [input, want] of table) assert.equal(shellQuote(input), want);
    assert.throws(() => shellQuote('a\0b'), TypeError);
    assert.throws(() => commandLine('/bin/true', [], 'n', { env: { 'A;B': '1' } }), TypeError);
    passed++;
  });
});
