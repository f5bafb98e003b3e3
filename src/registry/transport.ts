/**
 * HTTP to registries: plain HTTP for loopback and insecure hosts, HTTPS
 * otherwise; the auth dance (anonymous, Bearer token on challenge, Basic with
 * credentials); redirects that never carry Authorization to another host; and
 * retries with backoff on 5xx, 429 and dropped connections.
 *
 * Responses come back with their body as a stream, unread.
 */
import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { parseAuthChallenges, type AuthChallenge } from './auth-challenge.js';
import { isRetryableNetworkError, isRetryableStatus, parseErrorBody, RegistryError } from './registry-error.js';
import { requestToken, type CachedAuth } from './token.js';
import { caOption } from './extra-ca.js';
import { DEFAULT_CERTS_DIR, hostMode, isNotTlsError, isTlsVerifyError, readHostTls } from './tls-config.js';
import type { Credentials, CredentialsProvider } from './types.js';
import { builtin } from '../util/builtin.js';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
}

export interface TransportOptions {
  insecureRegistries?: string[] | undefined;
  /** Per-host CA and client certificates, as Docker reads them. Default /etc/docker/certs.d. */
  certsDir?: string | undefined;
  userAgent: string;
  credentials?: CredentialsProvider | undefined;
  retries: number;
  retryBaseMs: number;
  timeoutMs: number;
}

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** A request body; called again for every attempt (retries, auth challenges, redirects). */
export type BodySource = () => Readable | Uint8Array | Promise<Readable | Uint8Array>;

export interface RequestOptions {
  method?: HttpMethod;
  accept?: string[];
  /** Extra headers (Range, Content-Type, Content-Range, Content-Length, ...). Never Authorization. */
  headers?: Record<string, string>;
  body?: BodySource;
  /**
   * Token scope(s), space separated, e.g. `repository:app:pull,push repository:base:pull`;
   * undefined for /v2/.
   */
  scope?: string | undefined;
  /** Repository for error messages. */
  repository?: string | undefined;
  /** Registry name for credential lookup when it differs from the API host (docker.io → registry-1.docker.io). */
  registry?: string | undefined;
  /** Retry 5xx/429/dropped connections here (default true). */
  retry?: boolean;
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


/** How requests reach one host: scheme and agent; `probing` while an insecure host may yet turn out to be plain HTTP. */
interface Endpoint {
  scheme: 'http' | 'https';
  agent: HttpAgent | HttpsAgent;
  probing: boolean;
  /** A certs.d CA is configured for the host (for error hints). */
  customCa: boolean;
}

export class Transport {
  readonly #opts: TransportOptions;
  readonly #insecure: Set<string>;
  /** Made on first use, like the HTTPS agent: node:http is loaded only when a registry is. */
  #httpAgent: HttpAgent | undefined;
  /** Made on first use: node:https (and tls under it) is loaded only for a registry reached over TLS. */
  #httpsAgent: HttpsAgent | undefined;
  readonly #agents: Array<HttpAgent | HttpsAgent> = [];
  readonly #endpoints = new Map<string, Promise<Endpoint>>();
  /** Authorization header values by `host scope`. Never logged. */
  readonly #auth = new Map<string, CachedAuth>();

  constructor(opts: TransportOptions) {
    this.#opts = opts;
    this.#insecure = new Set((opts.insecureRegistries ?? []).map((h) => h.toLowerCase()));
  }

  /** Adds hosts reached without TLS verification (registry mirrors given as http:// URLs). */
  allowInsecure(host: string): void {
    this.#insecure.add(host.toLowerCase());
  }

