/**
 * mount, umount, getfattr and `sync -f` without starting a process: a
 * long-lived Perl process makes the system calls (mount(2), umount2(2),
 * llistxattr(2), lgetxattr(2), syncfs(2)) itself and answers with what the command would have printed.
 *
 * Why: even through a helper shell (helper-shell.ts) every one of these is a
 * fork and an exec of util-linux's mount or attr's getfattr, 5-15 ms each on
 * the build VM, and a RUN step needs four of them (mount, two xattr reads,
 * umount), a COPY --from six. The system calls themselves take well under a
 * millisecond. Node has no binding for them; Perl's `syscall` does, and Perl
 * is Essential on Debian (perl-base), so it is on every machine that has the
 * attr and mount tools.
 *
 * Only the exact argument forms stagecraft itself uses are served (see
 * `fastRequest`); anything else, a machine without perl, an architecture whose
 * syscall numbers we do not list, or STAGECRAFT_NO_SYSCALL_HELPER=1 goes the
 * old way. Results match what the tools give: exit status, the error text the
 * callers match on (busy, not mounted, unknown filesystem type, permission),
 * and getfattr's `-d -m - -e hex --absolute-names` dump format.
 *
 * The first helper of a build is usually started before node is: bin/stagecraft
 * forks bin/syscall-helper-stub.pl, which waits on a root-only unix socket for
 * this process alone and, once connected, runs the same script over the
 * socket. Node's spawn of a helper blocks it 10-14 ms and Perl's start-up
 * takes as long again; the stub does both while node starts. When the socket
 * is not there or refuses, the request goes to a spawned helper as before.
 *
 * Protocol: one request line per command, `<id> <op> x<hex> x<hex> ...`
 * (every argument hex-encoded, so no byte needs quoting); one answer,
 * `R <id> <status> <stdout bytes> <stderr bytes>\n` followed by those bytes.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { arch } from 'node:os';
import { findExecutable } from './find-executable.js';

export interface SyscallResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** mount, umount2, llistxattr, lgetxattr, syncfs. */
const SYSCALLS: Record<string, readonly [number, number, number, number, number]> = {
  x64: [165, 166, 195, 192, 306],
  arm64: [40, 39, 12, 9, 267],
};

