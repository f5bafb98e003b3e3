/**
 * Image references (`registry/repository:tag@digest`) with Docker's
 * normalisation: `busybox` is `docker.io/library/busybox:latest`. Pure.
 */
import { StagecraftError } from '../errors.js';
import {
  DEFAULT_REGISTRY,
  DEFAULT_REGISTRY_API_HOST,
  DEFAULT_TAG,
  DIGEST_ALGORITHMS,
  DIGEST_SYNTAX,
  DOMAIN,
  IMAGE_ID,
  LEGACY_DEFAULT_REGISTRY,
  NAME_MAX_LENGTH,
  OFFICIAL_NAMESPACE,
  PATH_COMPONENT,
  TAG,
} from './grammar.js';

export interface ReferenceParts {
  registry: string;
  repository: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

/** A parsed, normalised image reference. Immutable. */
export class Reference implements ReferenceParts {
  /** e.g. `docker.io`, `127.0.0.1:5000`, `[::1]:5000`, `localhost`. */
  readonly registry: string;
  /** e.g. `library/busybox`, `team/app`. */
  readonly repository: string;
  /** `latest` when the text named neither tag nor digest. */
  readonly tag: string | undefined;
  /** `sha256:<hex>` when pinned. */
  readonly digest: string | undefined;

  constructor(parts: ReferenceParts) {
    this.registry = parts.registry;
    this.repository = parts.repository;
    this.tag = parts.tag;
    this.digest = parts.digest;
    Object.freeze(this);
  }

  /** `registry/repository` without tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** The host to send distribution API requests to (docker.io is served by registry-1.docker.io). */
  get apiHost(): string {
    return this.registry === DEFAULT_REGISTRY ? DEFAULT_REGISTRY_API_HOST : this.registry;
  }

  /** What to ask the registry for: the digest when pinned, else the tag. */
  get manifestRef(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** Full form: `docker.io/library/busybox:latest`, `host:5000/app@sha256:...`. */
  toString(): string {
    return `${this.name}${this.tag !== undefined ? `:${this.tag}` : ''}${this.digest !== undefined ? `@${this.digest}` : ''}`;
  }

  /** The short form Docker prints: `busybox:latest`, `team/app:1`, `host:5000/app:1`. */
  familiar(): string {
    let name = this.name;
    if (this.registry === DEFAULT_REGISTRY) {
      name = this.repository;
      const rest = name.slice(OFFICIAL_NAMESPACE.length + 1);
      if (name.startsWith(`${OFFICIAL_NAMESPACE}/`) && !rest.includes('/')) name = rest;
    }
    return `${name}${this.tag !== undefined ? `:${this.tag}` : ''}${this.digest !== undefined ? `@${this.digest}` : ''}`;
  }

  withTag(tag: string): Reference {
    if (!TAG.test(tag)) throw invalid(`${this.name}:${tag}`, `tag "${tag}" is not valid`, TAG_HINT);
    return new Reference({ registry: this.registry, repository: this.repository, tag, digest: undefined });
  }

  withDigest(digest: string): Reference {
    checkDigest(`${this.name}@${digest}`, digest);
    return new Reference({ registry: this.registry, repository: this.repository, tag: this.tag, digest });
  }

  equals(other: ReferenceParts): boolean {
    return this.registry === other.registry && this.repository === other.repository &&
      this.tag === other.tag && this.digest === other.digest;
  }

  toJSON(): string {
    return this.toString();
  }
}

const TAG_HINT = 'a tag is up to 128 letters, digits, "_", "." or "-", not starting with "." or "-"';
const NAME_HINT = 'names are lowercase letters, digits and separators (".", "_", "__", "-"), e.g. "registry.example:5000/team/app:1.0"';

function invalid(text: string, why: string, hint?: string): StagecraftError {
  return new StagecraftError('REFERENCE', `invalid image reference ${JSON.stringify(text)}: ${why}`, { hint });
}

function checkDigest(text: string, digest: string): void {
  if (!DIGEST_SYNTAX.test(digest)) throw invalid(text, `digest "${digest}" is not valid`, 'a digest looks like sha256:<64 lowercase hex digits>');
  const [algorithm, hex] = digest.split(':') as [string, string];
  const length = DIGEST_ALGORITHMS[algorithm];
  if (length === undefined) throw invalid(text, `unsupported digest algorithm "${algorithm}"`, 'use a sha256 digest');
  if (hex.length !== length || hex !== hex.toLowerCase()) {
    throw invalid(text, `${algorithm} digest must be ${length} lowercase hex digits`);
  }
}

/** Splits `name` into registry and remainder the way Docker does. */
function splitRegistry(name: string): { registry: string; remainder: string } {
  const i = name.indexOf('/');
  const first = i === -1 ? '' : name.slice(0, i);
  const isRegistry = i !== -1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first);
  if (!isRegistry) return { registry: DEFAULT_REGISTRY, remainder: name };
  return { registry: first === LEGACY_DEFAULT_REGISTRY ? DEFAULT_REGISTRY : first, remainder: name.slice(i + 1) };
}

/**
 * Parses an image reference with Docker's rules. Throws
 * `StagecraftError('REFERENCE')` naming the text and what is wrong.
 */
export function parseReference(text: string): Reference {
  if (text === '') throw invalid(text, 'it is empty', NAME_HINT);
  if (/\s/.test(text)) throw invalid(text, 'it contains white space', NAME_HINT);
  if (IMAGE_ID.test(text)) {
    throw invalid(text, 'a 64-character hex string is an image id, not a repository name', 'pin by digest instead: name@sha256:<hex>');
  }

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigest(text, digest);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(text, tag === '' ? 'the tag after ":" is empty' : `tag "${tag}" is not valid`, TAG_HINT);
  }

  if (rest === '') throw invalid(text, 'the repository name is empty', NAME_HINT);
  const { registry, remainder } = splitRegistry(rest);
  if (!DOMAIN.test(registry)) throw invalid(text, `registry "${registry}" is not a valid host[:port]`, NAME_HINT);
  if (remainder === '') throw invalid(text, 'the repository name is empty', NAME_HINT);
  if (remainder !== remainder.toLowerCase()) throw invalid(text, 'repository name must be lowercase', NAME_HINT);
  for (const component of remainder.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      const why = component === '' ? 'the repository name has an empty path component' : `"${component}" is not a valid repository name component`;
      throw invalid(text, why, NAME_HINT);
    }
  }
  const repository = registry === DEFAULT_REGISTRY && !remainder.includes('/') ? `${OFFICIAL_NAMESPACE}/${remainder}` : remainder;
  if (registry.length + 1 + repository.length > NAME_MAX_LENGTH) {
    throw invalid(text, `the name is longer than ${NAME_MAX_LENGTH} characters`);
  }
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return new Reference({ registry, repository, tag, digest });
}

/** The full text of reference parts (`formatReference(parseReference(s).parts)` is canonical). */
export function formatReference(parts: ReferenceParts): string {
  return new Reference(parts).toString();
}

/** True when `text` parses. */
export function isValidReference(text: string): boolean {
  try {
    parseReference(text);
    return true;
  } catch {
    return false;
  }
}
