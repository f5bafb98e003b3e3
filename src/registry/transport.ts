/**
 * HTTP to registries: plain HTTP for loopback and insecure hosts, HTTPS
 * otherwise; the auth dance (anonymous, Bearer token on challenge, Basic with
 * credentials); redirects that never carry Authorization to another host; and
 * retries with backoff on 5xx, 429 and dropped connections.
 *
 * Responses come back with their body as a stream, unread.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { parseAuthChallenges, type AuthChallenge } from './auth-challenge.js';
import { isRetryableNetworkError, isRetryableStatus, parseErrorBody, RegistryError } from './registry-error.js';
import type { CredentialsProvider } from './types.js';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
}

export interface TransportOptions {
  insecureRegistries?: string[] | undefined;
  userAgent: string;
  credentials?: CredentialsProvider | undefined;
  retries: number;
  retryBaseMs: number;
  timeoutMs: number;
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  accept?: string[];
  /** Token scope, e.g. `repository:library/busybox:pull`; undefined for /v2/. */
  scope?: string | undefined;
  /** Repository for error messages. */
  repository?: string | undefined;
  /** Registry name for credential lookup when it differs from the API host (docker.io → registry-1.docker.io). */
  registry?: string | undefined;
}

/** The host part of `host[:port]` or `[v6]:port`. */
export function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const i = host.lastIndexOf(':');
  return i === -1 ? host : host.slice(0, i);
}

