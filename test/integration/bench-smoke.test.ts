/**
 * `npm run bench` in its smallest form: stagecraft only, the startup case, one
 * run. It must build through the real harness (registry, bundle, store) and
 * print a table whose stagecraft cells are numbers, and write the same text to
 * bench-results.md. The full benchmark is not part of npm test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSkipReason, Tally } from '../fixtures/build/fixtures.js';

const RUN = fileURLToPath(new URL('../bench/run.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const skip = buildSkipReason();
const tally = new Tally('bench smoke', 2);

describe('bench harness (stagecraft only, startup, 1 run)', { skip }, () => {
  let out = '';
  let err = '';
  let code: number | null = null;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-bench-smoke-'));
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', RUN, '--quick', '--runs', '1', '--only', 'startup', '--tools', 'stagecraft', '--out', dir],
        { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
      child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.on('error', reject);
      child.on('close', (c) => { clearTimeout(timer); code = c; resolve(); });
    });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(tally.summary());
  });

  it('prints a table with a number for every stagecraft cell and n/a for tools not run', () => {
    assert.equal(code, 0, `bench exited ${code}:\n${err.slice(-3000)}`);
    const rows = out.split('\n').filter((l) => l.startsWith('| startup |'));
    assert.equal(rows.length, 2, out);
    for (const r of rows) {
      const cells = r.split('|').slice(1, -1).map((c) => c.trim());
      // case | mode | runs | stagecraft | BuildKit | buildah | sc/BK | sc/buildah | RSS
      assert.equal(cells.length, 9, r);
      assert.match(cells[3]!, /^\d+\.\d+$/, `stagecraft seconds in ${r}`);
      assert.ok(Number(cells[3]) > 0 && Number(cells[3]) < 60, r);
      assert.equal(cells[4], 'n/a');
      assert.equal(cells[6], 'n/a');
    }
    const noop = rows.find((r) => r.includes('noop'))!;
    const rss = Number(noop.split('|').at(-2)!.trim());
    assert.ok(rss > 10 && rss < 1024, `peak RSS of a no-op build in MiB: ${noop}`);
    tally.pass();
  });

  it('writes the same report to bench-results.md, with the machine and tool versions', async () => {
    const text = await readFile(join(dir, 'bench-results.md'), 'utf8');
    assert.ok(out.includes(text.trim()), 'stdout holds the file text');
    assert.match(text, /^Machine: \d+ × .+RAM/m);
    assert.match(text, /^Tools: stagecraft \d+\.\d+\.\d+/m);
    tally.pass();
  });
});
