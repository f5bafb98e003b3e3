/**
 * `stagecraft push`, `pull`, `login` and `logout`, and the registry flags every
 * command that talks to registries shares. Output goes to `io` (default the
 * process streams) so tests can read it; no credential or token is ever
 * written there.
 */
import { push, pushAllTags, type PushOptions } from '../build/push.js';
import { pull, type PullResult } from '../build/pull.js';
import { StagecraftError } from '../errors.js';
import { DEFAULT_REGISTRY, parseReference } from '../reference/index.js';
import {
  eraseCredentials, RegistryClient, registryClientOptions, storeCredentials, type Credentials, type PushEvent, type PushResult, type RegistryFlags,
} from '../registry/index.js';

export interface CommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Read for --password-stdin. */
  stdin: AsyncIterable<Uint8Array | string>;
}

const processIo = (): CommandIo => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });

/** Flags shared by build, push, login, and the client options they make (src/registry/client-options.ts). */
export { registryClientOptions, type RegistryFlags } from '../registry/index.js';

export interface PushCommandOptions extends RegistryFlags {
  /** Layer compression for built layers. Default gzip. */
  compression?: 'gzip' | 'zstd';
  /** Upload in chunks of this many bytes. */
  chunkSize?: number;
  quiet?: boolean;
}

/**
 * `stagecraft push REF [REF...]`: pushes the local image tagged REF (the first
 * one; later ones are more names for the same image) and prints, as docker
 * does, `<tag>: digest: sha256:... size: N` per tag.
 */
export async function pushCommand(root: string, refs: string[], opts: PushCommandOptions = {}, io: CommandIo = processIo()): Promise<PushResult> {
  if (refs.length === 0) throw new StagecraftError('USAGE', 'push needs an image reference', { hint: 'stagecraft push registry.example/app:1' });
  const result = await push(refs, pushOptions(root, opts, io));
  printPushed(result, io);
  return result;
}

/** `stagecraft push --all-tags REPO`: each local tag of REPO pushed in turn (docker push -a), printed as pushCommand prints. */
export async function pushAllTagsCommand(root: string, refs: string[], opts: PushCommandOptions = {}, io: CommandIo = processIo()): Promise<PushResult[]> {
  if (refs.length !== 1) {
    throw new StagecraftError('USAGE', `push --all-tags takes one repository, not ${refs.length} arguments`, { hint: 'stagecraft push --all-tags registry.example/app' });
  }
  const results = await pushAllTags(refs[0]!, pushOptions(root, opts, io));
  for (const r of results) printPushed(r, io);
  return results;
}

function pushOptions(root: string, opts: PushCommandOptions, io: CommandIo): PushOptions {
  const onEvent = (e: PushEvent): void => {
    if (opts.quiet || e.kind !== 'blob') return;
    const word = e.result === 'exists' ? 'Layer already exists' : e.result === 'mounted' ? 'Mounted' : 'Pushed';
    io.stdout.write(`${e.digest.slice(7, 19)}: ${word}\n`);
  };
  return { root, insecureRegistries: opts.insecureRegistry, certsDir: opts.certsDir, dockerConfigDir: opts.configDir, compression: opts.compression, chunkSize: opts.chunkSize, onEvent };
}

function printPushed(result: PushResult, io: CommandIo): void {
  for (const r of result.references) {
    const ref = parseReference(r);
    io.stdout.write(`${ref.tag ?? ref.digest}: digest: ${result.digest} size: ${result.size}\n`);
  }
}

export interface PullCommandOptions extends RegistryFlags {
  /** `os/arch[/variant]`; default the host. */
  platform?: string;
  quiet?: boolean;
}

/**
 * `stagecraft pull REF`: fetches REF for the platform into the store and tags
 * it there under its full reference. As docker does, progress goes to stderr
 * (`<tag>: Pulling from <repo>`, a line per layer, `Digest:`, `Status:`) and
 * the full reference to stdout; `-q` prints only the reference.
 */
