/**
 * What a base image is, as far as its reference (and, when known, its config
 * or /etc/os-release) tells: its C library and Python version.
 */
import type { BaseImageInfo } from './types.js';

export type Libc = 'musl' | 'glibc';

export interface BaseIdentity {
  /** The image reference the stage chain starts from; 'scratch' for none. */
  ref: string;
  libc?: Libc;
  /** `major.minor`, e.g. `3.11`. */
  python?: string;
}

/** Official images whose default variants are Debian-based. */
const DEBIAN_DEFAULT = new Set([
  'python', 'node', 'golang', 'ruby', 'php', 'openjdk', 'eclipse-temurin', 'rust', 'perl', 'buildpack-deps',
  'gcc', 'maven', 'gradle', 'haskell', 'julia', 'r-base', 'elixir', 'erlang', 'pypy', 'nginx', 'httpd', 'postgres', 'redis',
]);
const GLIBC_DISTROS = new Set([
  'debian', 'ubuntu', 'centos', 'fedora', 'rockylinux', 'almalinux', 'amazonlinux', 'oraclelinux', 'archlinux',
  'ubi', 'ubi8', 'ubi9', 'ubi-minimal', 'opensuse', 'photon', 'clearlinux',
]);
const MUSL_DISTROS = new Set(['alpine', 'chainguard/wolfi-base']);

function splitRef(ref: string): { name: string; path: string; tag: string } {
  let rest = ref;
  const at = rest.indexOf('@');
  if (at >= 0) rest = rest.slice(0, at);
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag = '';
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const name = rest.slice(rest.lastIndexOf('/') + 1).toLowerCase();
  return { name, path: rest.toLowerCase(), tag: tag.toLowerCase() };
}

export function libcFromReference(ref: string): Libc | undefined {
  const { name, path, tag } = splitRef(ref);
  if (ref === 'scratch') return undefined;
  if (/(^|[-.])alpine/.test(tag) || MUSL_DISTROS.has(name) || path.endsWith('wolfi-base')) return 'musl';
  if (name === 'busybox') return /musl/.test(tag) ? 'musl' : /glibc/.test(tag) ? 'glibc' : undefined;
  if (GLIBC_DISTROS.has(name) || path.includes('distroless/')) return 'glibc';
  if (DEBIAN_DEFAULT.has(name)) return 'glibc';
  return undefined;
}

export function pythonFromReference(ref: string): string | undefined {
  const { name, tag } = splitRef(ref);
  if (name !== 'python') return undefined;
  const m = /^(\d+\.\d+)(?:[.-]|$)/.exec(tag);
  return m?.[1];
}

export function identify(ref: string, info: BaseImageInfo | undefined): BaseIdentity {
  const out: BaseIdentity = { ref };
  const id = info?.osReleaseId?.toLowerCase();
  const libc = id !== undefined ? (id === 'alpine' || id === 'wolfi' ? 'musl' : 'glibc') : libcFromReference(ref);
  if (libc) out.libc = libc;
  let python = info?.pythonVersion;
  if (python === undefined) {
    const env = info?.env?.find((e) => e.startsWith('PYTHON_VERSION='));
    const m = env ? /^PYTHON_VERSION=(\d+\.\d+)/.exec(env) : null;
    python = m?.[1] ?? pythonFromReference(ref);
  }
  if (python !== undefined) out.python = /^(\d+\.\d+)/.exec(python)?.[1] ?? python;
  return out;
}
