/**
 * RUN --mount and RUN heredoc files, turned into OCI mounts for the step's
 * container (plus the env they add), with everything they need set up before
 * and torn down after the run. Nothing mounted here is inside the step's
 * snapshot: the runtime only creates empty mount-point stubs there, which
 * runStep removes from the upper dir (overlay-stubs.ts), so no mount leaks
 * into the layer.
 *
 *   bind    context (read-only bind; a filtered copy when .dockerignore applies;
 *           `rw` gets a throwaway copy) or a stage/image (an overlay of its
 *           layers, read-only, or with a throwaway upper dir for `rw`), then
 *           the `source` subpath of it, resolved inside that root
 *   cache   a directory under <store>/cache-mounts (cache-mounts.ts); with
 *           --no-cache a fresh empty one, thrown away after the step
 *   tmpfs   a fresh tmpfs, `size=` in bytes
 *   secret  a file on a host tmpfs (/dev/shm) bound read-only at the target
 *           (default /run/secrets/<id>), and/or an env var; never in the
 *           snapshot, the cache key, the history or a message
 *   ssh     a proxy socket to the host agent (ssh-forward.ts) at the target
 *           (default /run/buildkit/ssh_agent.<n>); SSH_AUTH_SOCK points at
 *           the first one
 *   heredoc files (RUN <<EOF with a shebang) are bound read-only under their
 *           directory (/dev/pipes), as BuildKit mounts them
 */
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { StagecraftError, type SourceRange } from '../errors.js';
import type { BuildContext } from '../context/build-context.js';
import { hashTree } from '../context/tree-hash.js';
import { copy } from '../fs/copy.js';
import { mountOverlay, type OverlayMount } from '../fs/overlay.js';
import { cleanPath, resolveInRoot } from '../fs/scoped-path.js';
import type { RunMount, Step, StepSource } from '../plan/types.js';
import type { ExtraMount } from '../runtime/spec.js';
import type { Store } from '../store/index.js';
import { acquireCacheDir } from './cache-mounts.js';
import type { LayerRef } from './images.js';
import type { BuildSecrets } from './secrets.js';
import { startAgentProxy, startKeyAgent } from './ssh-forward.js';

type RunStep = Extract<Step, { kind: 'run' }>;

export interface RunMountEnv {
  store: Store;
  context: BuildContext;
  sourceLayers: (from: StepSource) => LayerRef[] | undefined;
  sourceName: (from: StepSource) => string;
  secrets?: BuildSecrets | undefined;
  /** --no-cache: each cache mount is a fresh, empty directory, discarded after the step. */
  noCache?: boolean | undefined;
  signal: AbortSignal;
}

export interface PreparedMounts {
  extraMounts: ExtraMount[];
  /** KEY=value to add to the step's environment (after its own). */
  env: string[];
  /** Undo everything (unmount, close, remove); safe to call once after the run. */
  release(): Promise<void>;
}

const BIND_OPTS = ['rbind', 'nosuid', 'nodev'];

function mountError(m: RunMount, message: string, location: SourceRange, hint?: string): StagecraftError {
  return new StagecraftError('MOUNT', `RUN --mount=type=${m.type}: ${message}`, { location, ...(hint ? { hint } : {}) });
}

/** Where secret files live while a step runs: a tmpfs, so the value never reaches a disk. */
function secretBase(store: Store): string {
  try {
    if (existsSync('/dev/shm')) return '/dev/shm';
  } catch {
    // fall through
  }
  return store.tmpDir;
}

