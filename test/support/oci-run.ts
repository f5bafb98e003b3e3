/**
 * Run a built image for real, the way a container engine would, without
 * going through stagecraft's own runtime code: take the image out of the
 * store, make a root filesystem, write an OCI runtime config from the image
 * config (Entrypoint + Cmd, Env, WorkingDir, User) and `runc run` it.
 *
 * Two ways to get the root filesystem:
 * - 'overlay' (default, fast): read index.json/blobs of the store root (an
 *   OCI-layout-shaped directory) and mount an overlay of the store's unpacked
 *   layer dirs, with a scratch upper dir so the store is never written.
 * - 'umoci': `stagecraft save --format oci`, then `umoci unpack` — an
 *   independent reader of our archive and of our layer tars.
 *
 * The container gets its own network namespace with no interfaces (offline),
 * pid/ipc/uts/mount namespaces, Docker's default capabilities.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './cli.js';

export interface ImageConfigFields {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object> | null;
}

export interface StoredImage {
  manifestDigest: string;
  manifest: { config: { digest: string }; layers: Array<{ digest: string; mediaType: string; size: number }> };
  configDigest: string;
  config: {
    architecture: string;
    os: string;
    config?: ImageConfigFields;
    rootfs: { type: string; diff_ids: string[] };
    history?: Array<{ created?: string; created_by?: string; empty_layer?: boolean; comment?: string }>;
  };
}

const hex = (d: string): string => d.replace(/^sha256:/, '');

/** Reads an image from a store root by full reference (`127.0.0.1:5000/app:1`, `docker.io/library/app:1`) or manifest digest. */
export async function readStoredImage(root: string, refOrDigest: string): Promise<StoredImage> {
  let manifestDigest = refOrDigest;
  if (!/^sha256:[a-f0-9]{64}$/.test(refOrDigest)) {
    const index = JSON.parse(await readFile(join(root, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
    const hit = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === refOrDigest);
    if (!hit) throw new Error(`no tag ${refOrDigest} in ${root}/index.json (tags: ${index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).join(', ')})`);
    manifestDigest = hit.digest;
  }
  const manifest = JSON.parse(await readFile(join(root, 'blobs', 'sha256', hex(manifestDigest)), 'utf8')) as StoredImage['manifest'];
  const configDigest = manifest.config.digest;
  const config = JSON.parse(await readFile(join(root, 'blobs', 'sha256', hex(configDigest)), 'utf8')) as StoredImage['config'];
  return { manifestDigest, manifest, configDigest, config };
}

// ---------------------------------------------------------------------------
// Processes

interface ToolResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function tool(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run ${cmd}: ${e.message}`)); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

async function must(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await tool(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------
// Root filesystems

export interface Rootfs {
  /** The image's merged filesystem (writable; writes go to scratch space). */
  path: string;
  image: StoredImage;
  /** Unmount and remove the scratch space; safe to call twice. */
  release(): Promise<void>;
}

export type RootfsSource = 'overlay' | 'umoci';

/** Mounts (or unpacks) the image's filesystem; call `release()` when done. */
export async function openRootfs(root: string, ref: string, via: RootfsSource = 'overlay'): Promise<Rootfs> {
  const image = await readStoredImage(root, ref);
  const scratch = await mkdtemp(join(tmpdir(), 'stagecraft-ocirun-'));
  if (via === 'umoci') {
    try {
      const rootfs = await unpackWithUmoci(root, ref, image, scratch);
      return { path: rootfs, image, release: () => rm(scratch, { recursive: true, force: true }) };
    } catch (e) {
      await rm(scratch, { recursive: true, force: true });
      throw e;
    }
  }
  const layersDir = join(root, 'layers');
  // Topmost first; relative names (run from layersDir) keep the option string short.
  const lowers = image.config.rootfs.diff_ids.map(hex).reverse();
  for (const l of lowers) {
    if (!existsSync(join(layersDir, l))) throw new Error(`layer dir ${join(layersDir, l)} is missing from the store`);
  }
  const empty = join(scratch, 'empty');
  await mkdir(empty);
  const upper = join(scratch, 'upper');
  const work = join(scratch, 'work');
  const merged = join(scratch, 'rootfs');
  for (const d of [upper, work, merged]) await mkdir(d);
  const lowerOpt = (lowers.length > 0 ? lowers : [empty]).join(':');
  await must('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerOpt},upperdir=${upper},workdir=${work}`, merged], { cwd: layersDir });
  let released = false;
  return {
    path: merged,
    image,
    release: async () => {
      if (released) return;
      released = true;
      await must('umount', [merged]);
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

async function unpackWithUmoci(root: string, ref: string, image: StoredImage, scratch: string): Promise<string> {
  const archive = join(scratch, 'image.tar');
  const saved = await runCli(['save', '--format', 'oci', '-o', archive, ref], { root });
  if (saved.code !== 0) throw new Error(`stagecraft save --format oci ${ref} failed (${saved.code}): ${saved.stderr.trim()}`);
  const layout = join(scratch, 'layout');
  await mkdir(layout);
  await must('tar', ['-xf', archive, '-C', layout]);
  // Name the manifest we want for umoci, whatever the archive called it.
  const indexPath = join(layout, 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  // The archive may re-encode the manifest (compressed layers); the config is the image's identity.
  let entry: (typeof index.manifests)[number] | undefined;
  for (const m of index.manifests) {
    const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', hex(m.digest)), 'utf8')) as { config?: { digest?: string } };
    if (manifest.config?.digest === image.configDigest) entry = m;
  }
  if (!entry) throw new Error(`the OCI archive of ${ref} has no manifest with config ${image.configDigest}`);
  entry.annotations = { ...entry.annotations, 'org.opencontainers.image.ref.name': 'oci-run' };
  index.manifests = [entry];
  await writeFile(indexPath, JSON.stringify(index));
  const bundle = join(scratch, 'bundle');
  await must('umoci', ['unpack', '--image', `${layout}:oci-run`, bundle]);
  await rm(archive, { force: true });
  return join(bundle, 'rootfs');
}

/** Opens the image's filesystem, runs `fn` on its path, always releases. */
export async function withRootfs<T>(root: string, ref: string, fn: (rootfs: string, image: StoredImage) => Promise<T>, via: RootfsSource = 'overlay'): Promise<T> {
  const fs = await openRootfs(root, ref, via);
  try {
    return await fn(fs.path, fs.image);
  } finally {
    await fs.release();
  }
}

/** Whether `path` (absolute, inside the image) exists, without following a final symlink. */
export async function existsIn(rootfs: string, path: string): Promise<boolean> {
  try {
    await lstat(join(rootfs, path));
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Users

export interface ProcessUser { uid: number; gid: number; additionalGids: number[]; home: string }

function table(text: string): string[][] {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

/** Resolves a config User (`name`, `uid`, `name:group`, `uid:gid`) with the image's /etc/passwd and /etc/group, as Docker does. */
export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ProcessUser> {
  const passwd = table(await readFile(join(rootfs, 'etc/passwd'), 'utf8').catch(() => ''));
  const groups = table(await readFile(join(rootfs, 'etc/group'), 'utf8').catch(() => ''));
  const [userPart = '', groupPart] = (spec ?? '').split(':');
  const u = userPart === '' ? passwd.find((p) => p[2] === '0') ?? ['root', 'x', '0', '0', '', '/'] : passwd.find((p) => p[0] === userPart || p[2] === userPart);
  let uid: number;
  let gid: number;
  let home = '/';
  let name: string | undefined;
  if (u) {
    name = u[0];
    uid = Number(u[2]);
    gid = Number(u[3]);
    home = u[5] || '/';
  } else if (/^\d+$/.test(userPart)) {
    // A numeric uid not in passwd keeps the default group 0 (as runc's user lookup does).
    uid = Number(userPart);
    gid = 0;
  } else {
    throw new Error(`user ${userPart} is not in the image's /etc/passwd`);
  }
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((x) => x[0] === groupPart || x[2] === groupPart);
    if (g) gid = Number(g[2]);
    else if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else throw new Error(`group ${groupPart} is not in the image's /etc/group`);
  }
  const additionalGids = name === undefined || groupPart
    ? []
    : groups.filter((g) => (g[3] ?? '').split(',').includes(name!)).map((g) => Number(g[2])).filter((g) => g !== gid);
  return { uid, gid, additionalGids, home };
}

// ---------------------------------------------------------------------------
// Running

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

export interface RunOverrides {
  /** Replaces Cmd (like `docker run IMAGE args...`). */
  args?: string[];
  /** Replaces Entrypoint (and drops Cmd unless `args` is given), like `docker run --entrypoint`. */
  entrypoint?: string[];
  /** Extra NAME=value pairs, after the image's Env. */
  env?: string[];
  user?: string;
  workingDir?: string;
}

/** The process part of an OCI runtime config for an image config, as `docker run` would start it. */
export async function processSpec(rootfs: string, cfg: ImageConfigFields, o: RunOverrides = {}) {
  const entrypoint = o.entrypoint ?? cfg.Entrypoint ?? [];
  const cmd = o.args ?? (o.entrypoint ? [] : cfg.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new Error('the image has no Entrypoint or Cmd and no command was given');
  const user = await resolveUser(rootfs, o.user ?? cfg.User);
  const env = [...(cfg.Env ?? []), ...(o.env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
  return {
    terminal: false,
    user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
    args,
    env,
    cwd: o.workingDir ?? (cfg.WorkingDir || '/'),
    capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
    noNewPrivileges: true,
  };
}

function runtimeSpec(rootfs: string, proc: Awaited<ReturnType<typeof processSpec>>) {
  return {
    ociVersion: '1.0.2',
    process: proc,
    root: { path: rootfs, readonly: false },
    hostname: 'oci-run',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The argv the container ran. */
  args: string[];
}

export interface RunImageOptions extends RunOverrides {
  via?: RootfsSource;
  /** Kill the container after this long (default 60 s). */
  timeoutMs?: number;
}

const STATE_ROOT = '/run/stagecraft-test-oci-run';

/** Runs the image's default process (or the overridden one) with runc, offline; returns its exit code and output. */
export async function runImage(root: string, ref: string, o: RunImageOptions = {}): Promise<RunResult> {
  return withRootfs(root, ref, (rootfs, image) => runInRootfs(rootfs, image.config.config ?? {}, o), o.via ?? 'overlay');
}

/** Runs a process described by an image config over an already prepared rootfs. */
export async function runInRootfs(rootfs: string, cfg: ImageConfigFields, o: RunImageOptions = {}): Promise<RunResult> {
  const proc = await processSpec(rootfs, cfg, o);
  const bundle = await mkdtemp(join(tmpdir(), 'stagecraft-ocirun-bundle-'));
  const id = `oci-run-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(join(bundle, 'config.json'), JSON.stringify(runtimeSpec(rootfs, proc), null, 2));
    await mkdir(STATE_ROOT, { recursive: true });
    const r = await tool('runc', ['--root', STATE_ROOT, 'run', '--bundle', bundle, id], { timeoutMs: o.timeoutMs ?? 60_000 });
    if (r.signal) throw new Error(`runc run ${id} was killed (${r.signal}), timeout ${o.timeoutMs ?? 60_000} ms; stderr: ${r.stderr.trim()}`);
    return { exitCode: r.code ?? -1, stdout: r.stdout, stderr: r.stderr, args: proc.args };
  } finally {
    await tool('runc', ['--root', STATE_ROOT, 'delete', '-f', id]).catch(() => undefined);
    await rm(bundle, { recursive: true, force: true });
  }
}
