/**
 * Build secrets and SSH agents given on the command line, as `docker build`
 * takes them:
 *
 *   --secret id=aws,src=$HOME/.aws/credentials   (a file; `source=` too)
 *   --secret id=token,env=GITHUB_TOKEN           (an environment variable)
 *   --secret id=API_KEY                          (the variable named like the id, else the file of that name)
 *   --ssh default                                ($SSH_AUTH_SOCK)
 *   --ssh default=/path/to/agent.sock            (one or more sockets, comma separated)
 *
 * Parsing is pure. Values are read only when a RUN step mounts the secret,
 * and never appear in a message: errors name the id and where we looked.
 */
import { readFile, stat } from 'node:fs/promises';
import { StagecraftError } from '../errors.js';

export interface SecretSpec {
  id: string;
  /** Where the value comes from. */
  source: { kind: 'file'; path: string } | { kind: 'env'; name: string } | { kind: 'auto' };
}

export interface SshSpec {
  id: string;
  /** Agent socket paths; empty means $SSH_AUTH_SOCK at build time. */
  paths: string[];
}

/** BuildKit refuses secrets larger than this. */
export const MAX_SECRET_BYTES = 500 * 1024;

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

/** Parses one `--secret` value. */
export function parseSecretFlag(text: string): SecretSpec {
  const fields = text.split(',').map((f) => f.trim()).filter((f) => f !== '');
  let id = '';
  let type = '';
  let src = '';
  let env = '';
  for (const field of fields) {
    const eq = field.indexOf('=');
    if (eq < 0) throw usage(`invalid --secret field "${field}": expected key=value`, 'write --secret id=NAME,src=FILE or --secret id=NAME,env=VAR');
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    switch (key) {
      case 'id': id = value; break;
      case 'type': type = value; break;
      case 'src': case 'source': src = value; break;
      case 'env': env = value; break;
      default: throw usage(`unexpected key "${key}" in --secret`, 'the keys are id, type, src (or source) and env');
    }
  }
  if (type !== '' && type !== 'file' && type !== 'env') throw usage(`unsupported secret type "${type}"`, 'use type=file or type=env');
  if (type === 'env' && env === '') { env = src; src = ''; }
  if (id === '') id = env !== '' ? env : src !== '' ? src.slice(src.lastIndexOf('/') + 1) : '';
  if (id === '') throw usage('--secret needs an id', 'write --secret id=NAME,src=FILE');
  if (src !== '' && env !== '') throw usage(`--secret id=${id} has both src= and env=`, 'give one of them');
  if (src !== '') return { id, source: { kind: 'file', path: src } };
  if (env !== '') return { id, source: { kind: 'env', name: env } };
  return { id, source: type === 'file' ? { kind: 'file', path: id } : type === 'env' ? { kind: 'env', name: id } : { kind: 'auto' } };
}

/** Parses one `--ssh` value: `default`, `id=/sock`, `id=/a.sock,/b.sock`. */
export function parseSshFlag(text: string): SshSpec {
  const eq = text.indexOf('=');
  const id = (eq < 0 ? text : text.slice(0, eq)).trim();
  if (id === '' || /[,\s]/.test(id)) throw usage(`invalid --ssh value "${text}"`, 'write --ssh default or --ssh default=/path/to/agent.sock');
  const paths = eq < 0 ? [] : text.slice(eq + 1).split(',').map((p) => p.trim()).filter((p) => p !== '');
  return { id, paths };
}

/** The secrets and agents of one build, looked up by id when a step mounts them. */
export class BuildSecrets {
  readonly #secrets = new Map<string, SecretSpec>();
  readonly #ssh = new Map<string, SshSpec>();
  readonly #env: NodeJS.ProcessEnv;

  constructor(secrets: readonly SecretSpec[] = [], ssh: readonly SshSpec[] = [], env: NodeJS.ProcessEnv = process.env) {
    for (const s of secrets) this.#secrets.set(s.id, s);
    for (const s of ssh) this.#ssh.set(s.id, s);
    this.#env = env;
  }

  /** The value of secret `id`, or undefined when the build has no such secret. */
  async secret(id: string): Promise<Buffer | undefined> {
    const spec = this.#secrets.get(id);
    if (!spec) return undefined;
    const src = spec.source;
    if (src.kind === 'env') {
      const v = this.#env[src.name];
      if (v === undefined) throw new StagecraftError('NOT_FOUND', `secret ${id}: environment variable ${src.name} is not set`, { hint: `export ${src.name} before the build, or pass --secret id=${id},src=FILE` });
      return checkSize(id, Buffer.from(v, 'utf8'));
    }
    if (src.kind === 'auto') {
      const v = this.#env[id];
      if (v !== undefined) return checkSize(id, Buffer.from(v, 'utf8'));
      return readSecretFile(id, id);
    }
    return readSecretFile(id, src.path);
  }

  /** Socket paths of agent `id`, or undefined when the build has none. */
  sshSockets(id: string): string[] | undefined {
    const spec = this.#ssh.get(id);
    if (!spec) return undefined;
    if (spec.paths.length > 0) return spec.paths;
    const sock = this.#env.SSH_AUTH_SOCK;
    if (!sock) throw new StagecraftError('NOT_FOUND', `--ssh ${id}: SSH_AUTH_SOCK is not set`, { hint: 'start ssh-agent (eval $(ssh-agent); ssh-add), or pass --ssh default=/path/to/agent.sock' });
    return [sock];
  }
}

async function readSecretFile(id: string, path: string): Promise<Buffer> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) throw new StagecraftError('NOT_FOUND', `secret ${id}: ${path} is not a readable file`, { hint: `pass --secret id=${id},src=<existing file>` });
  if (st.size > MAX_SECRET_BYTES) throw new StagecraftError('USAGE', `secret ${id} is larger than ${MAX_SECRET_BYTES} bytes`, { hint: 'secrets are for keys and tokens; pass large files through the context' });
  return readFile(path);
}

function checkSize(id: string, b: Buffer): Buffer {
  if (b.length > MAX_SECRET_BYTES) throw new StagecraftError('USAGE', `secret ${id} is larger than ${MAX_SECRET_BYTES} bytes`);
  return b;
}
