/**
 * A private Docker daemon (Debian's docker.io) for tests that check our
 * archives load into real Docker. Everything lives in one temp directory: data
 * root, exec root (with dockerd's own containerd), socket and pid file. No
 * iptables, no bridge: the daemon only loads and inspects images.
 */
import { runCommand } from './exec.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's client, next to its daemon (another `docker` may come first in PATH). */
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const DOCKERD = existsSync('/usr/sbin/dockerd') ? '/usr/sbin/dockerd' : 'dockerd';

export interface DockerResult { code: number | null; stdout: string; stderr: string }

export interface RunningDockerd {
  /** `unix:///tmp/.../docker.sock` */
  host: string;
  /** Runs the docker client against this daemon. */
  docker(args: string[]): Promise<DockerResult>;
  stop(): Promise<void>;
}

/** Why dockerd cannot run here, or undefined when it can. */
export function dockerdSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'dockerd needs root';
  const r = spawnSync(DOCKERD, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'dockerd is not installed (apt-get install docker.io; see scripts/setup-system.sh)';
  return undefined;
}

function client(host: string, args: string[]): Promise<DockerResult> {
  return runCommand(DOCKER, ['-H', host, ...args]);
}

function mountsBelow(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

export async function startDockerd(opts: { readyTimeoutMs?: number } = {}): Promise<RunningDockerd> {
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-dockerd-'));
  const host = `unix://${join(dir, 'docker.sock')}`;
  const argv = [DOCKERD, '--iptables=false', '--ip6tables=false', '--bridge=none', '--data-root', join(dir, 'data'), '--host', host,
    '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid')];
  // --pdeathsig: the daemon dies with the test process even when handlers do not run.
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { log = (log + s).slice(-8000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const onExit = (): void => { try { child.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', onExit);

  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    for (const m of mountsBelow(dir)) spawnSync('umount', ['-l', m]);
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`dockerd exited (${child.exitCode ?? child.signalCode}) before answering: ${log.trim().slice(-2000)}`);
    }
    const r = await client(host, ['version', '--format', '{{.Server.Version}}']).catch(() => undefined);
    if (r?.code === 0) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not answer on ${host} within ${opts.readyTimeoutMs ?? 60_000} ms: ${log.trim().slice(-2000)}`);
    }
    await new Promise((r2) => setTimeout(r2, 250));
  }
  return { host, docker: (args) => client(host, args), stop };
}
