/**
 * Overlay snapshots: mount an image's unpacked layer directories as one tree.
 *
 * Options we always pass on a writable mount, and why:
 * - `index=off`: no inode index in the work dir; hardlinks are not tracked
 *   across layers (copy-up breaks them, which is what a layer diff expects).
 * - `metacopy=off`: a chmod/chown copies the WHOLE file up, so the upper dir
 *   holds complete files and can be tarred on its own.
 * - `redirect_dir=off`: renaming a lower directory copies it up entirely
 *   instead of leaving a redirect xattr that only overlay understands.
 * - `volatile` (when the kernel has it): no syncfs on unmount; the build
 *   syncs what it wrote once (Store.syncWritten) before anything records the layers.
 * We do not pass `userxattr`: we mount as real root, so overlay uses
 * `trusted.overlay.*`; the diff still understands `user.overlay.*`.
 *
 * The kernel takes the mount options as one page (4 KiB). Image layer dirs are
 * named by digest, so 60+ layers would overflow it. A mount whose directories
 * fit in 3500 bytes (and hold no character overlay's option parser treats
 * specially) names them as they are; any other gets a small directory of
 * symlinks named `0`, `1`, ... (and `u`, `w`), runs `mount` with that as its
 * working directory and passes the short relative names. The kernel resolves
 * them at mount time, so the symlink dir is removed right after. (The symlink
 * dir costs ~2 ms of each mount and unmount on the build VM, so it is only
 * made when needed.) Overlay stacks at most 500 lower layers.
 */
import { mkdirSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StagecraftError } from '../errors.js';
import { runHelper } from '../util/helper-shell.js';

export interface OverlayMountOptions {
  /** Layer directories, topmost first. Empty means an empty filesystem. */
  lowerDirs: string[];
  /** Where writes land (the new layer). Omit with `readonly: true`. */
  upperDir?: string;
  /** Overlay's scratch dir; same filesystem as upperDir, must be empty. */
  workDir?: string;
  /** The merged view appears here; created when missing. */
  target: string;
  /** Mount read-only with no upper dir (for reading a stage, e.g. COPY --from). */
  readonly?: boolean;
}

export interface OverlayMount {
  readonly target: string;
  readonly upperDir: string | undefined;
  /** Unmount; safe to call more than once. */
  unmount(): Promise<void>;
}

/** Overlay refuses more lower layers than this (OVL_MAX_STACK). */
export const MAX_LOWER_LAYERS = 500;

/** Directories written into the mount options as they are: nothing overlay's option parser treats specially (`,` `:` `\\` `=`). */
const PLAIN_PATH = /^\/[A-Za-z0-9._/+@-]*$/;
/** Room for the directories in the options when written as they are (mount(2) copies one 4096-byte page). */
const MAX_DIRECT_OPTIONS = 3500;

/** Mount options other than the directories, for a writable mount. */
export const WRITABLE_OPTIONS = ['index=off', 'metacopy=off', 'redirect_dir=off'] as const;

