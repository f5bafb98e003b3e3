/**
 * Find a working OCI runtime. runc is the default. crun is used when asked
 * for AND it can start a trivial container here: crun 1.8 (Debian 12) fails
 * on hybrid cgroup v1/v2 hosts, so we probe it and fall back to runc with a note.
 */
import { spawn } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StagecraftError } from '../errors.js';

export type RuntimeName = 'runc' | 'crun';

export interface OciRuntime {
  name: RuntimeName;
  /** Absolute path of the binary. */
  path: string;
  /** First line of `<runtime> --version`. */
  version: string;
  /** State directory passed as `--root` (keeps our containers apart from others'). */
  stateRoot: string;
  /** Why the preferred runtime was not used, when it was not. */
  note?: string;
}

export interface DetectOptions {
  /** Directories to search; default $PATH plus the sbin dirs. */
  searchPath?: string[];
  stateRoot?: string;
}

export const DEFAULT_STATE_ROOT = '/run/stagecraft/runtime';

export async function detectRuntime(preferred: RuntimeName = 'runc', opts: DetectOptions = {}): Promise<OciRuntime> {
  const dirs = opts.searchPath ?? [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  const stateRoot = opts.stateRoot ?? DEFAULT_STATE_ROOT;
  const order: RuntimeName[] = preferred === 'crun' ? ['crun', 'runc'] : ['runc', 'crun'];
  const notes: string[] = [];
  for (const name of order) {
    const bin = await findExecutable(name, dirs);
    if (!bin) { notes.push(`${name} is not installed`); continue; }
    const version = await readVersion(bin);
    if (name === 'crun') {
      const result = await probeRuntime(bin, `${stateRoot}-probe`);
      if (!result.ok) { notes.push(`crun cannot start containers here (${result.reason})`); continue; }
    }
    const rt: OciRuntime = { name, path: bin, version, stateRoot };
    if (name !== preferred && notes.length > 0) rt.note = `${notes.join('; ')}; using ${name}`;
    return rt;
  }
  throw new StagecraftError('RUNTIME', `no working OCI runtime found (${notes.join('; ')})`, {
    hint: 'install one: apt-get install runc (or crun)',
  });
}

async function findExecutable(name: string, dirs: string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const p = path.join(dir, name);
    try {
      await fs.access(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

async function readVersion(bin: string): Promise<string> {
  const r = await run(bin, ['--version']);
  return (r.stdout.split('\n')[0] ?? '').trim() || 'unknown';
}

/**
 * Start a trivial container: an empty rootfs with the host's /usr, /bin, /lib
 * bound read-only (or symlinked, on merged-/usr hosts), `true` as the process,
 * fresh mount/pid/uts namespaces. Anything but exit 0 means the runtime does
 * not work here.
 */
export async function probeRuntime(bin: string, stateRoot: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  const bundle = await fs.mkdtemp(path.join(os.tmpdir(), 'stagecraft-probe-'));
  const rootfs = path.join(bundle, 'rootfs');
  await fs.mkdir(rootfs);
  const id = `stagecraft-probe-${process.pid}-${Date.now()}`;
  const mounts: { destination: string; type: string; source: string; options: string[] }[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  ];
  for (const dir of ['usr', 'bin', 'sbin', 'lib', 'lib64']) {
    const st = await fs.lstat(`/${dir}`).catch(() => undefined);
    if (!st) continue;
    if (st.isSymbolicLink()) await fs.symlink(await fs.readlink(`/${dir}`), path.join(rootfs, dir));
    else if (st.isDirectory()) mounts.push({ destination: `/${dir}`, type: 'bind', source: `/${dir}`, options: ['rbind', 'ro'] });
  }
  const truePath = (await findExecutable('true', ['/usr/bin', '/bin'])) ?? '/bin/true';
  const spec = {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: [truePath], env: ['PATH=/usr/bin:/bin'], cwd: '/' },
    root: { path: rootfs, readonly: false },
    hostname: 'probe',
    mounts,
    linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }, { type: 'uts' }] },
  };
  try {
    await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const r = await run(bin, ['--root', stateRoot, 'run', '--bundle', bundle, id]);
    if (r.code === 0) return { ok: true };
    const reason = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 200) || `exit ${r.code}`;
    return { ok: false, reason };
  } finally {
    await run(bin, ['--root', stateRoot, 'delete', '-f', id]);
    await fs.rm(bundle, { recursive: true, force: true });
  }
}

interface RunResult { code: number; stdout: string; stderr: string }

export function run(bin: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { if (stdout.length < 65536) stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { if (stderr.length < 65536) stderr += c.toString(); });
    child.on('error', (e) => resolve({ code: -1, stdout, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
