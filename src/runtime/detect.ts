/**
 * Find a working OCI runtime. runc is the default. crun is used when asked
 * for AND it can start a trivial container here: crun 1.8 (Debian 12) fails
 * on hybrid cgroup v1/v2 hosts, so we probe it and fall back to runc with a note.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, promises as fs, readFileSync, statSync } from 'node:fs';
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

/** crun probe results for this process (a probe starts a container). */
const probeCache = new Map<string, { ok: true } | { ok: false; reason: string }>();

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
      const probeKey = `${bin}\0${stateRoot}`;
      let result = probeCache.get(probeKey);
      if (!result) { result = await probeRuntime(bin, `${stateRoot}-probe`); probeCache.set(probeKey, result); }
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

// The lookups before a build's first RUN are synchronous: a dozen access(2) calls along PATH and
// two small reads took 5-7 ms, one thread-pool round trip after another, on the build VM.
async function findExecutable(name: string, dirs: string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

/**
 * `<runtime> --version`, remembered: starting a process costs this process
 * tens of ms of blocked event loop (docs/performance.md), and the answer only
 * changes when the binary does. Kept for the life of the process and, across
 * processes, in VERSION_CACHE (on /run: gone at reboot), both keyed by the
 * binary's path, size, mtime and inode.
 */
async function readVersion(bin: string): Promise<string> {
  const st = statSync(bin, { throwIfNoEntry: false });
  const key = st ? `${bin}\0${st.size}\0${st.mtimeMs}\0${st.ino}` : undefined;
  if (key !== undefined) {
    const known = versionCache.get(key) ?? readVersionFile()[key];
    if (typeof known === 'string' && known !== '') { versionCache.set(key, known); return known; }
  }
  const r = await run(bin, ['--version']);
  const version = (r.stdout.split('\n')[0] ?? '').trim() || 'unknown';
  if (key !== undefined && r.code === 0 && version !== 'unknown') {
    versionCache.set(key, version);
    await writeVersionFile(key, version);
  }
  return version;
}

/** Where `--version` answers are kept between processes. */
export const VERSION_CACHE = '/run/stagecraft/runtime-versions.json';
const versionCache = new Map<string, string>();

function readVersionFile(): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(readFileSync(VERSION_CACHE, 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Best effort: a cache that cannot be written only costs the next build one process. */
async function writeVersionFile(key: string, version: string): Promise<void> {
  try {
    const all = { ...readVersionFile(), [key]: version };
    // Keep it small: the newest 16 binaries.
    const entries = Object.entries(all).slice(-16);
    await fs.mkdir(path.dirname(VERSION_CACHE), { recursive: true });
    const tmp = `${VERSION_CACHE}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(Object.fromEntries(entries)));
    await fs.rename(tmp, VERSION_CACHE);
  } catch { /* ignore */ }
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