export async function prepareRunMounts(env: RunMountEnv, step: RunStep, location: SourceRange): Promise<PreparedMounts> {
  const cleanups: Array<() => Promise<void>> = [];
  const mounts: Array<ExtraMount & { order: number }> = [];
  const extraEnv: string[] = [];
  let scratch: string | undefined;
  let secretDir: string | undefined;
  const scratchDir = async (): Promise<string> => (scratch ??= await mkdtemp(join(env.store.tmpDir, 'mounts-')));
  const release = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    if (secretDir) await rm(secretDir, { recursive: true, force: true });
    if (scratch) await rm(scratch, { recursive: true, force: true });
  };
  const add = (m: ExtraMount): void => { mounts.push({ ...m, order: mounts.length }); };

  try {
    // Heredoc files: one read-only directory per target directory (/dev/pipes).
    const byDir = new Map<string, RunStep['files']>();
    for (const f of step.files) {
      const d = posix.dirname(cleanPath(f.path));
      byDir.set(d, [...(byDir.get(d) ?? []), f]);
    }
    for (const [dir, files] of byDir) {
      const host = await mkdtemp(join(await scratchDir(), 'heredoc-'));
      for (const f of files) {
        const p = join(host, posix.basename(f.path));
        await writeFile(p, f.content);
        await chmod(p, f.mode);
      }
      await chmod(host, 0o755);
      add({ destination: dir, type: 'bind', source: host, options: [...BIND_OPTS, 'ro'] });
    }

    const targets = plannedTargets(step);
    let sshIndex = 0;
    let sshSockSet = false;
    for (const m of step.mounts) {
      env.signal.throwIfAborted();
      switch (m.type) {
        case 'tmpfs':
          add({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'strictatime', 'mode=1777', ...(m.size !== undefined ? [`size=${m.size}`] : [])] });
          break;
        case 'bind': {
          // Mount points of other mounts inside this one are made in a throwaway copy, never in
          // the context itself (and a read-only view could not take them).
          const inner = targets.filter((t) => t.path.startsWith(`${m.target}/`));
          const host = await bindSource(env, m.from, m.source, !m.readonly || inner.length > 0, await scratchDir(), cleanups, m, location);
          for (const t of inner) await makeMountPoint(host, t.path.slice(m.target.length), t.file);
          add({ destination: m.target, type: 'bind', source: host, options: [...BIND_OPTS, m.readonly ? 'ro' : 'rw'] });
          break;
        }
        case 'cache': {
          let seed: string | undefined;
          let seedKey: string | undefined;
          if (m.from) {
            seed = await bindSource(env, m.from, m.source ?? '/', false, await scratchDir(), cleanups, m, location);
            if (!(await lstat(seed)).isDirectory()) throw mountError(m, `source ${m.source ?? '/'} of ${env.sourceName(m.from)} is not a directory`, location);
            seedKey = await cacheSeedKey(env, m.from, m.source ?? '/');
          }
          const lease = await acquireCacheDir(env.noCache ? await mkdtemp(join(await scratchDir(), 'nocache-')) : env.store.root, {
            id: m.id, sharing: m.sharing, uid: m.uid, gid: m.gid, mode: m.mode,
            source: m.from ? undefined : m.source, seed, seedKey, signal: env.signal,
          });
          cleanups.push(() => lease.release());
          add({ destination: m.target, type: 'bind', source: lease.dir, options: [...BIND_OPTS, m.readonly ? 'ro' : 'rw'] });
          break;
        }
        case 'secret': {
          const value = env.secrets ? await env.secrets.secret(m.id) : undefined;
          if (value === undefined) {
            if (m.required) {
              throw mountError(m, `secret ${m.id} not found`, location, `pass it with --secret id=${m.id},src=<file> (or env=<VAR>)`);
            }
            break;
          }
          const target = m.target ?? (m.env === undefined ? `/run/secrets/${m.id}` : undefined);
          if (target !== undefined) {
            secretDir ??= await mkdtemp(join(secretBase(env.store), 'stagecraft-secrets-'));
            await chmod(secretDir, 0o700);
            const file = join(secretDir, `${mounts.length}`);
            await writeFile(file, value, { mode: 0o600 });
            await chown(file, m.uid ?? 0, m.gid ?? 0);
            await chmod(file, m.mode ?? 0o400);
            add({ destination: target.startsWith('/') ? cleanPath(target) : cleanPath(`${step.cwd}/${target}`), type: 'bind', source: file, options: [...BIND_OPTS, 'noexec', 'ro'] });
          }
          if (m.env !== undefined) extraEnv.push(`${m.env}=${value.toString('utf8')}`);
          value.fill(0); // the bytes are not needed any more; do not leave them in the heap
          break;
        }
        case 'ssh': {
          const n = sshIndex++;
          const agents = env.secrets?.sshSockets(m.id);
          if (!agents) {
            if (m.required) throw mountError(m, `no SSH agent ${m.id}`, location, `pass --ssh ${m.id}[=/path/to/agent.sock]`);
            break;
          }
          // Under the system tmp dir: a unix socket path must stay short (108 bytes), store roots may be long.
          const dir = await mkdtemp(join(tmpdir(), 'stagecraft-ssh-'));
          cleanups.push(() => rm(dir, { recursive: true, force: true }));
          await chmod(dir, 0o711);
          // Key files (--ssh default=/path/key.pem) go into a private agent for this step.
          const keys: string[] = [];
          const sockets: string[] = [];
          for (const a of agents) ((await stat(a).catch(() => undefined))?.isFile() ? keys : sockets).push(a);
          if (keys.length > 0) {
            const keyAgent = await startKeyAgent(join(dir, 'keys.sock'), keys, env.signal);
            cleanups.push(() => keyAgent.close());
            sockets.push(keyAgent.path);
          }
          const proxy = await startAgentProxy(join(dir, 'agent.sock'), sockets, { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o600 });
          cleanups.push(() => proxy.close());
          const target = m.target !== undefined ? cleanPath(m.target.startsWith('/') ? m.target : `${step.cwd}/${m.target}`) : `/run/buildkit/ssh_agent.${n}`;
          add({ destination: target, type: 'bind', source: proxy.path, options: [...BIND_OPTS] });
          if (!sshSockSet) {
            extraEnv.push(`SSH_AUTH_SOCK=${target}`);
            sshSockSet = true;
          }
          break;
        }
      }
    }
  } catch (e) {
    await release();
    throw e;
  }
  // Parents before children (a cache at /foo/bar under one at /foo), otherwise as written.
  const depth = (p: string): number => p.split('/').filter(Boolean).length;
  const extraMounts = mounts
    .sort((a, b) => depth(a.destination) - depth(b.destination) || a.order - b.order)
    .map(({ order: _o, ...m }) => m);
  return { extraMounts, env: extraEnv, release };
}

