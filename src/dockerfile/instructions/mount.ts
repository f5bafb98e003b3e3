/**
 * `RUN --mount=...` values. The instruction keeps the raw strings because
 * BuildKit expands ARG/ENV in mount values with the stage's scope; the planner
 * calls `parseMount(raw, expand)` then. Without `expand`, values are literal.
 */
import { goQuote, parseGoBool, parseGoUint, ramInBytes, splitCsvRecord } from './go-values.js';
import { problem } from './problem.js';
import { withSuggestion } from './suggest.js';

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

export const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly CacheSharing[] = ['shared', 'private', 'locked'];

/** Read-only bind of the build context (default) or of `from` (a stage or image). */
export interface BindMount {
  type: 'bind';
  /** As written; relative targets are relative to the WORKDIR. */
  target: string;
  /** Path inside `from` ('' = its root). */
  source: string;
  /** Stage name/index or image ('' = the build context). */
  from: string;
  readonly: boolean;
}

/** A persistent cache directory, keyed by `id` (defaults to the target). */
export interface CacheMount {
  type: 'cache';
  target: string;
  id: string;
  sharing: CacheSharing;
  /** Seed the cache from `from` (a stage or image; '' = empty). */
  from: string;
  source: string;
  readonly: boolean;
  /** Octal mode of a fresh cache dir (BuildKit default 0755), uid/gid default 0. */
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  /** Size limit in bytes, when `size=` was given. */
  size?: number;
  readonly: boolean;
}