export async function mountOverlay(opts: OverlayMountOptions): Promise<OverlayMount> {
  const readonly = opts.readonly === true;
  if (readonly && (opts.upperDir || opts.workDir)) {
    throw new StagecraftError('INTERNAL', 'a read-only overlay takes no upperDir or workDir');
  }
  if (!readonly && (!opts.upperDir || !opts.workDir)) {
    throw new StagecraftError('INTERNAL', 'a writable overlay needs upperDir and workDir (or readonly: true)');
  }
  const target = path.resolve(opts.target);
  // An image may hold the same layer twice (two steps with identical diffs,
  // e.g. a repeated COPY --link); overlay refuses a directory listed twice
  // (ELOOP). The topmost copy shadows everything the lower one holds, and its
  // whiteouts hide the same paths below, so keeping only the topmost one gives
  // the same merged tree.
  const lowers = [...new Set(opts.lowerDirs.map((d) => path.resolve(d)))];
  // The layer directories are checked only when a mount fails (checkLowers): checking them
  // first cost a rebuild's step 3-8 ms of waiting on node's thread pool on the build VM.
  // Directories are made synchronously for the same reason (a few microseconds each).
  for (const d of [target, opts.upperDir, opts.workDir]) if (d) mkdirSync(d, { recursive: true });
  const layerDirs = [...lowers]; // (the empty lowers a short read-only stack gets below are not checked)

  // Overlay needs at least one lower, and two when there is no upper (a read-only
  // mount of an empty stage gets two distinct empty lowers, made in the scratch dir).
  const minimum = readonly ? 2 : 1;
  if (lowers.length > MAX_LOWER_LAYERS) { // (the empty lowers below are only for stacks of fewer than two)
    throw new StagecraftError('UNSUPPORTED', `the image has ${lowers.length} layers; overlay stacks at most ${MAX_LOWER_LAYERS}`, {
      hint: 'squash the base image or use fewer layers',
    });
  }
  const upper = opts.upperDir ? path.resolve(opts.upperDir) : undefined;
  const work = opts.workDir ? path.resolve(opts.workDir) : undefined;
  // The mount's options hold the directories themselves when they are plain and short enough
  // (mount(2) takes one page of options); else short symlinks in a scratch dir stand for them,
  // with the scratch dir as the mount's working directory.
  const direct = lowers.length >= minimum
    && [...lowers, upper ?? '/', work ?? '/'].every((d) => PLAIN_PATH.test(d))
    && lowers.reduce((n, d) => n + d.length + 1, 0) + (upper?.length ?? 0) + (work?.length ?? 0) <= MAX_DIRECT_OPTIONS;
  let scratch: string | undefined;
  let cwd = '/';
  const options: string[] = [];
  try {
    if (direct) {
      options.push(`lowerdir=${lowers.join(':')}`);
      if (!readonly) options.push(`upperdir=${upper!}`, `workdir=${work!}`, ...WRITABLE_OPTIONS);
    } else {
      scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'stagecraft-ovl-'));
      for (let n = 0; lowers.length < minimum; n++) {
        const emptyLower = path.join(scratch, `empty${n}`);
        await fs.mkdir(emptyLower);
        lowers.push(emptyLower);
      }
      const links = path.join(scratch, 'l');
      await fs.mkdir(links);
      const names = lowers.map((_, i) => String(i));
      await Promise.all(lowers.map((dir, i) => fs.symlink(dir, path.join(links, names[i]!))));
      options.push(`lowerdir=${names.join(':')}`);
      if (!readonly) {
        await Promise.all([fs.symlink(upper!, path.join(links, 'u')), fs.symlink(work!, path.join(links, 'w'))]);
        options.push('upperdir=u', 'workdir=w', ...WRITABLE_OPTIONS);
      }
      cwd = links;
    }
    const args = ['-t', 'overlay', 'overlay', '-o', options.join(','), target];
    if (readonly) args.splice(0, 0, '-r');
    if (!readonly && volatileSupported !== false) {
      // `volatile` (Linux 5.10+): no syncfs of the whole upper filesystem on unmount, which
      // made every step wait for all dirty data on the disk, other stages' included. The
      // build syncs what it wrote once instead (Store.syncWritten). Older kernels refuse the option.
      const withVolatile = [...args];
      withVolatile[4] = `${options.join(',')},volatile`;
      const ok = await runMount(withVolatile, cwd, target, volatileSupported === undefined);
      // A refused probe says nothing about `volatile` when a layer directory is missing.
      if (!ok) await checkLowers(layerDirs, target);
      if (volatileSupported === undefined) volatileSupported = ok;
      if (!ok) await runMount(args, cwd, target);
    } else {
      await runMount(args, cwd, target);
    }
  } catch (e) {
    if (scratch) await fs.rm(scratch, { recursive: true, force: true });
    await checkLowers(layerDirs, target);
    throw e;
  }
  // The kernel holds the resolved directories now; symlinks are no longer needed.
  if (scratch) await fs.rm(path.join(scratch, 'l'), { recursive: true, force: true });

  let mounted = true;
  return {
    target,
    upperDir: opts.upperDir,
    async unmount() {
      if (!mounted) return;
      await unmountPath(target);
      mounted = false;
      if (scratch) await fs.rm(scratch, { recursive: true, force: true });
    },
  };
}

