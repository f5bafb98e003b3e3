/**
 * ADD's remote sources, fetched into a local directory that COPY semantics
 * then read from:
 *
 *   http(s)://host/path/name   one file named after the URL's last path
 *                              segment (`__unnamed__` when there is none, as
 *                              BuildKit's Dockerfile frontend names it), mode
 *                              0600, mtime from Last-Modified; verified with
 *                              --checksum=sha256:<hex>; unpacked only with
 *                              --unpack=true
 *   git@host:repo, git://, ssh://, http(s)://...repo.git[#ref[:subdir]]
 *                              a checkout of ref (default HEAD), its subdir,
 *                              without .git unless --keep-git-dir (a kept
 *                              .git has HEAD detached at the commit);
 *                              a named ref is fetched shallow (its commit
 *                              only, as BuildKit does), a commit id or a
 *                              dumb-HTTP server gets a full clone;
 *                              --checksum is a commit-SHA prefix
 *
 * A build fetches each source once: the cache key needs the content digest
 * (or the commit) before the step runs, and the step reuses that download.
 * Downloads are streamed to disk while hashed; memory stays flat.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { StagecraftError } from '../errors.js';
import { classifySource } from '../dockerfile/instructions/index.js';
import { findExecutable } from '../tar/compression.js';
import { destinationOf } from '../fs/copy.js';
import { httpGet } from './http-get.js';
import type { IgnoreFn } from '../fs/copy-sources.js';
import { streamToNewFile } from '../store/atomic.js';
import { HashingStream } from '../oci/digest.js';

export type RemoteKind = 'url' | 'git';

export interface FetchedSource {
  kind: RemoteKind;
  /** Directory holding `name` (a file for URLs, a directory for git). */
  dir: string;
  name: string;
  /** sha256:<hex> of a URL's content, or the commit of a git checkout. */
  digest: string;
}

export interface FetchOptions {
  /** Where to put downloads (the store's tmp dir). */
  tmpDir: string;
  /** The build (any object that lives as long as it, e.g. its BuildContext): a source is fetched once per scope. */
  scope: object;
  checksum?: string | undefined;
  keepGitDir?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** Looks up build secrets: HTTP_AUTH_HEADER_<host> / HTTP_AUTH_TOKEN_<host> authenticate URL fetches. */
  secret?: ((id: string) => Promise<Buffer | undefined>) | undefined;
  /** The `--ssh default` agent socket for git over ssh (as BuildKit, only an agent given with --ssh is used). */
  sshAgent?: (() => string | undefined) | undefined;
}

/** 'url' or 'git' for a remote ADD source, undefined for a local path. */
export function remoteKind(src: string): RemoteKind | undefined {
  const k = classifySource(src);
  return k === 'local' ? undefined : k;
}

/** The file name an ADD of this URL creates when the destination is a directory. */
export function urlFileName(src: string): string {
  let p: string;
  try {
    p = new URL(src).pathname;
  } catch {
    return '__unnamed__';
  }
  const base = posix.basename(p);
  return base === '' || base === '.' || base === '/' ? '__unnamed__' : decodeURIComponent(base);
}

/** A source for messages: credentials in the URL (`https://user:token@host/...`) are never printed. */
export function redact(src: string): string {
  return src.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1***@');
}

/** `#ref:subdir` of a git source. */
export function gitFragment(src: string): { remote: string; ref: string; subdir: string } {
  const hash = src.indexOf('#');
  if (hash < 0) return { remote: src, ref: '', subdir: '' };
  const frag = src.slice(hash + 1);
  const colon = frag.indexOf(':');
  return { remote: src.slice(0, hash), ref: colon < 0 ? frag : frag.slice(0, colon), subdir: colon < 0 ? '' : frag.slice(colon + 1) };
}

const fetchedBy = new WeakMap<object, Map<string, Promise<FetchedSource>>>();
const dirs = new Set<string>();
let exitHook = false;

/** Fetches a remote source once per build (same URL and options); later calls in that build share it. */
export function fetchRemote(src: string, opts: FetchOptions): Promise<FetchedSource> {
  let fetched = fetchedBy.get(opts.scope);
  if (!fetched) fetchedBy.set(opts.scope, (fetched = new Map()));
  const key = JSON.stringify([src, opts.checksum ?? '', opts.keepGitDir ?? false, opts.tmpDir]);
  let p = fetched.get(key);
  if (!p) {
    p = (remoteKind(src) === 'git' ? fetchGit(src, opts) : fetchUrl(src, opts)).catch((e: unknown) => {
      fetched!.delete(key);
      throw e;
    });
    fetched.set(key, p);
  }
  return p;
}

async function scratch(tmpDir: string): Promise<string> {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  }
  const d = await mkdtemp(join(tmpDir, 'add-'));
  dirs.add(d);
  return d;
}

function parseChecksum(checksum: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(checksum);
  if (!m) {
    const alg = checksum.includes(':') ? checksum.slice(0, checksum.indexOf(':')) : '';
    throw new StagecraftError('INSTRUCTION', alg !== '' && alg !== 'sha256' ? `unsupported digest algorithm ${alg} in --checksum` : `invalid --checksum ${checksum}`, {
      hint: 'write --checksum=sha256:<64 hex digits> (SHA-256 is the only supported algorithm)',
    });
  }
  return `sha256:${m[1]}`;
}

