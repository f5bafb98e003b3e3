/**
 * Short helper commands (mount, umount, getfattr on a few paths) through a
 * few long-lived `/bin/sh` processes instead of one `spawn()` each.
 *
 * Why: Node 20 starts a child with fork(), and spawn() blocks the event loop
 * until the child has exec'd: 25-65 ms per process on the build VM, while
 * nothing else in the build (other stages included) can run. A small shell
 * that is already running forks its own children cheaply and off our event
 * loop (docs/performance.md, "Where the time goes").
 *
 * Protocol, one command at a time per shell: we write one line of shell
 * code; every argument is single-quoted, so nothing in it is interpreted. The
 * command's stdout goes to the shell's stdout and its stderr to a third pipe
 * (fd 3); after it exits the shell prints `\n<nonce> <status>\n` on stdout
 * and `\n<nonce>\n` on fd 3. The nonce is random per command, so command
 * output cannot fake the end of its own frame.
 *
 * Up to MAX_SHELLS shells run side by side; more concurrent callers wait in
 * a queue. The shells are started lazily, in their own session (a terminal's
 * Ctrl-C is for us, not for them; we unmount on the way out), do not keep
 * Node's event loop alive while idle, and exit when our end of their stdin
 * closes, i.e. when this process exits for any reason.
 *
 * Commands are found on the caller's $PATH by Node and run by absolute path.
 * A command that is not installed, or `STAGECRAFT_NO_HELPER_SHELL=1`, or a
 * shell that cannot start, falls back to spawn(): the results (including
 * `code: -1` and "spawn X ENOENT") are exactly what spawn() gives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { findExecutable } from './find-executable.js';
import { trySyscall } from './syscall-helper.js';

export interface HelperResult {
  /** Exit status; -1 when the command could not be started. */
  code: number;
  stdout: Buffer;
  stderr: string;
  /** spawn()'s error when the command could not be started (code -1). */
  error?: NodeJS.ErrnoException;
}

export interface HelperOptions {
  cwd?: string;
  /** Extra environment variables for this command only. */
  env?: Record<string, string>;
  /** Keep the command's stdout (default: discarded). */
  stdout?: boolean;
}

const MAX_SHELLS = 4;
const SHELL = '/bin/sh';

/** Quote one word for sh: single quotes, with each `'` written as `'\''`. */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new TypeError('a command argument cannot contain a NUL byte');
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Environment variable names that sh accepts in an assignment prefix. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The one line of shell code that runs `bin args` and then prints the frame ends. */
export function commandLine(bin: string, args: string[], nonce: string, opts: HelperOptions = {}): string {
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => {
    if (!ENV_NAME.test(k)) throw new TypeError(`not an environment variable name: ${k}`);
    return `${k}=${shellQuote(v)} `;
  }).join('');
  const out = opts.stdout ? '' : ' >/dev/null';
  const cmd = `${env}exec ${[bin, ...args].map(shellQuote).join(' ')} </dev/null${out} 2>&3 3>&-`;
  // A subshell, so `cd` and the assignments do not stay in the shell; `exec` makes it one fork.
  // The command's stderr is the shell's fd 3; the shell's own fd 2 (where it
  // reports e.g. "Terminated" for a command killed by a signal, which spawn()
  // would not show) is read and dropped.
  const body = opts.cwd === undefined ? `(${cmd})` : `(cd -- ${shellQuote(opts.cwd)} && ${cmd})`;
  return `${body}; printf '\\n%s %d\\n' ${nonce} $?; printf '\\n%s\\n' ${nonce} >&3\n`;
}

/**
 * One stream's bytes up to an end marker. Chunks are kept as they come and
 * only the last few bytes are searched again, so a large output (getfattr -R
 * of a big tree) costs one concatenation, not one per chunk.
 */
class Framed {
  private chunks: Buffer[] = [];
  private length = 0;
  private tail = Buffer.alloc(0);
  private markerAt: number | undefined;

  /**
   * Add a chunk; when `marker` has arrived, returns what follows it (so far)
   * and remembers where the body ends. With `more`, the caller may call
   * `unfinish` when what follows is still incomplete.
   */
  push(c: Buffer, marker: Buffer, more: boolean): Buffer | undefined {
    this.chunks.push(c);
    this.length += c.length;
    if (this.markerAt !== undefined) return this.after(marker);
    const window = Buffer.concat([this.tail, c]);
    const at = window.indexOf(marker);
    if (at === -1) {
      this.tail = window.subarray(Math.max(0, window.length - marker.length - 16));
      return undefined;
    }
    this.markerAt = this.length - window.length + at;
    return more ? this.after(marker) : Buffer.alloc(0);
  }

  /** The marker was found but what follows it is incomplete: wait for more. */
  unfinish(): void { /* markerAt stays; the next push returns the longer remainder */ }

  private after(marker: Buffer): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.subarray(this.markerAt! + marker.length);
  }

  /** Everything before the marker (or everything, when it never came). */
  body(): Buffer {
    const all = Buffer.concat(this.chunks);
    return this.markerAt === undefined ? all : all.subarray(0, this.markerAt);
  }
}

interface Job {
  bin: string;
  args: string[];
  opts: HelperOptions;
  resolve: (r: HelperResult) => void;
}

