/**
 * A real distribution registry (Debian's `docker-registry`) on 127.0.0.1, for
 * integration tests. Each call gets its own storage directory and port; the
 * process is killed on `stop()`, when the test process exits, and (through
 * `setpriv --pdeathsig`) when the test process dies without running handlers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StartRegistryOptions {
  /** Milliseconds to wait for `GET /v2/` to answer. Default 20 s. */
  readyTimeoutMs?: number;
  /** Registry log level. Default 'error' (set STAGECRAFT_REGISTRY_LOG=debug to override). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Storage root (filesystem driver). */
  storageDir: string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
  });
}

let setprivAvailable: boolean | undefined;
function hasSetpriv(): boolean {
  if (setprivAvailable === undefined) {
    const r = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    setprivAvailable = r.status === 0 && r.stdout.includes('--pdeathsig');
  }
  return setprivAvailable;
}

/** A port that was free a moment ago (the caller retries if it is taken since). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function configYaml(storageDir: string, host: string, logLevel: string): string {
  return [
    'version: 0.1',
    'log:',
    `  level: ${logLevel}`,
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    '',
  ].join('\n');
}

async function waitReady(url: string, child: ChildProcess, stderr: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before answering: ${stderr().trim().slice(-2000)}`);
    }
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      throw new Error(`docker-registry did not answer GET ${url}/v2/ within ${timeoutMs} ms: ${stderr().trim().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startOnce(opts: StartRegistryOptions): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-registry-'));
  const storageDir = join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const logLevel = process.env.STAGECRAFT_REGISTRY_LOG ?? opts.logLevel ?? 'error';
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, configYaml(storageDir, host, logLevel));

  const argv = ['docker-registry', 'serve', configPath];
  const [cmd, ...args] = hasSetpriv() ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
  installExitHook();
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let errText = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    errText = (errText + s).slice(-16_384);
    if (logLevel === 'debug' || logLevel === 'info') process.stderr.write(s);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => { live.delete(child); resolve(); });
  });
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start docker-registry: ${e.message} (install it with scripts/setup-system.sh)`)));
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await Promise.race([waitReady(url, child, () => errText, opts.readyTimeoutMs ?? 20_000), spawnFailed]);
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, url, storageDir, stop };
}

/** Starts a fresh, empty registry on 127.0.0.1 and waits until it answers. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  let lastError: unknown;
  // The free port can be taken between probing and binding; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      lastError = e;
      if (!(e instanceof Error) || !/address already in use/i.test(e.message)) throw e;
    }
  }
  throw lastError;
}
