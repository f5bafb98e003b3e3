/**
 * Base images for integration tests, made on this machine (there is no Docker
 * Hub here): busybox from busybox-static, the Debian-based ones with
 * debootstrap from the configured Debian mirror. Each becomes an OCI image
 * layout (via umoci) cached outside the checkout, in
 *   ${STAGECRAFT_TEST_CACHE:-/var/cache/stagecraft-test}/base-images/<slug>-<recipeVersion>/
 * and is pushed to a test registry with skopeo, an independent client, so our
 * pull code is tested against images we did not write.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, open, readFile, readdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const baseImageNames = [
  'busybox:latest',
  'debian:bookworm-slim',
  'python:3.11-slim',
  'python:3.11-build',
  'golang:bookworm',
  'node:18-bookworm',
  'node:18-bookworm-slim',
] as const;
export type BaseImageName = (typeof baseImageNames)[number];

/** The examples in examples/ and the base images their Dockerfiles name. */
export const exampleBases = {
  'python-app': ['python:3.11-build', 'python:3.11-slim'],
  'node-app': ['node:18-bookworm', 'node:18-bookworm-slim'],
  'go-app': ['golang:bookworm', 'busybox:latest'],
} as const satisfies Record<string, readonly BaseImageName[]>;
export type ExampleName = keyof typeof exampleBases;

