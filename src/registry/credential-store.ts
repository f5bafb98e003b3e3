/**
 * Writing credentials the way `docker login` / `docker logout` do, so the
 * docker CLI, skopeo, buildx and stagecraft share them:
 *
 * - the server key is `https://index.docker.io/v1/` for Docker Hub, else the
 *   registry host as written (`registry.example:5000`);
 * - with a helper for the server (`credHelpers[server]`, else `credsStore`),
 *   `docker-credential-<helper> store` gets `{"ServerURL","Username","Secret"}`
 *   on stdin, and config.json keeps an empty `auths[server]` entry (as Docker
 *   does, so the server is listed); `erase` gets the server URL on stdin;
 * - otherwise `auths[server].auth` is base64(`user:password`);
 * - every other key in config.json is kept; the file is replaced atomically
 *   and is readable by its owner only (0600).
 *
 * No secret is ever part of an error message: helper output is not quoted.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { StagecraftError } from '../errors.js';
import { normalizeRegistryKey } from './docker-config.js';
import type { Credentials } from './types.js';

export const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

export interface CredentialStoreOptions {
  /** Directory holding config.json. Default: $DOCKER_CONFIG, else ~/.docker. */
  configDir?: string | undefined;
  /** Environment for helpers (PATH finds them). Default process.env. */
  env?: NodeJS.ProcessEnv | undefined;
}

/** The key Docker files a registry's credentials under: Docker Hub's v1 URL, else the host. */
export function serverKey(registry: string): string {
  const host = normalizeRegistryKey(registry);
  return host === 'docker.io' ? DOCKER_HUB_SERVER : host;
}

function configPath(opts: CredentialStoreOptions): string {
  const env = opts.env ?? process.env;
  return join(opts.configDir ?? env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

type ConfigFile = Record<string, unknown> & {
  auths?: Record<string, Record<string, unknown>>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
};

async function readConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new StagecraftError('REGISTRY', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (text.trim() === '') return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as ConfigFile;
  } catch {
    /* fall through: never quote the text, it may hold credentials */
  }
  throw new StagecraftError('REGISTRY', `${path} is not a JSON object`, { hint: 'fix or remove the file' });
}

async function writeConfig(path: string, config: ConfigFile): Promise<void> {
  const dir = join(path, '..');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new StagecraftError('REGISTRY', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
}

function helperFor(config: ConfigFile, server: string): string | undefined {
  const host = normalizeRegistryKey(server);
  for (const [k, v] of Object.entries(config.credHelpers ?? {})) if (normalizeRegistryKey(k) === host && v) return v;
  return config.credsStore || undefined;
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin; rejects on a non-zero exit without quoting output. */
function runHelper(helper: string, action: 'store' | 'erase', input: string, server: string, env: NodeJS.ProcessEnv): Promise<void> {
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err = (err + s).slice(-4096); });
    child.on('error', (e) => reject(new StagecraftError('REGISTRY', `credential helper ${program} could not be started: ${(e as NodeJS.ErrnoException).code ?? e.message}`, {
      hint: `install ${program} or remove it from your docker config.json`,
    })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else if (action === 'erase' && /credentials not found/i.test(err)) resolve();
      else reject(new StagecraftError('REGISTRY', `credential helper ${program} ${action} failed for ${server} (exit ${code})`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Where credentials went: a helper's name, or the config file. */
export type StoredIn = { helper: string } | { file: string };

/** Stores credentials for `registry` as `docker login` does. */
export async function storeCredentials(registry: string, creds: Credentials, opts: CredentialStoreOptions = {}): Promise<StoredIn> {
  const path = configPath(opts);
  const config = await readConfig(path);
  const server = serverKey(registry);
  const helper = helperFor(config, server);
  const auths = { ...(config.auths ?? {}) };
  for (const k of Object.keys(auths)) if (k !== server && normalizeRegistryKey(k) === normalizeRegistryKey(server)) delete auths[k];
  if (helper) {
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: server, Username: creds.username, Secret: creds.password }), server, opts.env ?? process.env);
    auths[server] = {};
    await writeConfig(path, { ...config, auths });
    return { helper: `docker-credential-${helper}` };
  }
  auths[server] = { ...(auths[server] ?? {}), auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  delete auths[server]!.username;
  delete auths[server]!.password;
  await writeConfig(path, { ...config, auths });
  return { file: path };
}

/** Removes credentials for `registry` as `docker logout` does. Returns false when there were none in config.json. */
export async function eraseCredentials(registry: string, opts: CredentialStoreOptions = {}): Promise<boolean> {
  const path = configPath(opts);
  const config = await readConfig(path);
  const server = serverKey(registry);
  const helper = helperFor(config, server);
  if (helper) await runHelper(helper, 'erase', server, server, opts.env ?? process.env);
  const auths = { ...(config.auths ?? {}) };
  let found = false;
  for (const k of Object.keys(auths)) {
    if (normalizeRegistryKey(k) === normalizeRegistryKey(server)) {
      delete auths[k];
      found = true;
    }
  }
  if (found) await writeConfig(path, { ...config, auths });
  return found || helper !== undefined;
}
