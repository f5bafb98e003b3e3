/**
 * `npm run bench`: builds the benchmark cases with stagecraft, BuildKit and
 * buildah in turn, in one run, against one loopback registry, and prints
 * Markdown tables of medians and ratios (also written to bench-results.md).
 *
 *   npm run bench -- [--quick] [--runs N] [--fast-runs N] [--heavy-runs N] [--only a,b]
 *                    [--tools stagecraft,buildkit,buildah] [--out DIR] [--timeout SECONDS] [--settle SECONDS|auto]
 *
 * Modes: `cold` resets every tool (no build cache, no local images) before
 * each round of timed builds, so the build pulls its base images from the
 * registry (on ext4 without a journal the round first syncs and waits out
 * the window in which freed inodes are skipped: settle.ts);
 * `no-cache` (`--no-cache`), `noop` and `incr` run with the base images pulled
 * into every tool beforehand (untimed). noop and incr builds take a fraction
 * of a second, where one slow run moves a median of three: they run
 * --fast-runs times (default: 7, or --runs when that is more). Every timed
 * build starts after a `sync` (untimed), so that no tool's build waits on the
 * write-back of what the tool before it wrote. See docs/performance.md.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ensureBaseImages, pushBaseImages, type BaseImageName } from '../support/base-images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { failureNotes, fileCountTable, mainTable, TOOLS, TOOL_LABEL, type Row, type Sample, type Tool } from './report.js';
import {
  buildScenarios, fileCountContext, FULL_SIZES, memoryContext, QUICK_SIZES, SCENARIO_NAMES, tinyContext,
  type BuildScenario, type Mode, type Prepared, type ScenarioName, type Sizes,
} from './scenarios.js';
import { settleSecondsHere, syncFilesystem } from './settle.js';
import { BuildahBuilder, BuildkitBuilder, cliPath, isAborted, killRunning, sampleOf, StagecraftBuilder, timed, type Builder } from './tools.js';

/**
 * Bundles the CLI with scripts/bundle.mjs into `dir`/dist, next
 * to a copy of bin/ (the `stagecraft` command, bin/stagecraft.cjs and the
 * syscall-helper stub the command starts), so the benchmark runs what users run without
 * writing dist/ in the checkout (bin/stagecraft.cjs prefers dist/ when it exists,
 * and a stale dist/ would change what every CLI test runs). Until 2026-12-07
 * 15:47 only the first two were copied: without its stub, every benchmarked
 * build that ran a step spawned its syscall helper from node (~10-15 ms of a
 * blocked event loop, then Perl's start-up) where users' builds do not.
 */
export async function bundleCli(dir: string): Promise<void> {
  // The same function `npm run build` runs (a .mjs file outside the TypeScript project: imported by URL).
  const { bundle } = (await import(new URL('../../scripts/bundle.mjs', import.meta.url).href)) as { bundle: (outdir: string) => Promise<void> };
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'bin'), { recursive: true });
  await bundle(join(dir, 'dist'));
  // Every file of bin/, modes kept (copyFile keeps them; chmod again in case umask interfered).
  for (const name of await readdir(join(REPO, 'bin'))) {
    await copyFile(join(REPO, 'bin', name), join(dir, 'bin', name));
    await chmod(join(dir, 'bin', name), (await stat(join(REPO, 'bin', name))).mode & 0o7777);
  }
  await copyFile(join(REPO, 'package.json'), join(dir, 'package.json')); // --version reads it
  cliPath.current = join(dir, 'bin/stagecraft');
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface BenchOptions {
  quick: boolean;
  runs: number;
  /** Runs for the expensive rows: files (file count) and memory (default: --runs). */
  heavyRuns: number;
  /** Runs for the sub-second modes, noop and incr (default: 7 or --runs, whichever is more; --runs with --quick). */
  fastRuns: number;
  only: ScenarioName[];
  tools: Tool[];
  out: string;
  timeoutSeconds: number;
  /** Seconds a cold round waits (after a sync) after the resets; 'auto': settle.ts decides from the filesystem (0 with --quick). */
  settle: number | 'auto';
}

/** Runs of noop and incr builds unless --fast-runs says otherwise. */
export const DEFAULT_FAST_RUNS = 7;

