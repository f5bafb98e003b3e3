/**
 * Runs the stagecraft command line (`node bin/stagecraft.cjs`, what the
 * `bin/stagecraft` command starts; test/cli-launcher.test.ts covers that
 * script) in a child process, and returns its exit code and output.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../bin/stagecraft.cjs', import.meta.url));

// Tests run the sources, never a dist/ bundle that may be older than them
// (inherited by every child process a test starts, including its own spawns).
process.env.STAGECRAFT_FROM_SOURCE = '1';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Store root, passed as STAGECRAFT_ROOT. */
  root?: string;
  cwd?: string;
  /** Replaces the whole environment when given (PATH included); STAGECRAFT_ROOT is still set from `root`. */
  env?: NodeJS.ProcessEnv;
  /** Kill after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Written to the command's stdin (e.g. for --password-stdin); stdin is closed otherwise. */
  input?: string;
}

export function runCli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...(o.env ?? process.env), STAGECRAFT_FROM_SOURCE: '1' };
  if (o.root !== undefined) env.STAGECRAFT_ROOT = o.root;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd, env, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (o.input !== undefined) child.stdin!.end(o.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 600_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** The `error: ...` lines a failed command printed. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error: '));
}

/** `stagecraft build` with plain progress; extra args go before the context. */
export function cliBuild(context: string, args: string[], o: CliOptions = {}): Promise<CliResult> {
  return runCli(['build', '--progress', 'plain', ...args, context], o);
}