async function fetchUrl(src: string, opts: FetchOptions): Promise<FetchedSource> {
  const want = opts.checksum ? parseChecksum(opts.checksum) : undefined;
  const headers = await authHeaders(src, opts.secret);
  let res: IncomingMessage;
  try {
    res = await httpGet(src, { headers, signal: opts.signal });
  } catch (e) {
    throw new StagecraftError('NOT_FOUND', `ADD ${redact(src)}: ${(e as Error).message}`, { cause: e, hint: 'check the URL and that the host is reachable from this machine' });
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    res.destroy();
    throw new StagecraftError('NOT_FOUND', `ADD ${redact(src)}: invalid response status ${res.statusCode}`, { hint: 'the URL must answer 200 without authentication' });
  }
  const dir = await scratch(opts.tmpDir);
  const name = urlFileName(src);
  const file = join(dir, name);
  const hash = new HashingStream();
  try {
    await streamToNewFile(file, res, [hash], { mode: 0o600 });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const { digest } = hash.result();
  if (want && want !== digest) {
    await rm(dir, { recursive: true, force: true });
    throw new StagecraftError('DIGEST', `ADD ${redact(src)}: checksum mismatch: expected ${want}, got ${digest}`, { hint: 'the file changed on the server, or --checksum is wrong' });
  }
  await chmod(file, 0o600);
  const lm = res.headers['last-modified'];
  const t = lm ? Date.parse(lm) : NaN;
  if (Number.isFinite(t)) await utimes(file, t / 1000, t / 1000);
  return { kind: 'url', dir, name, digest };
}

/**
 * `Authorization` for a URL from the build's secrets, as BuildKit takes them:
 * HTTP_AUTH_HEADER_<host> is the whole header value, HTTP_AUTH_TOKEN_<host> a
 * bearer token. The value goes only into the request header.
 */
async function authHeaders(src: string, secret: FetchOptions['secret']): Promise<Record<string, string>> {
  if (!secret) return {};
  let host: string;
  try {
    host = new URL(src).hostname;
  } catch {
    return {};
  }
  const header = await secret(`HTTP_AUTH_HEADER_${host}`);
  if (header) return { authorization: header.toString('utf8').trim() };
  const token = await secret(`HTTP_AUTH_TOKEN_${host}`);
  if (token) return { authorization: `Bearer ${token.toString('utf8').trim()}` };
  return {};
}

function redactAll(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@');
}

function git(args: string[], opts: { cwd?: string; signal?: AbortSignal | undefined; sshAuthSock?: string | undefined } = {}): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' };
  delete env.SSH_AUTH_SOCK;
  if (opts.sshAuthSock) env.SSH_AUTH_SOCK = opts.sshAuthSock;
  return new Promise((resolve, reject) => {
    execFile('git', args, {
      cwd: opts.cwd, maxBuffer: 1 << 20, ...(opts.signal ? { signal: opts.signal } : {}), env,
    }, (err, stdout, stderr) => {
      if (err) reject(new Error(redactAll(String(stderr).trim().split('\n').pop() || err.message)));
      else resolve(String(stdout));
    });
  });
}

async function fetchGit(src: string, opts: FetchOptions): Promise<FetchedSource> {
  if (!findExecutable('git')) {
    throw new StagecraftError('UNSUPPORTED', `ADD ${redact(src)} needs git on this machine`, { hint: 'apt-get install git' });
  }
  const { remote, ref, subdir } = gitFragment(src);
  const dir = await scratch(opts.tmpDir);
  const repo = join(dir, 'repo');
  const overSsh = /^git@|^ssh:\/\//i.test(remote);
  const sshAuthSock = overSsh ? opts.sshAgent?.() : undefined;
  try {
    // A branch, a tag or the default branch: only its commit, as BuildKit fetches a named ref
    // (--depth=1, no tags). A commit id, or a server that cannot serve a shallow fetch (git's
    // dumb HTTP), gets the whole repository.
    if (!(await shallowFetch(remote, ref, repo, opts.signal, sshAuthSock))) {
      await rm(repo, { recursive: true, force: true });
      await git(['clone', '--quiet', '--no-checkout', '--', remote, repo], { signal: opts.signal, sshAuthSock });
      // Detached, as BuildKit leaves a kept .git (it checks out FETCH_HEAD): HEAD names the commit, not a branch.
      await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', ref === '' ? 'HEAD' : ref, '--'], { cwd: repo, signal: opts.signal });
    }
    await git(['submodule', 'update', '--init', '--recursive', '--quiet'], { cwd: repo, signal: opts.signal, sshAuthSock }).catch(() => undefined);
  } catch (e) {
    throw new StagecraftError('NOT_FOUND', `ADD ${redact(src)}: git could not fetch ${ref === '' ? 'the default branch' : ref}: ${(e as Error).message}`, { cause: e, hint: 'check the repository URL and the ref after #' });
  }
  const commit = (await git(['rev-parse', 'HEAD'], { cwd: repo })).trim();
  if (opts.checksum && !commit.startsWith(opts.checksum)) {
    throw new StagecraftError('DIGEST', `ADD ${redact(src)}: expected checksum to match ${opts.checksum}, got ${commit}`, { hint: '--checksum of a git source is a commit SHA (or a prefix of it)' });
  }
  if (!opts.keepGitDir) await rm(join(repo, '.git'), { recursive: true, force: true });
  await normalizeModes(repo);
  const name = subdir === '' ? 'repo' : posix.join('repo', posix.normalize(subdir).replace(/^(\.\.\/)+/, ''));
  return { kind: 'git', dir, name, digest: `git:${commit}${opts.keepGitDir ? ':keep' : ''}:${subdir}` };
}