class HelperShell {
  private readonly child: ChildProcess;
  private job: { job: Job; nonce: string; out: Framed; err: Framed; status?: number; stderrDone: boolean } | undefined;
  dead = false;

  constructor(private readonly onIdle: (sh: HelperShell) => void, private readonly onDead: (sh: HelperShell) => void) {
    this.child = spawn(SHELL, ['-c', `trap '' INT; exec ${SHELL} -s`], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], detached: true });
    this.child.on('error', () => this.die());
    this.child.on('exit', () => this.die());
    this.child.stdin!.on('error', () => this.die());
    this.child.stdout!.on('data', (c: Buffer) => this.onStdout(c));
    this.child.stderr!.resume();
    (this.child.stdio[3] as Readable).on('data', (c: Buffer) => this.onStderr(c));
    this.setRef(false);
  }

  run(job: Job): void {
    const nonce = `sc${randomBytes(12).toString('hex')}`;
    this.job = { job, nonce, out: new Framed(), err: new Framed(), stderrDone: false };
    this.setRef(true);
    this.child.stdin!.write(commandLine(job.bin, job.args, nonce, job.opts));
  }

  private onStdout(c: Buffer): void {
    const j = this.job;
    if (!j) return;
    const end = j.out.push(c, Buffer.from(`\n${j.nonce} `), true);
    if (end === undefined) return;
    // After the marker: the status digits and a newline, then nothing (the shell waits for the next line).
    const status = /^(\d+)\n/.exec(end.toString('latin1'));
    if (!status) { j.out.unfinish(); return; }
    j.status = Number(status[1]);
    this.maybeDone();
  }

  private onStderr(c: Buffer): void {
    const j = this.job;
    if (!j) return;
    if (j.err.push(c, Buffer.from(`\n${j.nonce}\n`), false) === undefined) return;
    j.stderrDone = true;
    this.maybeDone();
  }

  private maybeDone(): void {
    const j = this.job;
    if (!j || j.status === undefined || !j.stderrDone) return;
    this.job = undefined;
    this.setRef(false);
    j.job.resolve({ code: j.status, stdout: j.out.body(), stderr: j.err.body().toString() });
    this.onIdle(this);
  }

  private die(): void {
    if (this.dead) return;
    this.dead = true;
    this.setRef(false);
    const j = this.job;
    this.job = undefined;
    this.onDead(this);
    if (j && this.child.pid === undefined) {
      // /bin/sh could not be started at all: use spawn() from now on.
      shellBroken = true;
      void spawnDirect(j.job.bin, j.job.args, j.job.opts).then(j.job.resolve);
      return;
    }
    // The shell went away mid-command (killed from outside): we cannot know
    // whether the command ran, so report it as failed to start.
    if (j) j.job.resolve({ code: -1, stdout: j.out.body(), stderr: `helper shell exited while running ${j.job.bin}` });
  }

  private setRef(on: boolean): void {
    for (const h of [this.child, ...this.child.stdio] as Array<{ ref?: () => void; unref?: () => void } | null>) {
      if (on) h?.ref?.(); else h?.unref?.();
    }
  }
}

let shellBroken = false;
const idle: HelperShell[] = [];
const all = new Set<HelperShell>();
const queue: Job[] = [];

function dispatch(): void {
  while (queue.length > 0) {
    let sh = idle.pop();
    if (!sh && all.size < MAX_SHELLS) {
      sh = new HelperShell((s) => { if (!s.dead) { idle.push(s); dispatch(); } }, (s) => {
        all.delete(s);
        const i = idle.indexOf(s);
        if (i !== -1) idle.splice(i, 1);
        dispatch();
      });
      all.add(sh);
    }
    if (!sh) return;
    if (sh.dead) continue;
    sh.run(queue.shift()!);
  }
}

/**
 * Run `cmd args` (stdin /dev/null) and collect its exit status, stderr and,
 * when asked, stdout: the same result as spawn() and waiting for 'close'.
 */
export function runHelper(cmd: string, args: string[], opts: HelperOptions = {}): Promise<HelperResult> {
  // mount, umount and getfattr in the forms stagecraft uses: system calls, no process at all.
  const fast = opts.env === undefined || Object.keys(opts.env).every((k) => k === 'LC_ALL') ? trySyscall(cmd, args, opts.cwd) : undefined;
  if (fast) return fast.then((r) => r ? { code: r.code, stdout: opts.stdout ? r.stdout : Buffer.alloc(0), stderr: r.stderr } : viaShell(cmd, args, opts));
  return viaShell(cmd, args, opts);
}

function viaShell(cmd: string, args: string[], opts: HelperOptions): Promise<HelperResult> {
  const bin = cmd.includes('/') ? cmd : findExecutable(cmd);
  if (!bin || shellBroken || process.env.STAGECRAFT_NO_HELPER_SHELL === '1') return spawnDirect(cmd, args, opts);
  return new Promise((resolve) => {
    queue.push({ bin, args, opts, resolve });
    dispatch();
  });
}

/** The plain spawn() path (fallback, and the reference the shell path must match). */
export function spawnDirect(cmd: string, args: string[], opts: HelperOptions = {}): Promise<HelperResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : undefined,
      stdio: ['ignore', opts.stdout ? 'pipe' : 'ignore', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', (e) => resolve({ code: -1, stdout: Buffer.alloc(0), stderr: e.message, error: e }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
  });
}
