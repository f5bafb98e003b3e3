/**
 * How to reach one registry host, decided the way Docker decides it:
 *
 * - a directory `<certsDir>/<host[:port]>/` (default `/etc/docker/certs.d`)
 *   with `*.crt` files adds those CAs to the system roots for that host, and
 *   `<name>.cert` + `<name>.key` pairs become client certificates; TLS is then
 *   verified, also for loopback hosts;
 * - a host marked insecure (`--insecure-registry`) is tried over HTTPS without
 *   certificate verification, then over plain HTTP when it does not speak TLS;
 * - a loopback host with no certs.d entry is plain HTTP (as before: the
 *   registries in tests and local development);
 * - everything else is HTTPS, verified against the system roots.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError } from '../errors.js';

export const DEFAULT_CERTS_DIR = '/etc/docker/certs.d';

export interface HostTls {
  /** CA certificates (PEM) to trust besides the system roots. */
  ca: string[];
  /** Client certificate and key pairs (PEM). */
  clientCerts: Array<{ cert: string; key: string }>;
}

export type HostMode =
  | { kind: 'http' }
  | { kind: 'https-verify'; tls?: HostTls }
  | { kind: 'https-insecure' };

/** The pure decision: what to try for a host, given what the configuration says about it. */
export function hostMode(f: { loopback: boolean; insecure: boolean; tls: HostTls | undefined }): HostMode {
  if (f.tls) return { kind: 'https-verify', tls: f.tls };
  if (f.insecure) return { kind: 'https-insecure' };
  if (f.loopback) return { kind: 'http' };
  return { kind: 'https-verify' };
}

/** Reads `<certsDir>/<host>/`; undefined when there is no such directory or it holds no certificates. */
export async function readHostTls(certsDir: string, host: string): Promise<HostTls | undefined> {
  // Docker names the directory exactly as the host is written (with the port); IPv6 brackets included.
  const dir = join(certsDir, host);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new StagecraftError('REGISTRY', `cannot read ${dir}: ${code ?? 'error'}`);
  }
  const ca: string[] = [];
  const clientCerts: HostTls['clientCerts'] = [];
  for (const name of names) {
    if (name.endsWith('.crt')) ca.push(await readFile(join(dir, name), 'utf8'));
    else if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -'.cert'.length)}.key`;
      if (!names.includes(keyName)) {
        throw new StagecraftError('REGISTRY', `client certificate ${join(dir, name)} has no key ${keyName} beside it`, { hint: 'add the key or remove the certificate' });
      }
      clientCerts.push({ cert: await readFile(join(dir, name), 'utf8'), key: await readFile(join(dir, keyName), 'utf8') });
    } else if (name.endsWith('.key')) {
      const certName = `${name.slice(0, -'.key'.length)}.cert`;
      if (!names.includes(certName)) {
        throw new StagecraftError('REGISTRY', `client key ${join(dir, name)} has no certificate ${certName} beside it`, { hint: 'add the certificate or remove the key' });
      }
    }
  }
  if (ca.length === 0 && clientCerts.length === 0) return undefined;
  return { ca, clientCerts };
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

/** A certificate the client would not trust. */
export function isTlsVerifyError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TLS_VERIFY_CODES.has(code);
}

/** The server answered a TLS hello with something that is not TLS (a plain HTTP server). */
export function isNotTlsError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ECONNRESET') return true;
  return e instanceof Error && /wrong version number|packet length too long|unknown protocol/i.test(e.message);
}