/**
 * Fetches just the commit of a named ref (or the remote's HEAD) into a new
 * repository at `repo` and checks it out detached; false when the ref looks
 * like a commit id (a shallow fetch by id needs the server's consent) or the
 * shallow fetch fails, for the caller to clone instead.
 */
async function shallowFetch(remote: string, ref: string, repo: string, signal: AbortSignal | undefined, sshAuthSock: string | undefined): Promise<boolean> {
  if (/^[0-9a-f]{7,64}$/i.test(ref)) return false;
  try {
    await git(['init', '--quiet', repo], { signal });
    await git(['remote', 'add', 'origin', remote], { cwd: repo, signal });
    await git(['fetch', '--quiet', '--depth=1', '--no-tags', 'origin', ref === '' ? 'HEAD' : ref], { cwd: repo, signal, sshAuthSock });
    await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', 'FETCH_HEAD', '--'], { cwd: repo, signal });
    return true;
  } catch (e) {
    if (signal?.aborted) throw e;
    return false;
  }
}

/** BuildKit's git modes: 0644 files, 0755 executables and directories (whatever the umask); .git is left as git wrote it. */
async function normalizeModes(root: string): Promise<void> {
  const gitDir = join(root, '.git');
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (p === gitDir || p.startsWith(`${gitDir}/`)) continue;
    if (e.isDirectory()) await chmod(p, 0o755);
    else if (e.isFile()) await chmod(p, (await stat(p)).mode & 0o111 ? 0o755 : 0o644);
  }
  await chmod(root, 0o755);
}

/** One copy() call's worth of ADD sources: all from one root. */
export interface SourceGroup {
  srcRoot: string;
  sources: string[];
  keepOwners: boolean;
  ignore?: IgnoreFn | undefined;
  /** Extract tar archives (local: unless --unpack=false; URLs: only with --unpack=true). */
  unpackArchives: boolean;
}

/**
 * Splits an ADD's sources into copy() calls: the local ones (context, stage
 * or heredocs, as `local` describes them) and one per fetched remote source,
 * in a shared order-independent set (the same destination rules apply to each).
 */
export async function addSourceGroups(
  step: { sources: string[]; inline: unknown[]; dest: string; workdir: string; checksum?: string | undefined; keepGitDir?: boolean | undefined; unpack?: boolean | undefined },
  local: Omit<SourceGroup, 'unpackArchives'>,
  opts: Pick<FetchOptions, 'tmpDir' | 'scope' | 'signal' | 'secret' | 'sshAgent'>,
): Promise<SourceGroup[]> {
  const remote = step.sources.filter((s) => remoteKind(s) !== undefined);
  if (remote.length === 0) return [{ ...local, unpackArchives: step.inline.length === 0 && step.unpack !== false }];
  if (step.sources.length + step.inline.length > 1 && !destinationOf(step.dest, step.workdir).isDir) {
    throw new StagecraftError('COPY', 'When using ADD with more than one source file, the destination must be a directory and end with a /', {
      hint: `write the destination as ${step.dest}/`,
    });
  }
  const groups: SourceGroup[] = [];
  const locals = local.sources.filter((s) => remoteKind(s) === undefined);
  if (locals.length > 0) groups.push({ ...local, sources: locals, unpackArchives: step.inline.length === 0 && step.unpack !== false });
  for (const src of remote) {
    const f = await fetchRemote(src, { ...opts, checksum: step.checksum, keepGitDir: step.keepGitDir });
    groups.push({ srcRoot: f.dir, sources: [f.name], keepOwners: false, unpackArchives: f.kind === 'url' && step.unpack === true });
  }
  return groups;
}

/** The cache-key inputs of an ADD's remote sources: each one's content digest (URL) or commit (git). */
export async function remoteInputs(
  step: { sources: string[]; checksum?: string | undefined; keepGitDir?: boolean | undefined },
  opts: Pick<FetchOptions, 'tmpDir' | 'scope' | 'signal' | 'secret' | 'sshAgent'>,
): Promise<string[]> {
  const out: string[] = [];
  for (const src of step.sources) {
    if (remoteKind(src) === undefined) continue;
    const f = await fetchRemote(src, { ...opts, checksum: step.checksum, keepGitDir: step.keepGitDir });
    out.push(`${src} ${f.digest}`);
  }
  return out;
}