/** Mount, run `fn`, and unmount whatever happens. */
export async function withOverlay<T>(opts: OverlayMountOptions, fn: (m: OverlayMount) => Promise<T>): Promise<T> {
  const m = await mountOverlay(opts);
  try {
    return await fn(m);
  } finally {
    await m.unmount();
  }
}

/**
 * Unmount `target`. A busy mount (a process still has a file open) is retried
 * for about two seconds, then detached lazily so nothing is left in the mount table.
 */
export async function unmountPath(target: string): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = await exec('umount', [target]);
    if (r.code === 0) return;
    last = r.stderr.trim();
    if (/not mounted|no mount point/i.test(last)) return;
    if (!/busy/i.test(last)) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const lazy = await exec('umount', ['-l', target]);
  if (lazy.code === 0) return;
  throw new StagecraftError('MOUNT', `could not unmount ${target}: ${last || lazy.stderr.trim()}`);
}

/** Mount points at or below `dir`, from /proc/self/mountinfo (for leak checks and cleanup). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const base = path.resolve(dir);
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === base || p.startsWith(base + '/')) out.push(p);
  }
  return out;
}

/**
 * After a failed mount: mount(8) reports a missing lowerdir as "special device
 * overlay does not exist", so say which layer directory is missing.
 */
async function checkLowers(lowers: readonly string[], target: string): Promise<void> {
  const found = await Promise.all(lowers.map((dir) => fs.stat(dir).then((st) => st.isDirectory(), () => false)));
  const missing = lowers.find((_, i) => !found[i]);
  if (missing !== undefined) {
    throw new StagecraftError('MOUNT', `cannot mount overlay on ${target}: layer directory ${missing} is missing`, {
      hint: 'the local store may be incomplete; pull the image again',
    });
  }
}

/** Whether this kernel's overlay takes `volatile` (learnt from the first writable mount). */
let volatileSupported: boolean | undefined;

/** Runs mount(8); with `probing`, a refusal is answered false instead of an error. */
async function runMount(args: string[], cwd: string, target: string, probing = false): Promise<boolean> {
  const r = await exec('mount', args, cwd);
  if (r.code === 0) return true;
  if (probing) return false;
  const msg = r.stderr.trim().split('\n')[0] ?? '';
  if (r.code === -1) {
    throw new StagecraftError('MOUNT', `could not run mount: ${msg}`, { hint: 'apt-get install mount (util-linux)' });
  }
  if (/unknown filesystem type/i.test(msg) || !(await overlayListed())) {
    throw new StagecraftError('MOUNT', `overlay filesystem is not available: ${msg}`, {
      hint: 'load it with `modprobe overlay` (needs a Linux kernel with overlayfs)',
    });
  }
  if (/permission denied|must be superuser|operation not permitted/i.test(msg)) {
    throw new StagecraftError('MOUNT', `not allowed to mount overlay on ${target}: ${msg}`, {
      hint: 'run stagecraft as root (rootless builds are not supported yet)',
    });
  }
  throw new StagecraftError('MOUNT', `overlay mount on ${target} failed: ${msg}`);
}

async function overlayListed(): Promise<boolean> {
  try {
    return /\toverlay$/m.test(await fs.readFile('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

interface ExecResult { code: number; stderr: string }

/** mount/umount through the long-lived helper shell: no fork of this process per call. */
async function exec(cmd: string, args: string[], cwd?: string): Promise<ExecResult> {
  const r = await runHelper(cmd, args, { cwd });
  return { code: r.code, stderr: r.stderr.slice(0, 4096) };
}