// No `use strict; use warnings;` in the script: loading them is ~2.5 ms of the helper's start on the build VM.
// No %! either: it loads Errno.pm (and Exporter, strict) as the script compiles, ~4 ms more. The errno
// numbers below are asm-generic's, which both architectures in SYSCALLS use.
const SCRIPT = String.raw`
my ($NR_mount, $NR_umount2, $NR_llistxattr, $NR_lgetxattr, $NR_syncfs) = @ARGV;
my ($ENOENT, $ENODEV, $EINVAL, $ENODATA, $EOPNOTSUPP) = (2, 19, 22, 61, 95);
binmode STDIN; binmode STDOUT; $| = 1;
my $lbuf = "\0" x 65536;
my $vbuf = "\0" x 65536;
my ($out, $err, $code);
sub fail { my ($msg) = @_; $err .= "$msg\n"; $code = 1; }
sub quote { my ($s) = @_; $s =~ s/([\x00-\x1f\x7f-\xff\\])/sprintf("\\%03o", ord($1))/ge; return $s; }
sub dump_xattrs {
  my ($p) = @_;
  my $n = syscall($NR_llistxattr, $p, $lbuf, 65536);
  if ($n < 0) {
    return if $! == $EOPNOTSUPP;
    fail("getfattr: $p: $!"); return;
  }
  return if $n == 0;
  my @names = sort grep { length } split /\0/, substr($lbuf, 0, $n);
  my $text = '';
  for my $name (@names) {
    my $m = syscall($NR_lgetxattr, $p, $name, $vbuf, 65536);
    if ($m < 0) { next if $! == $ENODATA; fail("getfattr: $p: $!"); next; }
    $text .= $name . '=0x' . unpack('H*', substr($vbuf, 0, $m)) . "\n";
  }
  $out .= '# file: ' . quote($p) . "\n" . $text . "\n" if length $text;
}
sub walk {
  my ($p) = @_;
  dump_xattrs($p);
  my @st = lstat($p);
  return unless @st && -d _;
  my $dh;
  unless (opendir($dh, $p)) { fail("getfattr: $p: $!"); return; }
  my @names = grep { $_ ne '.' && $_ ne '..' } readdir($dh);
  closedir($dh);
  for my $name (@names) {
    my $c = $p eq '/' ? "/$name" : "$p/$name";
    walk($c);
  }
}
while (defined(my $line = <STDIN>)) {
  chomp $line;
  my ($id, $op, @args) = split / /, $line;
  @args = map { pack('H*', substr($_, 1)) } @args;
  ($out, $err, $code) = ('', '', 0);
  if ($op eq 'mount') {
    my ($cwd, $source, $target, $fstype, $flags, $data) = @args;
    if (!chdir($cwd)) { fail("mount: $cwd: $!"); $code = 32; }
    elsif (syscall($NR_mount, $source, $target, $fstype, $flags + 0, $data) != 0) {
      my $e = $!;
      $err = $! == $ENODEV ? "mount: $target: unknown filesystem type '$fstype'.\n" : "mount: $target: $e.\n";
      $code = 32;
    }
    chdir('/');
  } elsif ($op eq 'umount') {
    my ($target, $flags) = @args;
    if (syscall($NR_umount2, $target, $flags + 0) != 0) {
      $err = $! == $EINVAL ? "umount: $target: not mounted.\n" : $! == $ENOENT ? "umount: $target: no mount point specified.\n" : "umount: $target: $!.\n";
      $code = 32;
    }
  } elsif ($op eq 'syncfs') {
    my ($p) = @args;
    my $dh;
    if (!opendir($dh, $p)) { ($err, $code) = ("sync: error opening '$p': $!\n", 1); }
    else {
      if (syscall($NR_syncfs, fileno($dh) + 0) != 0) { ($err, $code) = ("sync: error syncing '$p': $!\n", 1); }
      closedir($dh);
    }
  } elsif ($op eq 'xattrs') {
    my ($recursive, @paths) = @args;
    for my $p (@paths) {
      if (!lstat($p)) { fail("getfattr: $p: $!"); next; }
      if ($recursive) { walk($p); } else { dump_xattrs($p); }
    }
  } else {
    ($err, $code) = ("unknown request $op\n", 2);
  }
  print "R $id $code " . length($out) . ' ' . length($err) . "\n" . $out . $err;
}
`;

type Request = { op: 'mount'; cwd: string; source: string; target: string; fstype: string; flags: number; data: string }
  | { op: 'umount'; target: string; flags: number }
  | { op: 'xattrs'; recursive: boolean; paths: string[] }
  | { op: 'syncfs'; path: string };

const MS_RDONLY = 1;
const MNT_DETACH = 2;

/**
 * The request for `cmd args` when it is one of the forms the helper serves,
 * else undefined (the caller runs the real tool).
 */
export function fastRequest(cmd: string, args: readonly string[], cwd: string | undefined): Request | undefined {
  const name = cmd.slice(cmd.lastIndexOf('/') + 1);
  if (name === 'mount') {
    // [-r] -t TYPE SOURCE -o OPTIONS TARGET (src/fs/overlay.ts)
    let i = 0;
    let flags = 0;
    if (args[i] === '-r') { flags |= MS_RDONLY; i++; }
    if (args[i] !== '-t' || args[i + 3] !== '-o' || args.length !== i + 6) return undefined;
    const [fstype, source, , data, target] = args.slice(i + 1) as [string, string, string, string, string];
    if (!target.startsWith('/')) return undefined;
    return { op: 'mount', cwd: cwd ?? '/', source, target, fstype, flags, data };
  }
  if (name === 'umount') {
    if (args.length === 1 && args[0]!.startsWith('/')) return { op: 'umount', target: args[0]!, flags: 0 };
    if (args.length === 2 && args[0] === '-l' && args[1]!.startsWith('/')) return { op: 'umount', target: args[1]!, flags: MNT_DETACH };
    return undefined;
  }
  if (name === 'sync') {
    // -f DIR: syncfs(2) of the filesystem holding DIR (coreutils sync -f)
    if (args.length === 2 && args[0] === '-f' && args[1]!.startsWith('/')) return { op: 'syncfs', path: args[1]! };
    return undefined;
  }
  if (name === 'getfattr') {
    // [-R] [-P] -h -d -m - -e hex --absolute-names -- PATH... (absolute paths)
    const sep = args.indexOf('--');
    if (sep === -1) return undefined;
    const flags = args.slice(0, sep);
    const paths = args.slice(sep + 1);
    const recursive = flags.includes('-R');
    const rest = flags.filter((f) => f !== '-R' && f !== '-P');
    const expected = ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names'];
    if (rest.length !== expected.length || rest.some((f, k) => f !== expected[k])) return undefined;
    if (recursive && !flags.includes('-P')) return undefined;
    if (paths.length === 0 || paths.some((p) => !p.startsWith('/'))) return undefined;
    return { op: 'xattrs', recursive, paths };
  }
  return undefined;
}