/** Where each mount of the step will be (before they are prepared), and whether it is a file. */
function plannedTargets(step: RunStep): Array<{ path: string; file: boolean }> {
  const out = step.files.map((f) => ({ path: posix.dirname(cleanPath(f.path)), file: false }));
  let ssh = 0;
  for (const m of step.mounts) {
    const abs = (t: string): string => cleanPath(t.startsWith('/') ? t : `${step.cwd}/${t}`);
    if (m.type === 'secret') {
      const t = m.target ?? (m.env === undefined ? `/run/secrets/${m.id}` : undefined);
      if (t !== undefined) out.push({ path: abs(t), file: true });
    } else if (m.type === 'ssh') {
      out.push({ path: m.target !== undefined ? abs(m.target) : `/run/buildkit/ssh_agent.${ssh}`, file: true });
      ssh++;
    } else {
      out.push({ path: m.target, file: false });
    }
  }
  return out;
}

/** Create `rel` (a directory, or an empty file) under a bind source when missing, inside that root. */
async function makeMountPoint(root: string, rel: string, file: boolean): Promise<void> {
  const host = await resolveInRoot(root, rel);
  if (await lstat(host).catch(() => undefined)) return;
  if (!file) {
    await mkdir(host, { recursive: true, mode: 0o755 });
    return;
  }
  await mkdir(posix.dirname(host), { recursive: true, mode: 0o755 });
  await writeFile(host, '', { flag: 'a', mode: 0o600 });
}

/**
 * The host path for `source` inside `from`: the context (directly, or a
 * filtered/throwaway copy) or an overlay of a stage's or image's layers.
 */
async function bindSource(
  env: RunMountEnv,
  from: StepSource,
  source: string,
  writable: boolean,
  scratch: string,
  cleanups: Array<() => Promise<void>>,
  m: RunMount,
  location: SourceRange,
): Promise<string> {
  const src = cleanPath(source);
  if (from.kind === 'context') {
    const ctx = env.context;
    if (!writable && ctx.dockerignore === undefined) {
      const host = await resolveInRoot(ctx.dir, src);
      if (!(await lstat(host).catch(() => undefined))) throw mountError(m, `${src} not found in the build context`, location);
      return host;
    }
    // A copy: .dockerignore applies to what the step sees, and writes are thrown away.
    const st = await lstat(await resolveInRoot(ctx.dir, src)).catch(() => undefined);
    if (!st) throw mountError(m, `${src} not found in the build context`, location);
    const root = await mkdtemp(join(scratch, 'context-'));
    try {
      await copy({ srcRoot: ctx.dir, sources: [src === '/' ? '.' : src.slice(1)], dest: '/', destRoot: root, ignore: ctx.ignore, keepOwners: true, allowEmptyWildcard: false });
    } catch (e) {
      throw mountError(m, `${src} not found in the build context`, location, e instanceof Error ? e.message : undefined);
    }
    // A directory's contents land in the root; a file keeps its name.
    return st.isDirectory() ? root : join(root, basename(src));
  }
  const layers = env.sourceLayers(from);
  if (!layers) throw new StagecraftError('INTERNAL', `${env.sourceName(from)} was not built before this step`, { location });
  const lowerDirs = layers.map((l) => env.store.layerDir(l.diffId)).reverse();
  const dir = await mkdtemp(join(scratch, 'from-'));
  let ov: OverlayMount;
  if (lowerDirs.length === 0) {
    // An empty stage (FROM scratch, nothing added): overlay cannot mount no layers read-only.
    await mkdir(join(dir, 'empty'));
    ov = { target: join(dir, 'empty'), upperDir: undefined, unmount: async () => undefined };
  } else if (writable) {
    await mkdir(join(dir, 'upper'));
    await mkdir(join(dir, 'work'));
    ov = await mountOverlay({ lowerDirs, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), target: join(dir, 'merged') });
  } else {
    ov = await mountOverlay({ lowerDirs, target: join(dir, 'merged'), readonly: true });
  }
  cleanups.push(() => ov.unmount());
  const host = await resolveInRoot(ov.target, src);
  if (!(await lstat(host).catch(() => undefined))) throw mountError(m, `${src} not found in ${env.sourceName(from)}`, location);
  return host;
}