  /**
   * The scheme tried first for a host, from the configuration alone (certs.d
   * is not consulted): `http` for loopback, `https` otherwise (insecure hosts
   * start with HTTPS without verification and fall back to HTTP).
   */
  scheme(host: string): 'http' | 'https' {
    return hostMode({ loopback: isLoopbackHost(host), insecure: this.#insecure.has(host.toLowerCase()), tls: undefined }).kind === 'http' ? 'http' : 'https';
  }

  close(): void {
    this.#httpAgent?.destroy();
    this.#httpsAgent?.destroy();
    for (const a of this.#agents) a.destroy();
  }

  get #http(): HttpAgent {
    return (this.#httpAgent ??= new (builtin('node:http').Agent)({ keepAlive: true, maxSockets: 16 }));
  }

  get #https(): HttpsAgent {
    return (this.#httpsAgent ??= new (builtin('node:https').Agent)({ keepAlive: true, maxSockets: 16, ca: caOption() }));
  }

  #endpoint(host: string): Promise<Endpoint> {
    const key = host.toLowerCase();
    let e = this.#endpoints.get(key);
    if (!e) {
      e = this.#decide(host);
      this.#endpoints.set(key, e);
      e.catch(() => this.#endpoints.delete(key));
    }
    return e;
  }

  async #decide(host: string): Promise<Endpoint> {
    const tls = await readHostTls(this.#opts.certsDir ?? DEFAULT_CERTS_DIR, host);
    const mode = hostMode({ loopback: isLoopbackHost(host), insecure: this.#insecure.has(host.toLowerCase()), tls });
    switch (mode.kind) {
      case 'http':
        return { scheme: 'http', agent: this.#http, probing: false, customCa: false };
      case 'https-insecure': {
        const agent = new (builtin('node:https').Agent)({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
        this.#agents.push(agent);
        return { scheme: 'https', agent, probing: true, customCa: false };
      }
      case 'https-verify': {
        if (!mode.tls) return { scheme: 'https', agent: this.#https, probing: false, customCa: false };
        const first = mode.tls.clientCerts[0];
        const agent = new (builtin('node:https').Agent)({
          keepAlive: true, maxSockets: 16, ca: caOption(mode.tls.ca),
          ...(first ? { cert: first.cert, key: first.key } : {}),
        });
        this.#agents.push(agent);
        return { scheme: 'https', agent, probing: false, customCa: mode.tls.ca.length > 0 };
      }
    }
  }

  /**
   * Requests `path` (e.g. `/v2/library/busybox/manifests/latest`, or an
   * absolute upload URL the registry handed out) from the registry API host,
   * authenticating and retrying as needed. Any status is returned; the caller
   * turns unexpected ones into errors.
   */
  async request(host: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    const retries = opts.retry === false ? 0 : this.#opts.retries;
    for (let attempt = 0; ; attempt++) {
      const ep = await this.#endpoint(host);
      const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(`${ep.scheme}://${host}${path}`);
      if (!/^https?:\/\//.test(path) || url.host === host) url.protocol = `${ep.scheme}:`;
      let res: HttpResponse;
      try {
        res = await this.#authorized(host, url, opts, ep.agent);
      } catch (e) {
        if (ep.probing && isNotTlsError(e)) {
          // An insecure registry that does not speak TLS: plain HTTP from now on.
          this.#endpoints.set(host.toLowerCase(), Promise.resolve({ scheme: 'http', agent: this.#http, probing: false, customCa: false }));
          attempt--;
          continue;
        }
        if (attempt < retries && isRetryableNetworkError(e)) {
          await sleep(this.#backoff(attempt));
          continue;
        }
        throw this.#networkError(host, opts.repository, e, ep);
      }
      ep.probing = false;
      if (isRetryableStatus(res.status) && attempt < retries) {
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

  #networkError(host: string, repository: string | undefined, e: unknown, ep: Endpoint): RegistryError {
    if (e instanceof RegistryError) return e;
    const code = (e as { code?: unknown } | null)?.code;
    const what = typeof code === 'string' ? code : e instanceof Error ? e.message : String(e);
    const certsDir = this.#opts.certsDir ?? DEFAULT_CERTS_DIR;
    let hint: string | undefined;
    if (isTlsVerifyError(e)) {
      hint = ep.customCa
        ? `the certificate of ${host} is not signed by the CA in ${certsDir}/${host}/: check that CA`
        : `put the registry's CA certificate in ${certsDir}/${host}/ca.crt, or mark it insecure with --insecure-registry ${host}`;
    } else if (ep.scheme === 'https') {
      hint = `if ${host} serves plain HTTP, mark it as an insecure registry (--insecure-registry ${host})`;
    }
    const message = isTlsVerifyError(e)
      ? `cannot reach registry ${host}${repository ? ` for ${repository}` : ''}: its TLS certificate is not trusted (${what})`
      : `cannot reach registry ${host}${repository ? ` for ${repository}` : ''}: ${what}`;
    return new RegistryError('REGISTRY', message, {
      registry: host, repository, retryable: isRetryableNetworkError(e), cause: e, hint,
    });
  }

  async #authorized(host: string, url: URL, opts: RequestOptions, agent: HttpAgent | HttpsAgent): Promise<HttpResponse> {
    const key = `${host} ${opts.scope ?? ''}`;
    const cached = this.#auth.get(key);
    // An expired token is not sent: the registry's 401 brings a fresh one.
    const auth = cached && cached.expires > Date.now() ? cached.header : undefined;
    // An absolute URL the registry handed out (an upload Location) on another host gets no credentials.
    if (url.host.toLowerCase() !== host.toLowerCase()) return this.#follow(url, opts, undefined, agent);
    const res = await this.#follow(url, opts, auth, agent);
    if (res.status !== 401) return res;
    const challenges = parseAuthChallenges(String(res.headers['www-authenticate'] ?? ''));
    const header = await this.#answer(host, challenges, opts);
    if (header === undefined) return res;
    drain(res.body);
    this.#auth.set(key, header);
    return this.#follow(url, opts, header.header, agent);
  }

  /** Works out an Authorization header for a 401, or undefined when we have none to offer. */
  async #answer(host: string, challenges: AuthChallenge[], opts: RequestOptions): Promise<CachedAuth | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const creds = await this.#opts.credentials?.(opts.registry ?? host);
    if (bearer) return this.#token(host, bearer, opts, creds);
    if (challenges.some((c) => c.scheme === 'basic') && creds && !creds.identityToken) {
      const header = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      return { header, expires: Number.MAX_SAFE_INTEGER };
    }
    return undefined;
  }

  async #token(host: string, challenge: AuthChallenge, opts: RequestOptions, creds: Credentials | undefined): Promise<CachedAuth> {
    return requestToken(host, challenge, opts, creds, {
      userAgent: this.#opts.userAgent,
      send: async (url, method, headers, body) => {
        const agent = url.protocol === 'https:' ? (await this.#endpoint(url.host)).agent : this.#http;
        return this.#send(url, method, headers, body ? () => body : undefined, agent);
      },
    });
  }

  /** Sends a request, following redirects; Authorization only ever goes to the original origin. */
  async #follow(url: URL, opts: RequestOptions, authorization: string | undefined, agent: HttpAgent | HttpsAgent): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...opts.headers, 'user-agent': this.#opts.userAgent };
    delete headers.authorization;
    if (opts.accept?.length) headers.accept = opts.accept.join(', ');
    const origin = url.origin;
    let current = url;
    let method: string = opts.method ?? 'GET';
    for (let hop = 0; ; hop++) {
      const h = { ...headers };
      if (authorization && current.origin === origin) h.authorization = authorization;
      // Another origin gets the default agents (its own trust), never our client certificate.
      const a = current.origin === origin ? agent : current.protocol === 'https:' ? this.#https : this.#http;
      const body = method === 'GET' || method === 'HEAD' ? undefined : opts.body;
      const res = await this.#send(current, method, h, body, a);
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      drain(res.body);
      if (hop >= MAX_REDIRECTS) {
        throw new RegistryError('REGISTRY', `too many redirects from ${url.host} (last to ${new URL(location, current).host})`, { registry: url.host, repository: opts.repository });
      }
      current = new URL(location, current);
      if (res.status === 303) method = 'GET';
      if (current.protocol !== 'http:' && current.protocol !== 'https:') {
        throw new RegistryError('REGISTRY', `registry ${url.host} redirected to an unsupported scheme ${current.protocol}`, { registry: url.host, repository: opts.repository });
      }
    }
  }

  async #send(url: URL, method: string, headers: Record<string, string>, bodySource: BodySource | undefined, agent: HttpAgent | HttpsAgent): Promise<HttpResponse> {
    const https = url.protocol === 'https:';
    const send = builtin(https ? 'node:https' : 'node:http').request;
    const body = bodySource ? await bodySource() : undefined;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, agent }, (res) => {
        res.setTimeout(this.#opts.timeoutMs, () => {
          res.destroy(Object.assign(new Error(`no data from ${url.host} for ${this.#opts.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
        });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      req.setTimeout(this.#opts.timeoutMs, () => {
        req.destroy(Object.assign(new Error(`no answer from ${url.host} for ${this.#opts.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
      req.on('error', (e) => {
        if (body && !(body instanceof Uint8Array)) body.destroy();
        reject(e);
      });
      if (body === undefined) req.end();
      else if (body instanceof Uint8Array) req.end(body);
      else {
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  }
}