function encode(id: number, r: Request): string {
  const hex = (s: string | number) => `x${Buffer.from(String(s), 'utf8').toString('hex')}`;
  const parts = r.op === 'mount' ? [r.cwd, r.source, r.target, r.fstype, r.flags, r.data]
    : r.op === 'umount' ? [r.target, r.flags]
    : r.op === 'syncfs' ? [r.path]
    : [r.recursive ? '1' : '', ...r.paths];
  return `${id} ${r.op} ${parts.map(hex).join(' ')}\n`;
}

interface Pending { id: number; req: Request; resolve: (r: SyscallResult | undefined) => void }

/** The two ends of a helper: a spawned Perl's pipes, or the socket of the one bin/stagecraft started. */
interface Channel {
  input: Writable;
  output: Readable;
  /** What keeps node running while a request is out (ref) and not while the helper idles (unref). */
  handles: readonly unknown[];
  kill(): void;
}

function spawned(perl: string, numbers: readonly number[], die: () => void): Channel {
  const child = spawn(perl, ['-e', SCRIPT, ...numbers.map(String)], { stdio: ['pipe', 'pipe', 'ignore'], detached: true });
  child.on('error', die);
  child.on('exit', die);
  child.stdin!.on('error', die);
  return { input: child.stdin!, output: child.stdout!, handles: [child, child.stdin, child.stdout], kill: () => child.kill('SIGKILL') };
}

function connected(path: string, numbers: readonly number[], die: () => void): Channel {
  const sock = connect(path);
  sock.on('error', die);
  sock.on('close', die);
  // The stub reads its script first (bin/syscall-helper-stub.pl).
  sock.write(`S ${Buffer.byteLength(SCRIPT)} ${numbers.join(' ')}\n${SCRIPT}`);
  return { input: sock, output: sock, handles: [sock], kill: () => sock.destroy() };
}

class SyscallProcess {
  private readonly channel: Channel;
  private buf: Buffer = Buffer.alloc(0);
  private current: Pending | undefined;
  dead = false;
  /** Whether it has answered a request: a prestarted helper that never did hands its request back. */
  answered = false;

  constructor(perl: string, numbers: readonly number[], private readonly onIdle: (p: SyscallProcess) => void,
    private readonly onDead: (p: SyscallProcess, unanswered: Pending | undefined) => void, readonly socketPath?: string) {
    const die = () => this.die();
    this.channel = socketPath !== undefined ? connected(socketPath, numbers, die) : spawned(perl, numbers, die);
    this.channel.output.on('data', (c: Buffer) => this.onData(c));
    this.setRef(false);
  }

  run(p: Pending): void {
    this.current = p;
    this.setRef(true);
    this.channel.input.write(encode(p.id, p.req));
  }

  private onData(c: Buffer): void {
    this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
    const p = this.current;
    if (!p) return;
    const nl = this.buf.indexOf(10);
    if (nl === -1) return;
    const m = /^R (\d+) (\d+) (\d+) (\d+)$/.exec(this.buf.subarray(0, nl).toString('latin1'));
    if (!m || Number(m[1]) !== p.id) { this.channel.kill(); this.die(); return; }
    const outLen = Number(m[3]);
    const errLen = Number(m[4]);
    if (this.buf.length < nl + 1 + outLen + errLen) return;
    const stdout = Buffer.from(this.buf.subarray(nl + 1, nl + 1 + outLen));
    const stderr = this.buf.subarray(nl + 1 + outLen, nl + 1 + outLen + errLen).toString('utf8');
    this.buf = Buffer.alloc(0);
    this.current = undefined;
    this.answered = true;
    this.setRef(false);
    p.resolve({ code: Number(m[2]), stdout, stderr });
    this.onIdle(this);
  }