export function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = { quick: false, runs: 3, heavyRuns: Number.NaN, fastRuns: Number.NaN, only: [...SCENARIO_NAMES], tools: [...TOOLS], out: '', timeoutSeconds: 900, settle: 'auto' };
  let runsGiven = false;
  let heavyGiven = false;
  let fastGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--runs') { o.runs = Number(value()); runsGiven = true; }
    else if (a === '--heavy-runs') { o.heavyRuns = Number(value()); heavyGiven = true; }
    else if (a === '--fast-runs') { o.fastRuns = Number(value()); fastGiven = true; }
    else if (a === '--only') o.only = value().split(',').map((s) => s.trim()).filter(Boolean) as ScenarioName[];
    else if (a === '--tools') o.tools = value().split(',').map((s) => s.trim()).filter(Boolean) as Tool[];
    else if (a === '--out') o.out = value();
    else if (a === '--timeout') o.timeoutSeconds = Number(value());
    else if (a === '--settle') { const v = value(); o.settle = v === 'auto' ? 'auto' : Number(v); }
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench -- [--quick] [--runs N] [--fast-runs N] [--heavy-runs N] [--only ' + SCENARIO_NAMES.join(',') +
        '] [--tools stagecraft,buildkit,buildah] [--out DIR] [--timeout SECONDS] [--settle SECONDS|auto]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (o.quick && !runsGiven) o.runs = 1;
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs must be a positive integer');
  if (!heavyGiven) o.heavyRuns = o.runs;
  if (!Number.isInteger(o.heavyRuns) || o.heavyRuns < 1) throw new Error('--heavy-runs must be a positive integer');
  if (!fastGiven) o.fastRuns = o.quick ? o.runs : Math.max(o.runs, DEFAULT_FAST_RUNS);
  if (!Number.isInteger(o.fastRuns) || o.fastRuns < 1) throw new Error('--fast-runs must be a positive integer');
  if (!(o.timeoutSeconds > 0)) throw new Error('--timeout must be a positive number of seconds');
  if (o.settle !== 'auto' && !(Number.isFinite(o.settle) && o.settle >= 0)) throw new Error('--settle must be auto or a number of seconds (0 or more)');
  for (const s of o.only) if (!SCENARIO_NAMES.includes(s)) throw new Error(`unknown scenario ${s} (one of ${SCENARIO_NAMES.join(', ')})`);
  for (const t of o.tools) if (!TOOLS.includes(t)) throw new Error(`unknown tool ${t} (one of ${TOOLS.join(', ')})`);
  if (!o.tools.includes('stagecraft')) throw new Error('--tools must include stagecraft');
  return o;
}

/** How one mode of one build case is run. */
export interface ModeStep {
  mode: Mode;
  /** Timed runs per tool. */
  runs: number;
  /** Reset the tool (no build cache, no local images) before each timed build: the build pulls its bases. */
  fromEmpty: boolean;
  /**
   * With fromEmpty: reset and wait out the settle time before each tool's build, not once
   * per round (the file-count case, where a build may itself delete 300k files: buildah
   * removes its working container at the end, and the next tool's files would pay).
   */
  settleEach: boolean;
  /** Pull the base images into every tool first (untimed), e.g. again after a cold run emptied it. */
  pullFirst: boolean;
  /** Build with `--no-cache`. */
  noCache: boolean;
  /** One untimed build first, so every tool's cache holds the current context. */
  warmUp: boolean;
}