export interface SecretMount {
  type: 'secret';
  /** The secret id: `source`, else `id`, else the base name of `target`. */
  id: string;
  /** File path; '' when the secret goes only to `env`. Defaults to /run/secrets/<id>. */
  target: string;
  /** Environment variable to expose the secret as. */
  env?: string;
  required: boolean;
  readonly: boolean;
  /** BuildKit defaults: mode 0400, uid/gid 0. */
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface SshMount {
  type: 'ssh';
  /** Agent id, `default` unless given. */
  id: string;
  /** Socket path; '' means BuildKit's default /run/buildkit/ssh_agent.<n>. */
  target: string;
  required: boolean;
  readonly: boolean;
  /** BuildKit defaults: mode 0600, uid/gid 0. */
  mode?: number;
  uid?: number;
  gid?: number;
}

export type Mount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

const ALL_KEYS = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid',
  'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];

interface Draft {
  type: MountType;
  from: string;
  source: string;
  target: string;
  readonly: boolean;
  id: string;
  sharing: CacheSharing | '';
  required: boolean;
  size?: number;
  env?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

function boolValue(key: string, value: string): boolean {
  const b = parseGoBool(value);
  if (b === undefined) throw problem(`invalid value for ${key}: ${value}`);
  return b;
}

function baseName(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed === '') return p === '' ? '.' : '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/**
 * Parses one `--mount` value (CSV of key=value fields). `expand` is applied to
 * every value first (ARG/ENV expansion); without it values are literal.
 * Throws StagecraftError 'INSTRUCTION' with BuildKit's messages.
 */
export function parseMount(raw: string, expand?: (s: string) => string): Mount {
  let fields: string[];
  try {
    fields = splitCsvRecord(raw);
  } catch (e) {
    throw problem(`failed to parse csv mounts: ${(e as Error).message}`);
  }
  const m: Draft = { type: 'bind', from: '', source: '', target: '', readonly: false, id: '', sharing: '', required: false };
  let roAuto = true;

  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq >= 0 ? field.slice(0, eq) : field).toLowerCase();
    if (eq < 0) {
      switch (key) {
        case 'readonly': case 'ro':
          m.readonly = true; roAuto = false; continue;
        case 'readwrite': case 'rw':
          m.readonly = false; roAuto = false; continue;
        case 'required':
          if (m.type === 'secret' || m.type === 'ssh') { m.required = true; continue; }
          throw problem(`unexpected key '${key}' for mount type '${m.type}'`);
        default:
          throw problem(`invalid field '${field}' must be a key=value pair`);
      }
    }
    const rawValue = field.slice(eq + 1);
    const value = expand ? expand(rawValue) : rawValue;
    switch (key) {
      case 'type': {
        const t = value.toLowerCase();
        if (!(MOUNT_TYPES as readonly string[]).includes(t)) {
          throw problem(withSuggestion(`unsupported mount type ${goQuote(value)}`, value, MOUNT_TYPES, true));
        }
        m.type = t as MountType;
        break;
      }
      case 'from': m.from = value; break;
      case 'source': case 'src': m.source = value; break;
      case 'target': case 'dst': case 'destination': m.target = value; break;
      case 'readonly': case 'ro':
        m.readonly = boolValue(key, value); roAuto = false; break;
      case 'readwrite': case 'rw':
        m.readonly = !boolValue(key, value); roAuto = false; break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw problem(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = boolValue(key, value);
        break;
      case 'size': {
        if (m.type !== 'tmpfs') throw problem(`unexpected key '${key}' for mount type '${m.type}'`);
        const size = ramInBytes(value);
        if (size === undefined) throw problem(`invalid value for ${key}: ${value}`);
        m.size = size;
        break;
      }
      case 'id': m.id = value; break;
      case 'sharing': {
        const s = value.toLowerCase();
        if (!(SHARING as readonly string[]).includes(s)) throw problem(`unsupported sharing value ${goQuote(value)}`);
        m.sharing = s as CacheSharing;
        break;
      }
      case 'mode': {
        const mode = parseGoUint(value, 8, 32);
        if (mode === undefined) throw problem(`invalid value ${value} for mode`);
        m.mode = mode;
        break;
      }
      case 'uid': case 'gid': {
        const n = parseGoUint(value, 10, 32);
        if (n === undefined) throw problem(`invalid value ${value} for ${key}`);
        m[key] = n;
        break;
      }
      case 'env': m.env = value; break;
      default:
        throw problem(withSuggestion(`unexpected key '${key}' in '${field}'`, key, ALL_KEYS, true));
    }
  }
  return finish(m, roAuto);
}

function finish(m: Draft, roAuto: boolean): Mount {
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (!fileInfoAllowed) {
    if (m.mode !== undefined) throw problem(`mode not allowed for ${goQuote(m.type)} type mounts`);
    if (m.uid !== undefined) throw problem(`uid not allowed for ${goQuote(m.type)} type mounts`);
    if (m.gid !== undefined) throw problem(`gid not allowed for ${goQuote(m.type)} type mounts`);
  }
  if (m.env !== undefined && m.type !== 'secret') throw problem(`env not allowed for ${goQuote(m.type)} type mounts`);
  const readonly = roAuto ? !(m.type === 'cache' || m.type === 'tmpfs') : m.readonly;
  if (m.sharing !== '' && m.type !== 'cache') throw problem(`invalid cache sharing set for ${m.type} mount`);
  const fileInfo = {
    ...(m.mode !== undefined ? { mode: m.mode } : {}),
    ...(m.uid !== undefined ? { uid: m.uid } : {}),
    ...(m.gid !== undefined ? { gid: m.gid } : {}),
  };
  switch (m.type) {
    case 'bind':
      return { type: 'bind', target: m.target, source: m.source, from: m.from, readonly };
    case 'cache':
      return {
        type: 'cache', target: m.target, id: m.id !== '' ? m.id : m.target, sharing: m.sharing || 'shared',
        from: m.from, source: m.source, readonly, ...fileInfo,
      };
    case 'tmpfs':
      return { type: 'tmpfs', target: m.target, readonly, ...(m.size !== undefined ? { size: m.size } : {}) };
    case 'secret': {
      if (m.from !== '') throw problem('secret mount should not have a from');
      if (m.source === '' && m.target === '' && m.id === '') {
        throw problem('invalid secret mount. one of source, target required');
      }
      if (m.source !== '' && m.id !== '') throw problem("both source and id can't be set");
      const id = m.source !== '' ? m.source : m.id !== '' ? m.id : baseName(m.target);
      const target = m.target !== '' ? m.target : m.env !== undefined ? '' : `/run/secrets/${baseName(id)}`;
      return {
        type: 'secret', id, target, required: m.required, readonly,
        ...(m.env !== undefined ? { env: m.env } : {}), ...fileInfo,
      };
    }
    case 'ssh':
      return { type: 'ssh', id: m.id !== '' ? m.id : 'default', target: m.target, required: m.required, readonly, ...fileInfo };
  }
}

/**
 * The checks BuildKit makes while parsing the instruction, before expansion:
 * CSV syntax, key names, valueless keys, and no variables in `from`. Full
 * validation waits for `parseMount` at conversion, as in BuildKit, so a bad
 * mount in a stage the build never reaches is not an error.
 */
export function checkMountSyntax(raw: string): void {
  let fields: string[];
  try {
    fields = splitCsvRecord(raw);
  } catch (e) {
    throw problem(`failed to parse csv mounts: ${(e as Error).message}`);
  }
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq >= 0 ? field.slice(0, eq) : field).toLowerCase();
    if (eq < 0) {
      if (!['readonly', 'ro', 'readwrite', 'rw', 'required'].includes(key)) {
        throw problem(`invalid field '${field}' must be a key=value pair`);
      }
      continue;
    }
    if (key === 'from' && /\$./.test(field.slice(eq + 1))) {
      throw problem(`'${key}' doesn't support variable expansion, define alias stage instead`);
    }
    if (!ALL_KEYS.includes(key)) {
      throw problem(withSuggestion(`unexpected key '${key}' in '${field}'`, key, ALL_KEYS, true));
    }
  }
}
