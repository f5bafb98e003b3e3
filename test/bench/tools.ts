/**
 * The three builders the benchmark compares, behind one interface: stagecraft
 * (the bundled CLI, as users run it), BuildKit (Debian's docker.io daemon,
 * started privately, `DOCKER_BUILDKIT=1 docker build`) and buildah
 * (`buildah bud --layers --isolation chroot`, storage in a temp directory).
 * Every command is a child process timed from spawn to exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startDockerd, type RunningDockerd } from '../support/dockerd.js';
import type { Sample, Tool } from './report.js';

/** The command the benchmark runs, as users run it: bin/stagecraft next to a fresh bundle (set by run.ts; see bundleCli). */
export const cliPath = { current: fileURLToPath(new URL('../../bin/stagecraft', import.meta.url)) };
const DOCKER = '/usr/bin/docker';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Poll the child's VmHWM (peak RSS) from /proc while it runs. */
  trackRss?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  timedOut: boolean;
  /** Peak RSS of the spawned process itself (VmHWM), when tracked. */
  peakRssBytes?: number;
  /** The last few KB of stdout+stderr. */
  tail: string;
}

function readHwm(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const running = new Set<import('node:child_process').ChildProcess>();
let aborted = false;

/** True once killRunning() ran: results after that are not measurements. */
export function isAborted(): boolean {
  return aborted;
}

/** Kills every command still running and refuses to start new ones (SIGINT teardown). */
export function killRunning(): void {
  aborted = true;
  for (const c of running) {
    try { process.kill(-c.pid!, 'SIGKILL'); } catch { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  }
}

/** Runs a command, timing it from spawn to exit. */
export function timed(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (aborted) { reject(new Error('benchmark interrupted')); return; }
    const started = performance.now();
    // Own process group, so a timeout or ^C kills the whole tree (runc, shells).
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let tail = '';
    const keep = (s: string): void => { tail = (tail + s).slice(-6000); };
    child.stdout!.setEncoding('utf8').on('data', keep);
    child.stderr!.setEncoding('utf8').on('data', keep);
    let peak: number | undefined;
    const poll = o.trackRss && child.pid !== undefined
      ? setInterval(() => { const h = readHwm(child.pid!); if (h !== undefined) peak = Math.max(peak ?? 0, h); }, 20)
      : undefined;
    let timedOut = false;
    const timer = o.timeoutMs
      ? setTimeout(() => { timedOut = true; try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); } }, o.timeoutMs)
      : undefined;
    child.on('error', (e) => { running.delete(child); clearInterval(poll); clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      running.delete(child);
      const seconds = (performance.now() - started) / 1000;
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, signal, seconds, timedOut, peakRssBytes: peak, tail });
    });
  });
}

export function sampleOf(r: RunResult, timeoutMs?: number): Sample {
  if (r.timedOut) return { ok: false, reason: 'timeout', seconds: (timeoutMs ?? r.seconds * 1000) / 1000 };
  if (r.code !== 0) return { ok: false, reason: 'failed', seconds: r.seconds, message: `exit ${r.code ?? r.signal}: ${r.tail.trim()}` };
  return { ok: true, seconds: r.seconds, ...(r.peakRssBytes !== undefined ? { peakRssBytes: r.peakRssBytes } : {}) };
}

