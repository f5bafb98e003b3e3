/**
 * NODE_EXTRA_CA_CERTS, read when a TLS connection needs it instead of when
 * Node starts.
 *
 * With NODE_EXTRA_CA_CERTS set, Node 20 builds its whole root certificate
 * store while it starts, before any JavaScript runs: ~50 ms of every command
 * on the build VM (a no-op rebuild took 0.19 s with it and 0.15 s without),
 * though most commands never open a TLS connection. `bin/stagecraft` therefore
 * starts Node without it and hands the file on as STAGECRAFT_EXTRA_CA_CERTS;
 * the TLS clients (registry transport, ADD of https URLs) then trust the
 * system roots plus that file, as Node itself would have. Processes the CLI
 * starts get NODE_EXTRA_CA_CERTS back (bin/stagecraft.cjs puts it back into
 * the environment).
 */
import { readFileSync } from 'node:fs';
import { builtin } from '../util/builtin.js';

let loaded: string[] | undefined;

/** The deferred file's certificates (PEM text), or none when Node loaded them itself (or there are none). */
export function deferredExtraCas(): string[] {
  if (loaded) return loaded;
  loaded = [];
  const file = process.env.STAGECRAFT_EXTRA_CA_CERTS;
  if (!file) return loaded;
  try {
    loaded = [readFileSync(file, 'utf8')];
  } catch (e) {
    // What Node prints for an unreadable NODE_EXTRA_CA_CERTS; the system roots still apply.
    process.stderr.write(`Warning: Ignoring extra certs from \`${file}\`, load failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
  }
  return loaded;
}

/**
 * The `ca` option for a TLS client that trusts `extra` CAs besides the
 * default ones, or undefined when Node's default store already is the answer
 * (no extra CAs and nothing deferred). Giving `ca` replaces Node's store, so
 * the system roots are listed too.
 */
export function caOption(extra: readonly string[] = []): string[] | undefined {
  const deferred = deferredExtraCas();
  if (extra.length === 0 && deferred.length === 0) return undefined;
  return [...builtin('node:tls').rootCertificates, ...deferred, ...extra];
}