/**
 * What seeds a cache mount, for the cache's identity: the source path and
 * the layers of the seeding stage or image (the same content seeds the same
 * cache, in this build or the next), or the context's digest of the source.
 */
async function cacheSeedKey(env: RunMountEnv, from: StepSource, source: string): Promise<string> {
  const path = cleanPath(source);
  if (from.kind === 'context') return `context:${path}:${await contextDigest(env.context, contextRel(path))}`;
  const layers = env.sourceLayers(from);
  return `${from.kind}:${path}:${layers ? layers.map((l) => l.diffId).join(',') : env.sourceName(from)}`;
}

/** A cleaned mount source as a context-relative path ('.' for the root). */
function contextRel(source: string): string {
  return source === '/' ? '.' : source.slice(1);
}

/** The context's content digest of `rel`; 'missing' when it cannot be hashed (the step then fails with the mount's own message). */
async function contextDigest(context: BuildContext, rel: string): Promise<string> {
  return (await context.hashSources([rel]).catch(() => undefined))?.digest ?? 'missing';
}

/** What the cache key of a RUN step's mounts needs from the build. */
export interface MountKeyEnv {
  context: BuildContext;
  store: Store;
  /** A built stage's or resolved image's key and layers. */
  source: (from: StepSource) => { key: string; layers: readonly LayerRef[] } | undefined;
}

/**
 * What a RUN step's mounts read, for its cache key: the content digest of
 * each context bind and of each stage bind's source path (so a change
 * elsewhere in that stage keeps the step cached, as BuildKit's
 * testMountRWCache expects), the key of an image (immutable) or of a cache
 * seed's stage. Secrets, SSH agents, tmpfs and cache contents are not inputs
 * (as in BuildKit, a cache mount's contents never invalidate the step).
 */
export async function runMountInputs(step: RunStep, env: MountKeyEnv): Promise<string[]> {
  const out: string[] = [];
  for (const m of step.mounts) {
    if (m.type !== 'bind' && m.type !== 'cache') continue;
    const from = m.from;
    if (!from) continue;
    const source = cleanPath(m.type === 'bind' ? m.source : m.source ?? '/');
    const rel = contextRel(source);
    if (from.kind === 'context') {
      out.push(`mount:${m.target}:context:${rel}:${await contextDigest(env.context, rel)}`);
    } else if (from.kind === 'stage' && m.type === 'bind') {
      out.push(`mount:${m.target}:stage:${rel}:${await stagePathDigest(env, from, rel)}`);
    } else {
      out.push(`mount:${m.target}:${from.kind}:${rel}:${env.source(from)?.key ?? 'unknown'}`);
    }
  }
  return out;
}

async function stagePathDigest(env: MountKeyEnv, from: StepSource, rel: string): Promise<string> {
  const layers = env.source(from)?.layers;
  if (!layers) return 'unknown';
  if (layers.length === 0) return 'empty';
  const dir = await mkdtemp(join(env.store.tmpDir, 'mount-key-'));
  let ov: OverlayMount | undefined;
  try {
    ov = await mountOverlay({ lowerDirs: layers.map((l) => env.store.layerDir(l.diffId)).reverse(), target: join(dir, 'merged'), readonly: true });
    const h = await hashTree(ov.target, [rel], { includeOwners: true, allowEmptyWildcard: false }).catch(() => undefined);
    return h?.digest ?? 'missing';
  } finally {
    await ov?.unmount().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