async function must(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const r = await timed(cmd, args, o);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code ?? r.signal}${r.timedOut ? ', timed out' : ''}):\n${r.tail.trim().slice(-2000)}`);
  return r;
}

export interface BuildRequest {
  context: string;
  tag: string;
  noCache?: boolean;
  buildArgs?: Record<string, string>;
  timeoutMs?: number;
}

export interface Builder {
  tool: Tool;
  /** `name version` for the report header. */
  version(): Promise<string>;
  build(req: BuildRequest): Promise<RunResult>;
  /** Writes a built image to a docker-archive tar file. */
  save(tag: string, file: string, timeoutMs?: number): Promise<RunResult>;
  /** Pulls the base images into this tool's local storage (untimed, before measuring). */
  pull(refs: string[]): Promise<void>;
  /** Forgets everything: build cache, built images and base images (before each timed `cold` build). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

function buildArgList(flag: string, args: Record<string, string> | undefined): string[] {
  return Object.entries(args ?? {}).flatMap(([k, v]) => [flag, `${k}=${v}`]);
}

// ---------------------------------------------------------------------------

export class StagecraftBuilder implements Builder {
  readonly tool = 'stagecraft' as const;
  root: string;
  private constructor(readonly scratch: string, root: string) { this.root = root; }

  static async open(scratch: string): Promise<StagecraftBuilder> {
    const root = join(scratch, 'stagecraft-store');
    await mkdir(root, { recursive: true });
    return new StagecraftBuilder(scratch, root);
  }

  cli(args: string[], o: RunOptions = {}): Promise<RunResult> {
    return timed(cliPath.current, ['--root', this.root, ...args], o);
  }

  async version(): Promise<string> {
    const r = await must(cliPath.current, ['--version']);
    return `stagecraft ${r.tail.trim()} (node ${process.version})`;
  }

  build(req: BuildRequest): Promise<RunResult> {
    return this.cli(['build', '--progress', 'quiet', '-t', req.tag, ...(req.noCache ? ['--no-cache'] : []),
      ...buildArgList('--build-arg', req.buildArgs), req.context], { timeoutMs: req.timeoutMs, trackRss: true });
  }

  save(tag: string, file: string, timeoutMs?: number): Promise<RunResult> {
    return this.cli(['save', '-o', file, tag], { timeoutMs, trackRss: true });
  }

  async pull(refs: string[]): Promise<void> {
    // As `docker pull`: stored and tagged, so builds FROM these refs never contact the registry.
    for (const ref of refs) {
      const r = await this.cli(['pull', '-q', ref]);
      if (r.code !== 0) throw new Error(`stagecraft could not pull ${ref}:\n${r.tail.trim().slice(-2000)}`);
    }
  }

  async reset(): Promise<void> {
    const old = this.root;
    this.root = await mkdtemp(join(this.scratch, 'stagecraft-store-'));
    await rm(old, { recursive: true, force: true });
  }

  async close(): Promise<void> { /* the scratch dir goes with the run */ }
}

// ---------------------------------------------------------------------------

export class BuildkitBuilder implements Builder {
  readonly tool = 'buildkit' as const;
  private constructor(readonly daemon: RunningDockerd) {}

  static async open(): Promise<BuildkitBuilder> {
    return new BuildkitBuilder(await startDockerd());
  }

  docker(args: string[], o: RunOptions = {}): Promise<RunResult> {
    return timed(DOCKER, ['-H', this.daemon.host, ...args], { ...o, env: { ...process.env, DOCKER_BUILDKIT: '1' } });
  }

  async version(): Promise<string> {
    const r = await this.docker(['version', '--format', '{{.Server.Version}}']);
    return `dockerd ${r.tail.trim()} (Debian docker.io, BuildKit built in)`;
  }

  build(req: BuildRequest): Promise<RunResult> {
    // Host networking, as stagecraft's RUN steps have (the private daemon has no bridge).
    return this.docker(['build', '-q', '--network', 'host', '-t', req.tag, ...(req.noCache ? ['--no-cache'] : []),
      ...buildArgList('--build-arg', req.buildArgs), req.context], { timeoutMs: req.timeoutMs });
  }

  save(tag: string, file: string, timeoutMs?: number): Promise<RunResult> {
    return this.docker(['save', '-o', file, tag], { timeoutMs });
  }

  async pull(refs: string[]): Promise<void> {
    for (const ref of refs) await must(DOCKER, ['-H', this.daemon.host, 'pull', '-q', ref]);
  }

  async reset(): Promise<void> {
    await must(DOCKER, ['-H', this.daemon.host, 'builder', 'prune', '-af']);
    await must(DOCKER, ['-H', this.daemon.host, 'system', 'prune', '-af']);
  }

  close(): Promise<void> { return this.daemon.stop(); }
}

// ---------------------------------------------------------------------------

function mountsBelow(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

export class BuildahBuilder implements Builder {
  readonly tool = 'buildah' as const;
  private constructor(readonly dir: string) {}

  static async open(scratch: string): Promise<BuildahBuilder> {
    const dir = join(scratch, 'buildah');
    await mkdir(dir, { recursive: true });
    return new BuildahBuilder(dir);
  }

  private global(): string[] {
    return ['--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'), '--storage-driver', 'overlay'];
  }

  buildah(args: string[], o: RunOptions = {}): Promise<RunResult> {
    return timed('buildah', [...this.global(), ...args], o);
  }

  async version(): Promise<string> {
    const r = await must('buildah', ['--version']);
    return r.tail.trim();
  }

  build(req: BuildRequest): Promise<RunResult> {
    return this.buildah(['bud', '--layers', '--isolation', 'chroot', '--network', 'host', '--tls-verify=false', '-q', '-t', req.tag,
      ...(req.noCache ? ['--no-cache'] : []), ...buildArgList('--build-arg', req.buildArgs), req.context], { timeoutMs: req.timeoutMs });
  }

  save(tag: string, file: string, timeoutMs?: number): Promise<RunResult> {
    return this.buildah(['push', '-q', tag, `docker-archive:${file}:${tag}`], { timeoutMs });
  }

  async pull(refs: string[]): Promise<void> {
    for (const ref of refs) await must('buildah', [...this.global(), 'pull', '-q', '--tls-verify=false', ref]);
  }

  async reset(): Promise<void> {
    await timed('buildah', [...this.global(), 'rm', '-a']);
    await must('buildah', [...this.global(), 'rmi', '-af']);
  }

  async close(): Promise<void> {
    // spawnSync: also runs after ^C, when timed() refuses to start commands.
    spawnSync('buildah', [...this.global(), 'rm', '-a'], { stdio: 'ignore', timeout: 60_000 });
    for (const m of mountsBelow(this.dir)) spawnSync('umount', ['-l', m]);
  }
}
