/**
 * Credentials the way the docker CLI stores them: `$DOCKER_CONFIG/config.json`
 * (default `~/.docker/config.json`) with `auths` entries, a default
 * `credsStore` helper, or per-registry `credHelpers`
 * (`docker-credential-<name> get`, server URL on stdin, JSON on stdout).
 *
 * Nothing read here is ever put in a message: errors name the file or the
 * helper, never the content.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { StagecraftError } from '../errors.js';
import type { Credentials, CredentialsProvider } from './types.js';

export interface DockerConfigOptions {
  /** Directory holding config.json. Default: $DOCKER_CONFIG, else ~/.docker. */
  configDir?: string;
  /** Environment for credential helpers (PATH is used to find them). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Docker Hub's key in config.json, which helpers are also asked for. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

/** `https://index.docker.io/v1/`, `docker.io`, `myreg:5000/v2/` → `docker.io`, `myreg:5000`. */
export function normalizeRegistryKey(key: string): string {
  let k = key.trim().toLowerCase().replace(/^[a-z]+:\/\//, '');
  const slash = k.indexOf('/');
  if (slash !== -1) k = k.slice(0, slash);
  return k === 'index.docker.io' || k === 'registry-1.docker.io' ? 'docker.io' : k;
}

function findKey<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (!map) return undefined;
  for (const [k, v] of Object.entries(map)) if (normalizeRegistryKey(k) === host) return v;
  return undefined;
}

function fromEntry(entry: AuthEntry | undefined): Credentials | undefined {
  if (!entry) return undefined;
  if (entry.identitytoken) {
    let username = entry.username ?? '';
    if (!username && entry.auth) username = Buffer.from(entry.auth, 'base64').toString('utf8').split(':')[0] ?? '';
    return { username, password: '', identityToken: entry.identitytoken };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}

/** Runs `docker-credential-<helper> get`; undefined when it has nothing for the server. */
async function fromHelper(helper: string, serverUrl: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.on('error', (e) => reject(new StagecraftError('REGISTRY', `credential helper ${program} could not be started: ${(e as NodeJS.ErrnoException).code ?? e.message}`, {
      hint: `install ${program} or remove it from your docker config.json`,
    })));
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.end(serverUrl);
  });
  if (code !== 0) {
    if (/credentials not found/i.test(stdout + stderr)) return undefined;
    throw new StagecraftError('REGISTRY', `credential helper ${program} failed for ${serverUrl} (exit ${code})`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch {
    throw new StagecraftError('REGISTRY', `credential helper ${program} did not answer with JSON for ${serverUrl}`);
  }
  if (typeof parsed.Username !== 'string' || typeof parsed.Secret !== 'string' || parsed.Secret === '') return undefined;
  // '<token>' marks an identity (OAuth2 refresh) token.
  if (parsed.Username === '<token>') return { username: '', password: '', identityToken: parsed.Secret };
  return { username: parsed.Username, password: parsed.Secret };
}

/**
 * A CredentialsProvider backed by the docker CLI's config. The file is read
 * once, on the first lookup; a missing file means anonymous access.
 */
export function dockerConfigCredentials(opts: DockerConfigOptions = {}): CredentialsProvider {
  const env = opts.env ?? process.env;
  const dir = opts.configDir ?? env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  const path = join(dir, 'config.json');
  let config: Promise<DockerConfigFile> | undefined;
  const load = async (): Promise<DockerConfigFile> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new StagecraftError('REGISTRY', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    try {
      const v = JSON.parse(text) as unknown;
      return v !== null && typeof v === 'object' ? (v as DockerConfigFile) : {};
    } catch {
      // The parser's message quotes the text, which may hold credentials: say only where.
      throw new StagecraftError('REGISTRY', `${path} is not valid JSON`, { hint: 'fix or remove the file' });
    }
  };
  return async (registry: string): Promise<Credentials | undefined> => {
    config ??= load();
    const c = await config;
    const host = normalizeRegistryKey(registry);
    const serverUrl = host === 'docker.io' ? DOCKER_HUB_KEY : host;
    const helper = findKey(c.credHelpers, host) ?? c.credsStore;
    if (helper) {
      const found = await fromHelper(helper, serverUrl, env);
      if (found) return found;
    }
    return fromEntry(findKey(c.auths, host));
  };
}