export interface BaseImageLayout {
  /** Directory holding the OCI image layout (oci-layout, index.json, blobs/). */
  ociLayout: string;
  /** The tag inside the layout (`skopeo ... oci:<ociLayout>:<tag>`). */
  tag: string;
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Recipe {
  /** Bump when the recipe changes so caches rebuild. */
  version: number;
  kind: 'busybox' | 'debian';
  /** Extra packages for debootstrap --include. */
  include?: string[];
  /**
   * Packages installed with apt-get inside the new root after debootstrap:
   * for those whose dependencies are virtual packages, which debootstrap's
   * resolver does not follow (npm's node-cli-table3, node-has, ...).
   */
  aptInstall?: string[];
  env: string[];
  cmd: string[];
  workingDir?: string;
  /** Extra rootfs tweaks after the base is in place. */
  finish?: (rootfs: string) => Promise<void>;
}

const recipes: Record<BaseImageName, Recipe> = {
  'busybox:latest': { version: 1, kind: 'busybox', env: [PATH_ENV], cmd: ['sh'] },
  'debian:bookworm-slim': { version: 1, kind: 'debian', env: [PATH_ENV], cmd: ['bash'] },
  'python:3.11-slim': {
    version: 1, kind: 'debian', include: ['python3'],
    env: [PATH_ENV, 'LANG=C.UTF-8'], cmd: ['python3'],
  },
  'python:3.11-build': {
    version: 1, kind: 'debian',
    include: ['python3', 'python3-dev', 'python3-pip', 'python3-setuptools', 'python3-wheel', 'build-essential'],
    env: [PATH_ENV, 'LANG=C.UTF-8'], cmd: ['python3'],
  },
  'golang:bookworm': {
    version: 1, kind: 'debian', include: ['golang-go', 'ca-certificates'],
    env: ['PATH=/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GOPATH=/go'],
    cmd: ['bash'], workingDir: '/go',
    finish: async (rootfs) => {
      await mkdir(join(rootfs, 'go', 'bin'), { recursive: true });
      await mkdir(join(rootfs, 'go', 'src'), { recursive: true });
      await chmod(join(rootfs, 'go'), 0o1777);
    },
  },
  // Debian's Node.js 18 with npm (and npm's node-gyp toolchain), like the full node image; the slim one has node alone.
  'node:18-bookworm': {
    version: 1, kind: 'debian', include: ['nodejs', 'ca-certificates'], aptInstall: ['npm'],
    env: [PATH_ENV, 'LANG=C.UTF-8'], cmd: ['node'],
  },
  'node:18-bookworm-slim': {
    version: 1, kind: 'debian', include: ['nodejs'],
    env: [PATH_ENV, 'LANG=C.UTF-8'], cmd: ['node'],
  },
};

/** Where cached layouts live. */
export function testCacheDir(): string {
  return process.env.STAGECRAFT_TEST_CACHE ?? '/var/cache/stagecraft-test';
}

function splitName(name: BaseImageName): { repo: string; tag: string } {
  const i = name.lastIndexOf(':');
  return { repo: name.slice(0, i), tag: name.slice(i + 1) };
}

/** OCI platform of this machine, from Node's process.arch. */
export function hostPlatform(): { os: 'linux'; architecture: string; variant?: string } {
  const map: Record<string, { architecture: string; variant?: string }> = {
    x64: { architecture: 'amd64' },
    arm64: { architecture: 'arm64', variant: 'v8' },
    arm: { architecture: 'arm', variant: 'v7' },
    ia32: { architecture: '386' },
    ppc64: { architecture: 'ppc64le' },
    s390x: { architecture: 's390x' },
    riscv64: { architecture: 'riscv64' },
  };
  const p = map[process.arch];
  if (!p) throw new Error(`no OCI architecture known for process.arch=${process.arch}`);
  return { os: 'linux', ...p };
}

function layoutDir(name: BaseImageName): string {
  const slug = name.replace(/[^a-z0-9.]+/g, '-');
  return join(testCacheDir(), 'base-images', `${slug}-v${recipes[name].version}`);
}

function log(line: string): void {
  process.stderr.write(`[base-images] ${line}\n`);
}

// ---------------------------------------------------------------------------
// Running tools

async function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let tail = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => { out += s; tail = (tail + s).slice(-4000); });
    child.stderr.on('data', (s: string) => { tail = (tail + s).slice(-4000); });
    child.on('error', (e) => reject(new Error(`cannot run ${cmd}: ${e.message} (see scripts/setup-system.sh)`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}):\n${tail}`));
    });
  });
}

// ---------------------------------------------------------------------------
// Debian mirror, read from the machine's apt configuration at run time.

/**
 * The bookworm mirror named by apt configuration text: deb822 `.sources`
 * stanzas first (`Types: deb`, `Suites:` containing bookworm, not
 * `Enabled: no`), then one-line `sources.list` entries.
 */
export function mirrorFromAptSources(deb822Files: string[], sourcesList?: string): string | undefined {
  for (const text of deb822Files) {
    for (const stanza of text.split(/\n\s*\n/)) {
      const fields = new Map<string, string>();
      for (const line of stanza.split('\n')) {
        if (line.startsWith('#')) continue;
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m) fields.set(m[1]!.toLowerCase(), m[2]!.trim());
      }
      const types = (fields.get('types') ?? '').split(/\s+/);
      const suites = (fields.get('suites') ?? '').split(/\s+/);
      const enabled = (fields.get('enabled') ?? 'yes').toLowerCase() !== 'no';
      const uri = (fields.get('uris') ?? '').split(/\s+/)[0];
      if (enabled && types.includes('deb') && suites.includes('bookworm') && uri) return uri;
    }
  }
  for (const raw of (sourcesList ?? '').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m && m[2] === 'bookworm') return m[1]!;
  }
  return undefined;
}

/** The Debian mirror this machine's apt uses for bookworm (STAGECRAFT_DEBIAN_MIRROR overrides). */
export function debianMirror(): string {
  const fromEnv = process.env.STAGECRAFT_DEBIAN_MIRROR;
  if (fromEnv) return fromEnv;
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sources')).sort() : [];
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : undefined;
  const mirror = mirrorFromAptSources(files.map((f) => readFileSync(join(dir, f), 'utf8')), list);
  if (mirror) return mirror;
  throw new Error('no bookworm Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list (set STAGECRAFT_DEBIAN_MIRROR)');
}

// ---------------------------------------------------------------------------
// Root filesystems

/** Unmounts anything debootstrap left mounted below `dir` (deepest first). */
async function unmountBelow(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
}

/** Removes a build directory without ever crossing into a mount. */
async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  await unmountBelow(dir);
  await run('rm', ['-rf', '--one-file-system', dir]);
}

async function buildBusyboxRootfs(rootfs: string): Promise<void> {
  const bb = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!bb) throw new Error('busybox-static not installed (see scripts/setup-system.sh)');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'home/app', 'tmp', 'var/tmp', 'dev', 'proc', 'sys']) {
    await mkdir(join(rootfs, d), { recursive: true });
  }
  await copyFile(bb, join(rootfs, 'bin', 'busybox'));
  await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
  // Applet links in their standard places, made by busybox itself inside the rootfs.
  await run('chroot', [rootfs, '/bin/busybox', '--install', '-s']);
  if (!existsSync(join(rootfs, 'bin', 'sh'))) await symlink('/bin/busybox', join(rootfs, 'bin', 'sh'));
  await writeFile(join(rootfs, 'etc', 'passwd'), [
    'root:x:0:0:root:/root:/bin/sh',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
    'app:x:1000:1000:app:/home/app:/bin/sh',
    '',
  ].join('\n'));
  await writeFile(join(rootfs, 'etc', 'group'), ['root:x:0:', 'nogroup:x:65534:', 'nobody:x:65534:', 'app:x:1000:', ''].join('\n'));
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await chmod(join(rootfs, 'var', 'tmp'), 0o1777);
  await chmod(join(rootfs, 'root'), 0o700);
  await chown(join(rootfs, 'home', 'app'), 1000, 1000);
}

async function buildDebianRootfs(rootfs: string, recipe: Recipe): Promise<void> {
  const debs = join(testCacheDir(), 'debs');
  await mkdir(debs, { recursive: true });
  const args = ['--variant=minbase', `--cache-dir=${debs}`];
  if (recipe.include?.length) args.push(`--include=${recipe.include.join(',')}`);
  const mirror = debianMirror();
  await run('debootstrap', [...args, 'bookworm', rootfs, mirror]);
  await unmountBelow(rootfs);
  if (recipe.aptInstall?.length) {
    // The host's resolver for the download; it, the lists and the .debs are removed below. The root's sources.list names the mirror.
    await copyFile('/etc/resolv.conf', join(rootfs, 'etc', 'resolv.conf'));
    const apt = (args: string[]): Promise<string> => run('chroot', [rootfs, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-qq', ...args]);
    await apt(['update']);
    await apt(['install', '-y', '--no-install-recommends', ...recipe.aptInstall]);
  }
  // Keep the image small and free of this machine's identity.
  const emptyDirs = ['var/lib/apt/lists', 'var/cache/apt/archives', 'dev', 'proc', 'sys', 'tmp', 'var/tmp', 'run'];
  for (const d of emptyDirs) {
    const p = join(rootfs, d);
    if (!existsSync(p)) continue;
    for (const e of await readdir(p)) {
      if (d === 'var/lib/apt/lists' && e === 'partial') continue;
      if (d === 'var/cache/apt/archives' && e === 'partial') continue;
      await run('rm', ['-rf', '--one-file-system', join(p, e)]);
    }
  }
  await run('find', [join(rootfs, 'var/log'), '-type', 'f', '-delete']);
  await run('find', [join(rootfs, 'var/cache/apt'), '-maxdepth', '1', '-name', '*.bin', '-delete']);
  for (const f of ['etc/resolv.conf', 'etc/hostname']) await rm(join(rootfs, f), { force: true });
  await writeFile(join(rootfs, 'etc', 'machine-id'), '');
  // What the Debian images on Docker Hub ship: apt cleans its cache after installs.
  await writeFile(join(rootfs, 'etc/apt/apt.conf.d/docker-clean'),
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n' +
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n' +
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n');
  await chmod(join(rootfs, 'tmp'), 0o1777);
}

// ---------------------------------------------------------------------------
// OCI layout via umoci

async function makeLayout(name: BaseImageName, rootfs: string, work: string, layout: string): Promise<void> {
  const recipe = recipes[name];
  const { tag } = splitName(name);
  const platform = hostPlatform();
  const layerTar = join(work, 'layer.tar');
  const entries = (await readdir(rootfs)).sort();
  // Paths without a leading './', numeric owners, stable order: like a docker layer.
  await run('tar', ['--numeric-owner', '--sort=name', '-C', rootfs, '-cf', layerTar, ...entries]);
  const image = `${layout}:${tag}`;
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', image]);
  const createdBy = recipe.kind === 'busybox'
    ? 'stagecraft fixture: busybox-static + applet links'
    : `stagecraft fixture: debootstrap --variant=minbase${recipe.include?.length ? ` --include=${recipe.include.join(',')}` : ''} bookworm` +
      (recipe.aptInstall?.length ? ` && apt-get install --no-install-recommends ${recipe.aptInstall.join(' ')}` : '');
  await run('umoci', ['raw', 'add-layer', '--image', image, '--history.created_by', createdBy, layerTar]);
  const cfg = ['config', '--image', image, '--no-history', '--os', platform.os, '--architecture', platform.architecture];
  for (const e of recipe.env) cfg.push('--config.env', e);
  for (const c of recipe.cmd) cfg.push('--config.cmd', c);
  if (recipe.workingDir) cfg.push('--config.workingdir', recipe.workingDir);
  await run('umoci', cfg);
  await run('umoci', ['gc', '--layout', layout]);
  await rm(layerTar, { force: true });
}

async function buildOne(name: BaseImageName): Promise<void> {
  const recipe = recipes[name];
  const final = layoutDir(name);
  const work = `${final}.tmp-${process.pid}`;
  await removeTree(work);
  await mkdir(work, { recursive: true });
  const started = Date.now();
  log(`building ${name} (recipe v${recipe.version}) in ${final}`);
  try {
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs);
    if (recipe.kind === 'busybox') await buildBusyboxRootfs(rootfs);
    else await buildDebianRootfs(rootfs, recipe);
    if (recipe.finish) await recipe.finish(rootfs);
    const layout = join(work, 'layout');
    await makeLayout(name, rootfs, work, layout);
    const seconds = (Date.now() - started) / 1000;
    await writeFile(join(layout, 'stagecraft-fixture.json'),
      JSON.stringify({ name, recipeVersion: recipe.version, buildSeconds: seconds, builtAt: new Date().toISOString() }, null, 2) + '\n');
    await removeTree(rootfs);
    await removeTree(final); // a half-written leftover from an interrupted older build
    await rename(layout, final);
    log(`built ${name} in ${seconds.toFixed(1)} s`);
  } finally {
    await removeTree(work);
  }
}

// ---------------------------------------------------------------------------
// Locking: one builder at a time across test processes.

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && !alive(pid)) {
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      if (!announced) {
        log(`waiting for another process (pid ${Number.isNaN(pid) ? '?' : pid}) building base images`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

function isBuilt(name: BaseImageName): boolean {
  return existsSync(join(layoutDir(name), 'index.json'));
}

/**
 * Returns the cached OCI layout of each named image, building missing ones
 * first (minutes for the Debian-based images; later runs reuse the cache).
 */
export async function ensureBaseImages(
  names: readonly BaseImageName[] = baseImageNames,
): Promise<Record<BaseImageName, BaseImageLayout>> {
  const missing = names.filter((n) => !isBuilt(n));
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) {
      throw new Error(`base image(s) ${missing.join(', ')} are not in ${testCacheDir()}/base-images and building them needs root (debootstrap, chroot): run scripts/make-base-images.sh as root`);
    }
    const dir = join(testCacheDir(), 'base-images');
    await mkdir(dir, { recursive: true });
    await withLock(join(dir, '.build.lock'), async () => {
      // Leftovers of builds whose process died (we hold the lock, so no build is running).
      for (const e of await readdir(dir)) {
        const m = /\.tmp-(\d+)$/.exec(e);
        if (m && !alive(Number(m[1]))) {
          log(`removing ${e}, left by an interrupted build`);
          await removeTree(join(dir, e));
        }
      }
      for (const n of missing) if (!isBuilt(n)) await buildOne(n);
    });
  }
  const out = {} as Record<BaseImageName, BaseImageLayout>;
  for (const n of names) out[n] = { ociLayout: layoutDir(n), tag: splitName(n).tag };
  return out;
}

export interface PushOptions {
  /** Repository prefix in the registry, e.g. 'library' → host/library/busybox:latest. */
  namespace?: string;
  /** Manifest format skopeo writes: the layout's OCI manifest (default) or Docker v2 schema 2. */
  format?: 'oci' | 'v2s2';
  /** Push under another repository name (suffix), e.g. '-docker' → busybox-docker:latest. */
  repoSuffix?: string;
}

/**
 * Pushes each image to the registry at `host` with skopeo and returns the full
 * reference of each (e.g. '127.0.0.1:PORT/busybox:latest').
 */
export async function pushBaseImages(
  host: string,
  names: readonly BaseImageName[] = baseImageNames,
  opts: PushOptions = {},
): Promise<Record<BaseImageName, string>> {
  const layouts = await ensureBaseImages(names);
  const out = {} as Record<BaseImageName, string>;
  for (const n of names) {
    const { repo, tag } = splitName(n);
    const path = [opts.namespace, repo + (opts.repoSuffix ?? '')].filter(Boolean).join('/');
    const dest = `${host}/${path}:${tag}`;
    const l = layouts[n];
    const args = ['copy', '--quiet', '--dest-tls-verify=false'];
    if (opts.format === 'v2s2') args.push('--format', 'v2s2');
    args.push(`oci:${l.ociLayout}:${l.tag}`, `docker://${dest}`);
    await run('skopeo', args);
    out[n] = dest;
  }
  return out;
}