export async function pullCommand(root: string, ref: string, opts: PullCommandOptions = {}, io: CommandIo = processIo()): Promise<PullResult> {
  if (!ref) throw new StagecraftError('USAGE', 'pull needs an image reference', { hint: 'stagecraft pull registry.example/app:1' });
  const say = (s: string): void => { if (!opts.quiet) io.stderr.write(`${s}\n`); };
  const parsed = parseReference(ref);
  say(`${parsed.tag ?? parsed.digest ?? 'latest'}: Pulling from ${parsed.repository}`);
  const result = await pull(ref, {
    root, platform: opts.platform, insecureRegistries: opts.insecureRegistry, registryMirrors: opts.registryMirror, certsDir: opts.certsDir, dockerConfigDir: opts.configDir,
    onLayer: (e) => say(`${e.layer.digest.slice(7, 19)}: ${e.status === 'exists' ? 'Already exists' : 'Pull complete'}`),
  });
  const familiar = parseReference(result.reference).familiar();
  say(`Digest: ${result.digest}`);
  say(result.status === 'up-to-date' ? `Status: Image is up to date for ${familiar}` : `Status: Downloaded newer image for ${familiar} (${result.platform})`);
  io.stdout.write(`${result.reference}\n`);
  return result;
}

export interface LoginCommandOptions extends RegistryFlags {
  username?: string;
  /** Discouraged, as Docker says: the password shows in the process list and shell history. */
  password?: string;
  passwordStdin?: boolean;
}

async function readAll(input: AsyncIterable<Uint8Array | string>): Promise<string> {
  let s = '';
  for await (const c of input) s += typeof c === 'string' ? c : Buffer.from(c).toString('utf8');
  return s;
}

/** The registry a login/logout names: docker.io when none is given; `https://host/` forms accepted. */
export function loginRegistry(server: string | undefined): string {
  if (!server) return DEFAULT_REGISTRY;
  const host = server.trim().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (host === '' || /\s/.test(host)) throw new StagecraftError('USAGE', `${JSON.stringify(server)} is not a registry host`, { hint: 'e.g. stagecraft login registry.example:5000' });
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DEFAULT_REGISTRY : host;
}

/**
 * `stagecraft login [SERVER] -u USER (--password-stdin | -p PASSWORD)`:
 * checks the credentials against the registry (Basic or token flow), then
 * stores them as `docker login` does. Prints `Login Succeeded`.
 */
export async function loginCommand(server: string | undefined, opts: LoginCommandOptions, io: CommandIo = processIo()): Promise<void> {
  const registry = loginRegistry(server);
  if (!opts.username) throw new StagecraftError('USAGE', 'login needs a user name (-u, --username)');
  if (opts.password !== undefined && opts.passwordStdin) throw new StagecraftError('USAGE', '--password and --password-stdin are mutually exclusive');
  let password = opts.password;
  if (opts.passwordStdin) password = (await readAll(io.stdin)).replace(/\r?\n$/, '');
  if (!password) throw new StagecraftError('USAGE', 'login needs a password', { hint: 'pipe it in with --password-stdin' });
  if (opts.password !== undefined) io.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  const creds: Credentials = { username: opts.username, password };
  const client = new RegistryClient({ ...registryClientOptions(opts), credentials: () => creds, retries: 1 });
  try {
    await client.checkLogin(registry);
  } finally {
    client.close();
  }
  const where = await storeCredentials(registry, creds, { configDir: opts.configDir });
  if ('file' in where) io.stderr.write(`WARNING! Your password will be stored unencrypted in ${where.file}.\n`);
  io.stdout.write('Login Succeeded\n');
}

/** `stagecraft logout [SERVER]`: removes stored credentials as `docker logout` does. */
export async function logoutCommand(server: string | undefined, opts: Pick<RegistryFlags, 'configDir'> = {}, io: CommandIo = processIo()): Promise<void> {
  const registry = loginRegistry(server);
  const removed = await eraseCredentials(registry, { configDir: opts.configDir });
  io.stdout.write(removed ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
}
