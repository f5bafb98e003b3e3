/**
 * The benchmark's arithmetic and tables (test/bench/report.ts) and its
 * command line (parseArgs): table-driven cases and properties.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cell, fileCountTable, mainTable, median, medianSeconds, peakRss, ratio, type Row, type Sample } from './bench/report.js';
import { bundleCli, modePlan, parseArgs } from './bench/run.js';
import { cliPath } from './bench/tools.js';
import { buildScenarios, fileCountContext, QUICK_SIZES } from './bench/scenarios.js';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tally } from './fixtures/build/fixtures.js';
import { EXT4_RECENTCY_MIN_SECONDS, mountOf, settleSeconds } from './bench/settle.js';

const tally = new Tally('bench report', 17);
after(() => console.log(tally.summary()));

const ok = (seconds: number, peakRssBytes?: number): Sample => ({ ok: true, seconds, ...(peakRssBytes ? { peakRssBytes } : {}) });

describe('median', () => {
  it('odd, even, one, none', () => {
    const cases: Array<[number[], number]> = [[[3, 1, 2], 2], [[4, 1, 3, 2], 2.5], [[7], 7], [[5, 5, 1, 9, 9], 5]];
    for (const [xs, want] of cases) assert.equal(median(xs), want, JSON.stringify(xs));
    assert.ok(Number.isNaN(median([])));
    tally.pass();
  });

  it('lies between min and max and ignores order', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 30 }), (xs) => {
      const m = median(xs);
      assert.ok(m >= Math.min(...xs) && m <= Math.max(...xs));
      assert.equal(median([...xs].reverse()), m);
      // At least half the values are <= m and at least half are >= m.
      assert.ok(xs.filter((x) => x <= m).length * 2 >= xs.length);
      assert.ok(xs.filter((x) => x >= m).length * 2 >= xs.length);
    }));
    tally.pass();
  });
});

describe('cells and ratios', () => {
  it('a failed or timed-out run makes the cell say so, never a number', () => {
    const cases: Array<[Sample[], string]> = [
      [[ok(1.234), ok(2.5), ok(0.5)], '1.23'],
      [[ok(12.34)], '12.3'],
      [[ok(0.1234)], '0.123'],
      [[ok(1), { ok: false, reason: 'timeout', seconds: 600 }], 'timeout > 600.0 s'],
      [[ok(1), { ok: false, reason: 'failed', message: 'exit 1' }], 'failed'],
      [[], 'n/a'],
    ];
    for (const [samples, want] of cases) assert.equal(cell(samples), want);
    assert.ok(Number.isNaN(medianSeconds([ok(1), { ok: false, reason: 'failed' }])));
    tally.pass();
  });

  it('ratio of medians, n/a when either side has no number', () => {
    const cases: Array<[number, number, string]> = [[1, 2, '0.50'], [3, 1, '3.00'], [25, 2, '12.5'], [1, Number.NaN, 'n/a'], [Number.NaN, 1, 'n/a'], [1, 0, 'n/a']];
    for (const [a, b, want] of cases) assert.equal(ratio(a, b), want, `${a}/${b}`);
    tally.pass();
  });

  it('peak RSS is the highest over the runs', () => {
    assert.equal(peakRss([ok(1, 10), ok(1, 30), ok(1, 20)]), 30);
    assert.equal(peakRss([ok(1)]), undefined);
    tally.pass();
  });
});

describe('tables', () => {
  const row: Row = {
    scenario: 'fan-out-4', mode: 'cold',
    samples: { stagecraft: [ok(2, 100 * 2 ** 20), ok(4), ok(3)], buildkit: [ok(6), ok(6), ok(6)], buildah: [ok(1.5), ok(1.5), ok(1.5)] },
  };

  it('main table: medians, ratios, runs and peak RSS in MiB', () => {
    const lines = mainTable([row]).split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^\| case \| mode \| runs \| stagecraft s \| BuildKit s \| buildah s \| stagecraft\/BuildKit \| stagecraft\/buildah \| stagecraft peak RSS MiB \|$/);
    assert.equal(lines[2], '| fan-out-4 | cold | 3 | 3.00 | 6.00 | 1.50 | 0.50 | 2.00 | 100 |');
    tally.pass();
  });

  it('every data row has as many cells as the header', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0.001, max: 1000, noNaN: true }), { minLength: 1, maxLength: 5 }), (xs) => {
      const r: Row = { scenario: 's', mode: 'm', samples: { stagecraft: xs.map((x) => ok(x)), buildkit: [], buildah: [{ ok: false, reason: 'skipped' }] } };
      const [head, , data] = mainTable([r]).split('\n');
      assert.equal(data!.split('|').length, head!.split('|').length);
    }));
    tally.pass();
  });

  it('file-count table: microseconds per file from the median', () => {
    const small: Row = { scenario: 'files-1k', mode: 'cold', files: 1000, samples: { stagecraft: [ok(1.1)], buildkit: [ok(0.1)], buildah: [ok(3)] } };
    const files: Row = { scenario: 'files-10k', mode: 'cold', files: 10_000, samples: { stagecraft: [ok(2)], buildkit: [ok(1)], buildah: [{ ok: false, reason: 'timeout', seconds: 60 }] } };
    const lines = fileCountTable([small, row, files]).split('\n');
    assert.equal(lines.length, 4, 'only rows with a file count');
    assert.equal(lines[2], '| 1000 | 1.10 | 0.100 | 3.00 | 1100.0 | 100.0 | 3000.0 |  |  |  |');
    // extra 9000 files: stagecraft 0.9 s more -> 100 µs each, BuildKit 0.9 s -> 100 µs.
    assert.equal(lines[3], '| 10000 | 2.00 | 1.00 | timeout > 60.0 s | 200.0 | 100.0 | n/a | 100.0 | 100.0 | n/a |');
    assert.equal(fileCountTable([row]), '');
    tally.pass();
  });
});

describe('parseArgs', () => {
  it('defaults: 3 runs, every scenario and tool', () => {
    const o = parseArgs([]);
    assert.equal(o.runs, 3);
    assert.equal(o.quick, false);
    assert.deepEqual(o.tools, ['stagecraft', 'buildkit', 'buildah']);
    assert.ok(o.only.includes('files') && o.only.includes('memory'));
    tally.pass();
  });

  it('--quick means one run unless --runs says otherwise', () => {
    assert.equal(parseArgs(['--quick']).runs, 1);
    assert.equal(parseArgs(['--quick', '--runs', '3']).runs, 3);
    assert.equal(parseArgs(['--runs', '5', '--quick']).runs, 5);
    assert.deepEqual(parseArgs(['--only', 'startup,files']).only, ['startup', 'files']);
    assert.equal(parseArgs(['--timeout', '30']).timeoutSeconds, 30);
    assert.equal(parseArgs(['--runs', '3']).heavyRuns, 3, '--heavy-runs follows --runs');
    assert.equal(parseArgs(['--runs', '3', '--heavy-runs', '1']).heavyRuns, 1);
    assert.equal(parseArgs([]).settle, 'auto');
    assert.equal(parseArgs(['--settle', '0']).settle, 0);
    assert.equal(parseArgs(['--settle', '12.5']).settle, 12.5);
    assert.equal(parseArgs(['--settle', 'auto']).settle, 'auto');
    assert.equal(parseArgs([]).fastRuns, 7, 'noop and incr run 7 times by default');
    assert.equal(parseArgs(['--runs', '9']).fastRuns, 9, '--runs above the default raises them');
    assert.equal(parseArgs(['--runs', '2', '--fast-runs', '4']).fastRuns, 4);
    assert.equal(parseArgs(['--quick']).fastRuns, 1, '--quick runs everything once');
    tally.pass();
  });

  it('refuses unknown options, scenarios, tools and bad numbers', () => {
    const bad: string[][] = [['--nope'], ['--only', 'kaniko'], ['--tools', 'podman'], ['--tools', 'buildkit'], ['--runs', '0'], ['--runs', '1.5'], ['--runs'], ['--timeout', '-1'], ['--heavy-runs', '0'], ['--fast-runs', '0'], ['--fast-runs', 'x'], ['--settle', '-1'], ['--settle', 'soon'], ['--settle']];
    for (const argv of bad) assert.throws(() => parseArgs(argv), Error, argv.join(' '));
    tally.pass();
  });
});

describe('modes (the issue: cold from empty storage, noop, incr; plus no-cache)', () => {
  const o = { runs: 3, heavyRuns: 1, fastRuns: 7 };

  it('every multi-stage case runs cold, no-cache, noop, incr in that order: cold and no-cache with --runs, noop and incr with --fast-runs', () => {
    assert.deepEqual(Object.keys(buildScenarios), ['python-app', 'node-app', 'go-app', 'debian-to-busybox', 'fan-out-4', 'unused-stages', 'copy-20k']);
    for (const sc of Object.values(buildScenarios)) {
      const plan = modePlan(sc, o);
      assert.deepEqual(plan.map((s) => s.mode), ['cold', 'no-cache', 'noop', 'incr'], sc.name);
      assert.deepEqual(plan.map((s) => s.runs), [3, 3, 7, 7], `${sc.name}: cold is not a heavy row; noop and incr are fast rows`);
      // Only cold starts from empty storage; every other mode gets its bases pulled first (again, after cold).
      assert.deepEqual(plan.map((s) => s.fromEmpty), [true, false, false, false], sc.name);
      assert.deepEqual(plan.map((s) => s.settleEach), [false, false, false, false], `${sc.name}: cold settles once per round`);
      assert.deepEqual(plan.map((s) => s.pullFirst), [false, true, true, true], sc.name);
      assert.deepEqual(plan.map((s) => s.noCache), [true, true, false, false], sc.name);
      assert.deepEqual(plan.map((s) => s.warmUp), [false, false, true, false], sc.name);
      assert.equal(typeof sc.prepare, 'function');
    }
    tally.pass();
  });

  it('the three classic cases are the examples, without the syntax line, and each change is a new line of their source', async () => {
    for (const [name, changed] of [['python-app', 'app.py'], ['node-app', 'index.js'], ['go-app', 'main.go']] as const) {
      const dir = await mkdtemp(join(tmpdir(), `bench-${name}-`));
      try {
        const p = await buildScenarios[name].prepare(dir, QUICK_SIZES);
        const example = await readFile(join('examples', name, 'Dockerfile'), 'utf8');
        assert.match(example, /^# syntax=/m, `${name}: the example has the syntax line`);
        const df = await readFile(join(p.context, 'Dockerfile'), 'utf8');
        assert.doesNotMatch(df, /^# syntax=/m, name);
        assert.equal(df, example.replace(/^# syntax=.*\n/m, ''), name);
        assert.match(df, /^COPY --from=/m, `${name} is multi-stage`);
        const before = await readFile(join(p.context, changed), 'utf8');
        await p.change!();
        const once = await readFile(join(p.context, changed), 'utf8');
        await p.change!();
        const twice = await readFile(join(p.context, changed), 'utf8');
        assert.ok(once.startsWith(before) && once.length > before.length, `${name}: a line appended to ${changed}`);
        const [l1, l2] = [once.slice(before.length), twice.slice(once.length)];
        assert.notEqual(l1, l2, `${name}: every change is new`);
        assert.match(l1!, name === 'python-app' ? /^# bench change \S+\n$/ : /^\/\/ bench change \S+\n$/, `${name}: the change is a comment`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    tally.pass();
  });

  it('file-count rows are cold from empty storage, with --heavy-runs', () => {
    for (const n of [1000, 10_000, 100_000, 300_000]) {
      const sc = fileCountContext(n);
      assert.equal(sc.name, `files-${n / 1000}k`);
      assert.deepEqual(modePlan(sc, o), [{ mode: 'cold', runs: 1, fromEmpty: true, settleEach: true, pullFirst: false, noCache: true, warmUp: false }], sc.name);
      assert.equal(modePlan(sc, { runs: 2, heavyRuns: 5, fastRuns: 9 })[0]!.runs, 5);
    }
    tally.pass();
  });
});

describe('settle (cold runs sync and wait out ext4\'s recently-freed-inode window)', () => {
  const mountinfo = [
    '21 26 0:20 / /proc rw,relatime - proc proc rw',
    '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
    '24 23 0:22 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683748k',
    '50 26 253:1 / /var/lib/with\\040space rw,relatime - ext4 /dev/mapper/vg-data rw',
    '51 26 8:17 / /srv rw,relatime - xfs /dev/sdb1 rw',
    '52 26 8:1 / /var rw,relatime - ext4 /dev/sda1 rw',
  ].join('\n');
  const names: Record<string, string> = { '254:0': 'vda', '253:1': 'dm-1', '8:1': 'sda1', '8:17': 'sdb1' };
  const kernelName = (d: string): string | undefined => names[d];

  it('finds the mount that holds a path (the longest mount point, spaces unescaped)', () => {
    const cases: Array<[string, string | undefined]> = [
      ['/tmp/x', 'ext4 /dev/vda 254:0'],
      ['/dev/shm/a/b', 'tmpfs tmpfs 0:22'],
      ['/dev/shmx', 'ext4 /dev/vda 254:0'],
      ['/var/lib/with space/store', 'ext4 /dev/mapper/vg-data 253:1'],
      ['/var/lib/other', 'ext4 /dev/sda1 8:1'],
      ['/srv', 'xfs /dev/sdb1 8:17'],
    ];
    for (const [path, want] of cases) {
      const m = mountOf(mountinfo, path);
      assert.equal(m && `${m.fsType} ${m.source} ${m.device}`, want, path);
    }
    assert.equal(mountOf('', '/x'), undefined);
    tally.pass();
  });

  it('waits the window plus a margin only on ext4 without a journal', () => {
    const cases: Array<[string, string[], number]> = [
      ['/tmp/bench', [], 61], // this VM: ext4 without a journal; the kernel's 60 s and a second
      ['/tmp/bench', ['vda-8'], 0], // journalled
      ['/tmp/bench', ['vdab-8'], 61], // another device's journal
      ['/dev/shm/bench', [], 0], // tmpfs
      ['/srv/bench', [], 0], // xfs
      ['/var/lib/with space/b', ['dm-1-8'], 0], // the journal is listed under the kernel's name, not /dev/mapper's
      ['/var/lib/with space/b', ['vg-data-8'], 61],
      ['/var/x', ['sda1-8'], 0],
    ];
    for (const [path, jbd2, want] of cases) {
      assert.equal(settleSeconds(mountinfo, jbd2, path, kernelName), want, `${path} ${jbd2.join(',')}`);
    }
    assert.equal(EXT4_RECENTCY_MIN_SECONDS, 60);
    // Without the device-name map the source's last component stands in.
    assert.equal(settleSeconds(mountinfo, ['sda1-8'], '/var/x', () => undefined), 0);
    tally.pass();
  });
});

describe('the CLI the benchmark runs', () => {
  it('is bin/ as users have it, every file with its mode (the syscall-helper stub too), next to a fresh bundle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-cli-'));
    const before = cliPath.current;
    try {
      await bundleCli(dir);
      const repoBin = fileURLToPath(new URL('../bin/', import.meta.url));
      const want = (await readdir(repoBin)).sort();
      assert.ok(want.includes('syscall-helper-stub.pl'), 'the stub is in bin/');
      assert.deepEqual((await readdir(join(dir, 'bin'))).sort(), want);
      for (const name of want) {
        const [a, b] = await Promise.all([stat(join(repoBin, name)), stat(join(dir, 'bin', name))]);
        assert.equal(b.mode & 0o7777, a.mode & 0o7777, `${name}: mode`);
        assert.equal(b.size, a.size, `${name}: size`);
      }
      assert.equal(cliPath.current, join(dir, 'bin', 'stagecraft'));
      const env = { ...process.env };
      delete env.STAGECRAFT_FROM_SOURCE;
      const r = spawnSync(cliPath.current, ['--help'], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Usage: stagecraft/m, 'the copied command runs the bundle');
    } finally {
      cliPath.current = before;
      await rm(dir, { recursive: true, force: true });
    }
    tally.pass();
  });
});
