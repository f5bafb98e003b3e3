/**
 * Run one process in a container over a prepared rootfs with runc (or crun):
 * write a bundle (config.json, hosts, resolv.conf), `runc run` in the
 * foreground without a TTY, stream its output in whole lines, and always clean
 * up (`runc delete -f`, bundle dir) — after success, failure or abort.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StagecraftError } from '../errors.js';
import { runHelper } from '../util/helper-shell.js';
import { run as runTool, type OciRuntime } from './detect.js';
import { hostsFile, resolvConf } from './etc-files.js';
import { LineSplitter } from './line-splitter.js';
import { generateSpec, type ExtraMount, type NetworkMode, type ProcessUser } from './spec.js';

export type OutputStream = 'stdout' | 'stderr';

export interface RunContainerOptions {
  runtime: OciRuntime;
  /** The merged rootfs (an overlay mount). */
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  user: ProcessUser;
  /** Default 'buildkitsandbox', as in BuildKit. */
  hostname?: string;
  network: NetworkMode;
  extraMounts?: ExtraMount[];
  /** /etc/hosts for the step; default: localhost lines + hostname. */
  hostsContent?: string;
  /** /etc/resolv.conf for the step; default: the host's, filtered for network 'none'. */
  resolvConfContent?: string;
  /** Whole lines (or 64 KiB pieces of very long ones) as they arrive. */
  onOutput?: (stream: OutputStream, chunk: Buffer) => void;
  signal?: AbortSignal;
  cgroupsPath?: string;
}

export interface RunContainerResult {
  exitCode: number;
  /**
   * Signal name when the process was killed by a signal. runc reports that as
   * exit code 128+n, so a process that itself exits 137 reads as SIGKILL too.
   */
  signal?: string;
  durationMs: number;
}

export const DEFAULT_HOSTNAME = 'buildkitsandbox';

export async function runContainer(o: RunContainerOptions): Promise<RunContainerResult> {
  o.signal?.throwIfAborted();
  const started = Date.now();
  const hostname = o.hostname ?? DEFAULT_HOSTNAME;
  // The bundle's few small files are written synchronously: microseconds each, where each took a
  // thread-pool round trip (~0.5-1 ms on the build VM) before runc could start.
  const bundle = mkdtempSync(path.join(os.tmpdir(), 'stagecraft-bundle-'));
  const id = `stagecraft-${randomBytes(8).toString('hex')}`;
  const rt = o.runtime;
  const logPath = path.join(bundle, 'runtime.log');
  let aborted = false;
  try {
    const hostsPath = path.join(bundle, 'hosts');
    const resolvPath = path.join(bundle, 'resolv.conf');
    writeFileSync(hostsPath, o.hostsContent ?? hostsFile(hostname), { mode: 0o644 });
    const hostResolv = o.resolvConfContent ?? resolvConf(readSmall('/etc/resolv.conf'), o.network);
    writeFileSync(resolvPath, hostResolv, { mode: 0o644 });
    const spec = generateSpec({
      rootfs: path.resolve(o.rootfs), args: o.args, env: o.env, cwd: o.cwd, user: o.user, hostname,
      network: o.network, hostsPath, resolvConfPath: resolvPath, extraMounts: o.extraMounts, cgroupsPath: o.cgroupsPath,
      nofile: nofileLimit(),
    });
    writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

    const child = spawn(rt.path, ['--root', rt.stateRoot, '--log', logPath, '--log-format', 'json', 'run', '--bundle', bundle, id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const splitters = {
      stdout: new LineSplitter((c) => o.onOutput?.('stdout', c)),
      stderr: new LineSplitter((c) => o.onOutput?.('stderr', c)),
    };
    child.stdout.on('data', (c: Buffer) => splitters.stdout.push(c));
    child.stderr.on('data', (c: Buffer) => splitters.stderr.push(c));

    const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve, reject) => {
      child.on('error', (e) => reject(new StagecraftError('RUNTIME', `could not start ${rt.name}: ${e.message}`, { cause: e, hint: 'apt-get install runc' })));
      child.on('close', (code, sig) => resolve({ code, sig }));
    });

    // On abort, kill the container (not just runc, which would orphan it) until runc returns.
    let killer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      aborted = true;
      const kill = (): void => {
        void runTool(rt.path, ['--root', rt.stateRoot, 'kill', id, 'KILL']);
      };
      kill();
      killer = setInterval(kill, 200);
      // A container that never got created: stop runc itself after a grace period.
      setTimeout(() => { if (child.exitCode === null) child.kill('SIGKILL'); }, 5000).unref();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort(); // aborted while the bundle was being written
    let result: { code: number | null; sig: NodeJS.Signals | null };
    try {
      result = await exited;
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      if (killer) clearInterval(killer);
      splitters.stdout.flush();
      splitters.stderr.flush();
    }
    if (aborted) throw o.signal?.reason ?? new StagecraftError('RUN_FAILED', 'the step was aborted');

    const runtimeError = await readRuntimeError(logPath);
    if (runtimeError) {
      throw new StagecraftError('RUNTIME', `${rt.name} could not run the step: ${runtimeError}`);
    }
    const durationMs = Date.now() - started;
    if (result.sig) {
      const n = os.constants.signals[result.sig] ?? 9;
      return { exitCode: 128 + n, signal: result.sig, durationMs };
    }
    const exitCode = result.code ?? 255;
    const sig = exitCode > 128 ? signalName(exitCode - 128) : undefined;
    return sig ? { exitCode, signal: sig, durationMs } : { exitCode, durationMs };
  } finally {
    // `runc run` has normally removed the container already (its state
    // directory is gone); the delete is the safety net for when it has not
    // (runc killed, aborted): another Go process start, ~20 ms, so only then.
    if (existsSync(path.join(rt.stateRoot, id))) {
      await runHelper(rt.path, ['--root', rt.stateRoot, 'delete', '-f', id]);
    }
    rmSync(bundle, { recursive: true, force: true }); // five small files
  }
}

/**
 * RLIMIT_NOFILE for the step: 1048576 like dockerd, but never above our own
 * hard limit (the container has no CAP_SYS_RESOURCE to raise it further).
 */
function nofileLimit(): number {
  const want = 1048576;
  const text = readSmall('/proc/self/limits');
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m || m[2] === 'unlimited') return want;
  const hard = Number(m[2]);
  return Number.isFinite(hard) && hard > 0 ? Math.min(want, hard) : want;
}

/** The runtime's own error (not the process's), from its JSON log. */
async function readRuntimeError(logPath: string): Promise<string | undefined> {
  const text = readSmall(logPath);
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line) as { level?: string; msg?: string };
      if (rec.level === 'error' && rec.msg) last = rec.msg;
    } catch {
      // crun writes plain text lines; treat any as an error message.
      last = line.trim();
    }
  }
  return last;
}

function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(os.constants.signals)) if (num === n) return name;
  return undefined;
}

/** A small file's text, or '' when it cannot be read. */
function readSmall(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