/** localhost, 127.0.0.0/8 and ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = hostname(host).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

const MAX_REDIRECTS = 5;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reads a small body (error JSON, tokens) as text, capped. */
export async function readText(body: IncomingMessage, limit = 1 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      body.destroy();
      throw new Error(`response body larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function drain(body: IncomingMessage): void {
  body.resume();
  body.on('error', () => undefined);
}

interface CachedAuth {
  header: string;
  expires: number;
}

export class Transport {
  readonly #opts: TransportOptions;
  readonly #insecure: Set<string>;
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  readonly #https = new HttpsAgent({ keepAlive: true, maxSockets: 16 });
  /** Authorization header values by `host scope`. Never logged. */
  readonly #auth = new Map<string, CachedAuth>();

  constructor(opts: TransportOptions) {
    this.#opts = opts;
    this.#insecure = new Set((opts.insecureRegistries ?? []).map((h) => h.toLowerCase()));
  }

  /** `http` for loopback and insecure registries, else `https`. */
  scheme(host: string): 'http' | 'https' {
    return isLoopbackHost(host) || this.#insecure.has(host.toLowerCase()) ? 'http' : 'https';
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  /**
   * Requests `path` (e.g. `/v2/library/busybox/manifests/latest`) from the
   * registry API host, authenticating and retrying as needed. Any status is
   * returned; the caller turns unexpected ones into errors (see `failure`).
   */
  async request(host: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    const url = new URL(`${this.scheme(host)}://${host}${path}`);
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.#authorized(host, url, opts);
      } catch (e) {
        if (attempt < this.#opts.retries && isRetryableNetworkError(e)) {
          await sleep(this.#backoff(attempt));
          continue;
        }
        throw this.#networkError(host, opts.repository, e);
      }
      if (isRetryableStatus(res.status) && attempt < this.#opts.retries) {
        const wait = this.#retryAfter(res.headers['retry-after']) ?? this.#backoff(attempt);
        drain(res.body);
        await sleep(wait);
        continue;
      }
      return res;
    }
  }

  #backoff(attempt: number): number {
    const base = this.#opts.retryBaseMs * 2 ** attempt;
    return base + Math.floor(Math.random() * base * 0.25);
  }

  #retryAfter(v: string | undefined): number | undefined {
    if (!v) return undefined;
    const seconds = Number(v);
    if (Number.isFinite(seconds)) return Math.min(Math.max(seconds, 0), 30) * 1000;
    const when = Date.parse(v);
    return Number.isNaN(when) ? undefined : Math.min(Math.max(when - Date.now(), 0), 30_000);
  }

  #networkError(host: string, repository: string | undefined, e: unknown): RegistryError {
    if (e instanceof RegistryError) return e;
    const code = (e as { code?: unknown } | null)?.code;
    const what = typeof code === 'string' ? code : e instanceof Error ? e.message : String(e);
    return new RegistryError('REGISTRY', `cannot reach registry ${host}: ${what}`, {
      registry: host, repository, retryable: isRetryableNetworkError(e), cause: e,
      hint: this.scheme(host) === 'https' ? `if ${host} serves plain HTTP, mark it as an insecure registry` : undefined,
    });
  }

  async #authorized(host: string, url: URL, opts: RequestOptions): Promise<HttpResponse> {
    const key = `${host} ${opts.scope ?? ''}`;
    const cached = this.#auth.get(key);
    const auth = cached && cached.expires > Date.now() ? cached.header : undefined;
    const res = await this.#follow(url, opts, auth);
    if (res.status !== 401) return res;
    const challenges = parseAuthChallenges(String(res.headers['www-authenticate'] ?? ''));
    const header = await this.#answer(host, challenges, opts);
    if (header === undefined) return res;
    drain(res.body);
    this.#auth.set(key, header);
    return this.#follow(url, opts, header.header);
  }

  /** Works out an Authorization header for a 401, or undefined when we have none to offer. */
  async #answer(host: string, challenges: AuthChallenge[], opts: RequestOptions): Promise<CachedAuth | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const creds = await this.#opts.credentials?.(opts.registry ?? host);
    if (bearer) return this.#token(host, bearer, opts, creds);
    if (challenges.some((c) => c.scheme === 'basic') && creds) {
      const header = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      return { header, expires: Number.MAX_SAFE_INTEGER };
    }
    return undefined;
  }

  async #token(
    host: string,
    challenge: AuthChallenge,
    opts: RequestOptions,
    creds: { username: string; password: string } | undefined,
  ): Promise<CachedAuth> {
    const realm = challenge.params.realm;
    const fail = (why: string, status?: number, cause?: unknown): RegistryError =>
      new RegistryError('REGISTRY', `cannot get a token for ${host}${opts.repository ? `/${opts.repository}` : ''}: ${why}`, {
        registry: host, repository: opts.repository, status, cause, retryable: status !== undefined && isRetryableStatus(status),
        hint: status === 401 || status === 403 ? 'check the credentials for this registry' : undefined,
      });
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw fail(`the registry's auth challenge has no usable realm`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw fail(`token realm scheme ${url.protocol} is not http(s)`);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    const scope = opts.scope ?? challenge.params.scope;
    if (scope) url.searchParams.set('scope', scope);
    const headers: Record<string, string> = { 'user-agent': this.#opts.userAgent, accept: 'application/json' };
    // Credentials go to the realm only over TLS (or to a loopback realm).
    if (creds && (url.protocol === 'https:' || isLoopbackHost(url.host))) {
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    let res: HttpResponse;
    try {
      res = await this.#send(url, 'GET', headers);
    } catch (e) {
      throw fail(e instanceof Error ? e.message : String(e), undefined, e);
    }
    const text = await readText(res.body);
    if (res.status !== 200) {
      const code = parseErrorBody(text)[0]?.code;
      throw fail(`token server answered ${res.status}${code ? ` (${code})` : ''}`, res.status);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw fail('token server answer is not JSON', res.status);
    }
    const token = typeof body.token === 'string' && body.token ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') throw fail('token server answer has no token', res.status);
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    return { header: `Bearer ${token}`, expires: Date.now() + Math.max(ttl - 10, 5) * 1000 };
  }

  /** Sends a request, following redirects; Authorization only ever goes to the original origin. */
  async #follow(url: URL, opts: RequestOptions, authorization: string | undefined): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.#opts.userAgent };
    if (opts.accept?.length) headers.accept = opts.accept.join(', ');
    const origin = url.origin;
    let current = url;
    for (let hop = 0; ; hop++) {
      const h = { ...headers };
      if (authorization && current.origin === origin) h.authorization = authorization;
      const res = await this.#send(current, opts.method ?? 'GET', h);
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      drain(res.body);
      if (hop >= MAX_REDIRECTS) {
        throw new RegistryError('REGISTRY', `too many redirects from ${url.host} (last to ${new URL(location, current).host})`, { registry: url.host, repository: opts.repository });
      }
      current = new URL(location, current);
      if (current.protocol !== 'http:' && current.protocol !== 'https:') {
        throw new RegistryError('REGISTRY', `registry ${url.host} redirected to an unsupported scheme ${current.protocol}`, { registry: url.host, repository: opts.repository });
      }
    }
  }

  #send(url: URL, method: string, headers: Record<string, string>): Promise<HttpResponse> {
    const https = url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, agent: https ? this.#https : this.#http }, (res) => {
        res.setTimeout(this.#opts.timeoutMs, () => {
          res.destroy(Object.assign(new Error(`no data from ${url.host} for ${this.#opts.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
        });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      req.setTimeout(this.#opts.timeoutMs, () => {
        req.destroy(Object.assign(new Error(`no answer from ${url.host} for ${this.#opts.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
      req.on('error', reject);
      req.end();
    });
  }
}
