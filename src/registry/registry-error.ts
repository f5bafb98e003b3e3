/**
 * Registry failures: which registry and repository, the HTTP status, the
 * registry's own error code (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, ...) and
 * whether trying again may help. Messages never contain credentials.
 */
import { StagecraftError, type ErrorCode } from '../errors.js';

export interface RegistryErrorDetails {
  registry: string;
  repository?: string | undefined;
  status?: number | undefined;
  /** First error code from the registry's JSON error body. */
  registryCode?: string | undefined;
  /** True for 5xx, 429 and connection failures. */
  retryable?: boolean | undefined;
  hint?: string | undefined;
  cause?: unknown;
}

export class RegistryError extends StagecraftError {
  readonly registry: string;
  readonly repository: string | undefined;
  readonly status: number | undefined;
  readonly registryCode: string | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, d: RegistryErrorDetails) {
    super(code, message, { hint: d.hint, cause: d.cause });
    this.name = 'RegistryError';
    this.registry = d.registry;
    this.repository = d.repository;
    this.status = d.status;
    this.registryCode = d.registryCode;
    this.retryable = d.retryable ?? false;
  }
}

/** One entry of the distribution spec's error body: `{"errors":[{code,message,detail}]}`. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
}

/** Parses a registry error body; [] when it is not one. */
export function parseErrorBody(text: string): RegistryErrorEntry[] {
  try {
    const v = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(v.errors)) return [];
    return v.errors
      .filter((e): e is { code: string; message?: unknown } => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string')
      .map((e) => (typeof e.message === 'string' ? { code: e.code, message: e.message } : { code: e.code }));
  } catch {
    return [];
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

const RETRYABLE_NET = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** Connection-level failures worth another attempt. */
export function isRetryableNetworkError(e: unknown): boolean {
  if (e instanceof RegistryError) return e.retryable;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && RETRYABLE_NET.has(code)) return true;
  return e instanceof Error && /socket hang up|aborted/i.test(e.message);
}

/** A loopback registry reached over plain HTTP that only speaks TLS answers 400 with Go's "HTTP request to an HTTPS server". */
export function tlsOnlyHint(status: number, body: string, registry: string): string | undefined {
  if (status !== 400 || !body.includes('HTTP request to an HTTPS server')) return undefined;
  return `${registry} speaks HTTPS: put its CA in <certs-dir>/${registry}/ca.crt (--certs-dir, default /etc/docker/certs.d), or pass --insecure-registry ${registry}`;
}
