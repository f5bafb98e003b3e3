/**
 * The Bearer token flow: on a `WWW-Authenticate: Bearer realm,service,scope`
 * challenge, ask the realm for a token (Basic credentials, or an identity
 * token with the OAuth2 refresh_token grant, sent only over TLS or to
 * loopback). The token is never logged or put in an error.
 */
import type { AuthChallenge } from './auth-challenge.js';
import { isRetryableStatus, parseErrorBody, RegistryError } from './registry-error.js';
import { isLoopbackHost, readText, type HttpResponse, type RequestOptions } from './transport.js';
import type { Credentials } from './types.js';

/** An Authorization header value and when to stop using it. */
export interface CachedAuth {
  header: string;
  expires: number;
}

/** How the token request goes out (the transport's agents and TLS settings). */
export interface TokenIo {
  userAgent: string;
  send(url: URL, method: string, headers: Record<string, string>, body: Uint8Array | undefined): Promise<HttpResponse>;
}

export async function requestToken(
host: string,
challenge: AuthChallenge,
opts: RequestOptions,
creds: Credentials | undefined,
io: TokenIo,
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
  // One `scope` parameter per resource, as Docker sends them.
  for (const s of (scope ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', s);
  const headers: Record<string, string> = { 'user-agent': io.userAgent, accept: 'application/json' };
  // Credentials go to the realm only over TLS (or to a loopback realm).
  const mayCredential = url.protocol === 'https:' || isLoopbackHost(url.host);
  let method = 'GET';
  let form: Uint8Array | undefined;
  if (creds?.identityToken && mayCredential) {
    // OAuth2 refresh-token grant, as Docker uses identity tokens.
    const f = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'stagecraft' });
    if (challenge.params.service) f.set('service', challenge.params.service);
    if (scope) f.set('scope', scope);
    form = Buffer.from(f.toString());
    method = 'POST';
    url.search = '';
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = String(form.byteLength);
  } else if (creds && mayCredential) {
    headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  }
  let res: HttpResponse;
  try {
    res = await io.send(url, method, headers, form);
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
  // Refresh a little before the server's expiry (10 s, or a quarter of a short lifetime).
  return { header: `Bearer ${token}`, expires: Date.now() + (ttl - Math.min(10, ttl / 4)) * 1000 };
}