  private die(): void {
    if (this.dead) return;
    this.dead = true;
    this.setRef(false);
    const p = this.current;
    this.current = undefined;
    this.onDead(this, p);
  }

  private setRef(on: boolean): void {
    for (const h of this.channel.handles as Array<{ ref?: () => void; unref?: () => void } | null>) {
      if (on) h?.ref?.(); else h?.unref?.();
    }
  }
}

const MAX_PROCESSES = 2;
let disabled: boolean | undefined;
let perlPath: string | undefined;
let nextId = 1;
const idle: SyscallProcess[] = [];
const all = new Set<SyscallProcess>();
const queue: Array<{ req: Request; resolve: Pending['resolve'] }> = [];
/** Where bin/stagecraft's prestarted helper listens, until the first helper is needed. */
let prestarted: string | undefined;

function available(): boolean {
  if (disabled === undefined) {
    perlPath = findExecutable('perl');
    disabled = process.env.STAGECRAFT_NO_SYSCALL_HELPER === '1' || !perlPath || !SYSCALLS[arch()] || process.getuid?.() !== 0;
    // Claimed once, by this process: bin/stagecraft.cjs took it out of the environment.
    const key = Symbol.for('stagecraft.helperSocket');
    const g = globalThis as Record<symbol, unknown>;
    if (typeof g[key] === 'string') prestarted = g[key];
    g[key] = undefined;
  }
  return !disabled;
}

function onDead(s: SyscallProcess, unanswered: Pending | undefined): void {
  all.delete(s);
  const i = idle.indexOf(s);
  if (i !== -1) idle.splice(i, 1);
  if (s.socketPath !== undefined && !s.answered) {
    // The prestarted helper was not there (no perl, no /run, refused): nothing it was sent ran.
    // Spawn one as if it had never been offered.
    if (unanswered) queue.unshift({ req: unanswered.req, resolve: unanswered.resolve });
  } else {
    // Whether a request in flight was carried out is unknown only for mount/umount, whose
    // callers check the mount table state by retrying; answer "not served" so the real tool runs.
    unanswered?.resolve(undefined);
    if (all.size === 0 && queue.length > 0) {
      // Perl would not start or keeps dying: stop using it, serve the queue the old way.
      disabled = true;
      for (const q of queue.splice(0)) q.resolve(undefined);
    }
  }
  dispatch();
}

/** A new helper: the prestarted one the first time (when there is one), else a spawned one. */
function startProcess(): SyscallProcess {
  const socketPath = prestarted;
  prestarted = undefined;
  const p = new SyscallProcess(perlPath!, SYSCALLS[arch()]!, (s) => { if (!s.dead) { idle.push(s); dispatch(); } }, onDead, socketPath);
  all.add(p);
  return p;
}

function dispatch(): void {
  while (queue.length > 0) {
    let p = idle.pop();
    if (!p && all.size < MAX_PROCESSES) p = startProcess();
    if (!p) return;
    if (p.dead) continue;
    const q = queue.shift()!;
    p.run({ id: nextId++, req: q.req, resolve: q.resolve });
  }
}

/**
 * Connects to bin/stagecraft's prestarted helper now, before any request, so
 * that it has read and compiled its script by the time a step mounts its
 * snapshot. A build calls this while it plans: the first request otherwise
 * waited for the connection, the script's transfer and compilation (4-5 ms
 * of a one-file rebuild's COPY on the build VM, against ~1 ms for a mount
 * once the helper runs). Nothing happens when there is no prestarted helper
 * or one is already connected; an unused connection costs the helper's
 * compile on its own core and nothing in this process but the connect.
 */
export function warmSyscallHelper(): void {
  if (!available() || prestarted === undefined || all.size > 0) return;
  idle.push(startProcess());
}

/**
 * Runs `cmd args` as a system call when it is one of the served forms;
 * resolves undefined when it is not (or the helper is unavailable), and the
 * caller then runs the real command.
 */
export function trySyscall(cmd: string, args: readonly string[], cwd?: string): Promise<SyscallResult | undefined> | undefined {
  if (!available()) return undefined;
  const req = fastRequest(cmd, args, cwd);
  if (!req) return undefined;
  return new Promise((resolve) => {
    queue.push({ req, resolve });
    dispatch();
  });
}
