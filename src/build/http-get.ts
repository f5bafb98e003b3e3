/**
 * One GET over node:http / node:https that follows redirects the way fetch()
 * does (301, 302, 303, 307, 308; at most 20; Authorization is not carried
 * to another origin), for ADD's URL sources.
 *
 * Not fetch(): Node 20's fetch cannot be given CA certificates, and the CLI
 * reads NODE_EXTRA_CA_CERTS itself (extra-ca.ts). No Accept-Encoding is
 * sent, so the body arrives as the server stores it, as BuildKit's client
 * receives it.
 */
import type { IncomingMessage } from 'node:http';
import { builtin } from '../util/builtin.js';
import { caOption } from '../registry/extra-ca.js';

export interface HttpGetOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

/** The final response (status and headers; the body still to be read or destroyed). */
export async function httpGet(url: string, opts: HttpGetOptions = {}): Promise<IncomingMessage> {
  let target = new URL(url);
  let headers = { ...opts.headers };
  for (let hops = 0; ; hops++) {
    const res = await once(target, headers, opts.signal);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined) return res;
    res.resume();
    if (hops === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, target);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new Error(`redirect to ${next.protocol} URL`);
    if (next.origin !== target.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
    }
    target = next;
  }
}

function once(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const common = { method: 'GET', headers, ...(signal ? { signal } : {}) };
    const req = url.protocol === 'https:'
      ? builtin('node:https').request(url, { ...common, ca: caOption() })
      : url.protocol === 'http:' ? builtin('node:http').request(url, common) : undefined;
    if (!req) {
      reject(new Error(`unsupported URL scheme ${url.protocol}`));
      return;
    }
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}