/** The modes of a build case in order, with how each runs: cold from empty storage, the rest with base images local. */
export function modePlan(sc: Pick<BuildScenario, 'name' | 'modes'>, o: Pick<BenchOptions, 'runs' | 'heavyRuns' | 'fastRuns'>): ModeStep[] {
  const heavy = sc.name.startsWith('files-');
  return sc.modes.map((mode) => ({
    mode,
    runs: heavy ? o.heavyRuns : mode === 'noop' || mode === 'incr' ? o.fastRuns : o.runs,
    fromEmpty: mode === 'cold',
    settleEach: mode === 'cold' && heavy,
    pullFirst: mode !== 'cold',
    noCache: mode === 'cold' || mode === 'no-cache',
    warmUp: mode === 'noop',
  }));
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function emptySamples(): Record<Tool, Sample[]> {
  return { stagecraft: [], buildkit: [], buildah: [] };
}

function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os}, kernel ${kernel}, ext4 (root filesystem)`;
}

class Bench {
  readonly rows: Row[] = [];
  registry?: RunningRegistry;
  builders: Builder[] = [];
  refs = new Map<BaseImageName, string>();
  pulled = new Set<string>();
  /** Where this run's bundled CLI lives (removed at the end). */
  readonly cliDir = join(REPO, '.cache', `bench-cli-${process.pid}`);
  /** Seconds each cold round waits after the resets (settle.ts). */
  readonly settle: number;

  constructor(readonly o: BenchOptions, readonly sizes: Sizes, readonly scratch: string) {
    this.settle = o.settle !== 'auto' ? o.settle : o.quick ? 0 : settleSecondsHere(scratch);
  }

  get timeoutMs(): number { return this.o.timeoutSeconds * 1000; }

  /** Tools in a different order each run, so no tool always goes first (page cache, CPU boost). */
  order(run: number): Builder[] {
    const n = this.builders.length;
    return Array.from({ length: n }, (_, i) => this.builders[(i + run) % n]!);
  }

  async pullAll(refs: string[], only?: Builder): Promise<void> {
    for (const b of only ? [only] : this.builders) {
      const todo = refs.filter((r) => only || !this.pulled.has(`${b.tool} ${r}`));
      if (todo.length === 0) continue;
      log(`pulling ${todo.join(', ')} into ${TOOL_LABEL[b.tool]} (not timed)`);
      await b.pull(todo);
      for (const r of todo) this.pulled.add(`${b.tool} ${r}`);
    }
  }

  baseRefs(names: BaseImageName[]): string[] {
    return names.map((n) => this.refs.get(n)!);
  }

  async timedBuild(b: Builder, p: Prepared, tag: string, noCache: boolean): Promise<Sample> {
    // Untimed: what the previous build (often another tool's) left dirty is written back now, not
    // while this build runs. The turns rotate (order()), so within a round each tool always follows
    // the same other tool; without the sync, a tool's numbers would depend on its neighbour's writes.
    // (The filesystem of the scratch directory, as for the cold rounds: every tool's storage is there or beside it in the temp directory.)
    syncFilesystem(this.scratch);
    const r = await b.build({ context: p.context, tag, noCache, buildArgs: { ...p.buildArgs, REGISTRY: this.registry!.host }, timeoutMs: this.timeoutMs });
    const s = sampleOf(r, this.timeoutMs);
    log(`  ${TOOL_LABEL[b.tool].padEnd(10)} ${s.ok ? `${s.seconds.toFixed(2)} s${s.peakRssBytes ? `, peak RSS ${(s.peakRssBytes / 2 ** 20).toFixed(0)} MiB` : ''}` : s.reason}`);
    return s;
  }

  async runBuildScenario(sc: BuildScenario): Promise<void> {
    const dir = await mkdtemp(join(this.scratch, `${sc.name}-`));
    const p = await sc.prepare(dir, this.sizes);
    const tag = `bench/${sc.name}:latest`;
    const rowOf = (mode: Mode): Row => {
      const row: Row = { scenario: sc.name, mode, samples: emptySamples() };
      if (sc.name.startsWith('files-')) row.files = Number(sc.name.slice(6).replace('k', '')) * (sc.name.endsWith('k') ? 1000 : 1);
      this.rows.push(row);
      return row;
    };
    for (const step of modePlan(sc, this.o)) {
      const { mode } = step;
      // After a cold run a tool has no base images left: pull them again, untimed.
      if (step.pullFirst) await this.pullAll(this.baseRefs(sc.bases));
      const row = rowOf(mode);
      log(`${sc.name} ${mode}${step.fromEmpty ? ' (each tool reset first: base images pulled in the timed build)' : ''}`);
      if (step.warmUp) {
        // One untimed build so each tool's cache holds the current context.
        for (const b of this.builders) {
          const s = await this.timedBuild(b, p, tag, false);
          if (!s.ok) row.samples[b.tool].push(s);
        }
      }
      for (let i = 0; i < step.runs; i++) {
        if (mode === 'incr') await p.change!();
        const round = this.order(i).filter((b) => !row.samples[b.tool].some((s) => !s.ok)); // failed once: not again
        // Every tool is reset before the round, not just before its own build, so the
        // deletes are all behind the settle wait (per build with settleEach).
        const groups = step.fromEmpty && step.settleEach ? round.map((b) => [b]) : [round];
        for (const group of groups) {
          if (step.fromEmpty) {
            for (const b of group) {
              await b.reset();
              for (const k of [...this.pulled]) if (k.startsWith(`${b.tool} `)) this.pulled.delete(k);
            }
            if (this.settle > 0) {
              log(`  sync, then waiting ${this.settle} s after the reset${group.length > 1 ? 's' : ''} (ext4 without a journal skips inodes freed in the last 60 s)`);
              syncFilesystem(this.scratch);
              await sleep(this.settle * 1000);
            }
          }
          for (const b of group) row.samples[b.tool].push(await this.timedBuild(b, p, tag, step.noCache));
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  async runStartup(): Promise<void> {
    const runs = Math.max(this.o.runs, 5);
    // --version: the CLI's fixed start cost (docker's client and buildah's, for scale).
    const row: Row = { scenario: 'startup', mode: '--version', samples: emptySamples() };
    this.rows.push(row);
    log('startup --version');
    const versionCmd: Record<Tool, [string, string[]]> = {
      stagecraft: [cliPath.current, ['--version']],
      buildkit: ['/usr/bin/docker', ['--version']],
      buildah: ['buildah', ['--version']],
    };
    for (let i = 0; i < runs; i++) {
      for (const b of this.order(i)) {
        const [cmd, args] = versionCmd[b.tool];
        row.samples[b.tool].push(sampleOf(await timed(cmd, args)));
      }
    }
    // A no-op rebuild of a one-step image: everything but the work.
    const dir = await mkdtemp(join(this.scratch, 'tiny-'));
    const p = await tinyContext(dir);
    await this.pullAll(this.baseRefs(['busybox:latest']));
    const noop: Row = { scenario: 'startup', mode: 'noop (1 RUN)', samples: emptySamples() };
    this.rows.push(noop);
    log('startup noop');
    for (const b of this.builders) {
      const s = await this.timedBuild(b, p, 'bench/tiny:latest', false);
      if (!s.ok) noop.samples[b.tool].push(s);
    }
    for (let i = 0; i < runs; i++) {
      for (const b of this.order(i)) {
        if (noop.samples[b.tool].some((s) => !s.ok)) continue;
        noop.samples[b.tool].push(await this.timedBuild(b, p, 'bench/tiny:latest', false));
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  async runMemory(): Promise<void> {
    await this.pullAll(this.baseRefs(['busybox:latest']));
    for (const [label, mb] of [['small', this.sizes.memorySmallMb], ['large', this.sizes.memoryLargeMb]] as const) {
      const dir = await mkdtemp(join(this.scratch, `memory-${label}-`));
      const p = await memoryContext(dir, mb);
      const tag = `bench/memory-${label}:latest`;
      const build: Row = { scenario: `memory ${label} (${mb} MB)`, mode: 'no-cache build', samples: emptySamples() };
      const save: Row = { scenario: `memory ${label} (${mb} MB)`, mode: 'save (docker-archive)', samples: emptySamples() };
      this.rows.push(build, save);
      log(`memory ${label} ${mb} MB`);
      for (let i = 0; i < this.o.heavyRuns; i++) {
        for (const b of this.order(i)) {
          if (build.samples[b.tool].some((s) => !s.ok)) continue;
          const s = await this.timedBuild(b, p, tag, true);
          build.samples[b.tool].push(s);
          if (!s.ok) continue;
          const file = join(dir, `${b.tool}.tar`);
          const r = await b.save(tag, file, this.timeoutMs);
          const ss = sampleOf(r, this.timeoutMs);
          log(`  ${TOOL_LABEL[b.tool].padEnd(10)} save ${ss.ok ? `${ss.seconds.toFixed(2)} s${ss.peakRssBytes ? `, peak RSS ${(ss.peakRssBytes / 2 ** 20).toFixed(0)} MiB` : ''}` : ss.reason}`);
          save.samples[b.tool].push(ss);
          await rm(file, { force: true });
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Called after each case (the harness writes the table so far, so a long run that dies keeps its numbers). */
  onProgress: () => Promise<void> = async () => undefined;

  async run(): Promise<void> {
    const want = new Set(this.o.only);
    const bases = new Set<BaseImageName>(['busybox:latest']);
    for (const [name, sc] of Object.entries(buildScenarios)) if (want.has(name as ScenarioName)) sc.bases.forEach((b) => bases.add(b));
    log(`base images: ${[...bases].join(', ')}`);
    await ensureBaseImages([...bases]);
    this.registry = await startRegistry();
    const refs = await pushBaseImages(this.registry.host, [...bases]);
    for (const b of bases) this.refs.set(b, refs[b]);
    log(`registry ${this.registry.host}`);
    log('bundling the CLI as `npm run build` does, into .cache/ (dist/ is left alone)');
    await bundleCli(this.cliDir);

    for (const t of this.o.tools) {
      if (t === 'stagecraft') this.builders.push(await StagecraftBuilder.open(this.scratch));
      if (t === 'buildkit') { log('starting a private dockerd'); this.builders.push(await BuildkitBuilder.open()); }
      if (t === 'buildah') this.builders.push(await BuildahBuilder.open(this.scratch));
    }

    for (const name of this.o.only) {
      this.loads.push(loadavg()[0]!);
      if (name === 'startup') await this.runStartup();
      else if (name === 'memory') await this.runMemory();
      else if (name === 'files') {
        for (const n of this.sizes.fileCounts) await this.runBuildScenario(fileCountContext(n));
      } else await this.runBuildScenario(buildScenarios[name]);
      await this.onProgress();
    }
    this.loads.push(loadavg()[0]!);
  }

  async close(): Promise<void> {
    for (const b of this.builders) await b.close().catch((e) => log(`closing ${b.tool}: ${(e as Error).message}`));
    this.builders = [];
    await this.registry?.stop().catch(() => undefined);
    this.registry = undefined;
    await rm(this.cliDir, { recursive: true, force: true });
  }

  /** 1-minute load averages seen between cases: the machine is shared, so say how busy it was. */
  readonly loads: number[] = [loadavg()[0]!];

  async report(versions: string[], started: Date): Promise<string> {
    const notes = failureNotes(this.rows);
    const files = fileCountTable(this.rows);
    const others = [
      ...(this.o.fastRuns !== this.o.runs ? [`${this.o.fastRuns} for noop and incr`] : []),
      ...(this.o.heavyRuns !== this.o.runs ? [`${this.o.heavyRuns} for file-count and memory rows`] : []),
    ];
    const runsNote = others.length > 0 ? ` (${others.join('; ')})` : '';
    return [
      `## stagecraft benchmark, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `Machine: ${machine()}.`,
      `Tools: ${versions.join('; ')}.`,
      `Load: 1-minute load average between cases ${Math.min(...this.loads).toFixed(1)} to ${Math.max(...this.loads).toFixed(1)} ` +
        `on ${cpus().length} cores (other work on the machine slows every tool; the tools take turns, so ratios suffer less than seconds).`,
      `Runs: median of ${this.o.runs} run${this.o.runs === 1 ? '' : 's'} per cell${runsNote}${this.o.quick ? ' (--quick: small sizes)' : ''}; ` +
        'seconds of wall time. Every timed build starts after a `sync` (untimed), so none waits on the write-back of the build before it.',
      'Modes: `cold` = no build cache and no local images (every tool reset before each round of runs' +
        (this.settle > 0 ? `, before each tool's build in the file-count rows; then a sync and a ${this.settle} s wait: this filesystem is ext4 without a journal, which skips inodes freed in the last 60 s` : '') +
        '), base images pulled from the loopback registry inside the timed build; `no-cache` = `--no-cache` with base images already local; `noop` = rebuild with nothing changed; ' +
        '`incr` = rebuild after a new one-line change to one source file. Base images are pulled (untimed) before every mode but `cold`.',
      '',
      mainTable(this.rows),
      ...(files ? ['', 'File-count scaling (one RUN creating N files; cold, busybox pulled in the build):', '', files] : []),
      ...(notes.length ? ['', 'Failures:', '', ...notes.map((n) => `- ${n}`)] : []),
      '',
    ].join('\n');
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (overlay mounts, runc, dockerd)');
  const started = new Date();
  const scratch = await mkdtemp(join(process.env.STAGECRAFT_BENCH_TMP ?? tmpdir(), 'stagecraft-bench-'));
  const bench = new Bench(o, o.quick ? QUICK_SIZES : FULL_SIZES, scratch);
  let closing: Promise<void> | undefined;
  const teardown = (): Promise<void> => (closing ??= (async () => {
    await bench.close();
    for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
      .filter((p) => p.startsWith(`${scratch}/`)).sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', m]);
    // GNU rm: fs.rm took minutes over the million files the file-count case leaves;
    // --one-file-system never crosses into a mount a tool left behind.
    spawnSync('rm', ['-rf', '--one-file-system', scratch], { stdio: 'ignore' });
  })());
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: stopping dockerd and the registry, removing ${scratch}`);
    killRunning();
    void teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const outDir = o.out ? resolve(o.out) : tmpdir();
  await mkdir(outDir, { recursive: true });
  const partial = join(outDir, 'bench-results.partial.md');
  bench.onProgress = async () => {
    const versions = await Promise.all(bench.builders.map((b) => b.version().catch(() => b.tool)));
    await writeFile(partial, await bench.report(versions, started));
  };
  try {
    await bench.run();
    if (isAborted()) throw new Error('benchmark interrupted: no report');
    const versions = await Promise.all(bench.builders.map((b) => b.version().catch(() => b.tool)));
    const text = await bench.report(versions, started);
    process.stdout.write(`\n${text}`);
    await rm(partial, { force: true });
    const file = join(outDir, 'bench-results.md');
    await writeFile(file, text);
    log(`wrote ${file}`);
  } finally {
    await teardown();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
