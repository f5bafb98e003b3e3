/**
 * A real distribution registry (Debian's `docker-registry`) on 127.0.0.1, for
 * integration tests. Each call gets its own storage directory and port; the
 * process is killed on `stop()`, when the test process exits, and (through
 * `setpriv --pdeathsig`) when the test process dies without running handlers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StartRegistryOptions {
  /** Milliseconds to wait for `GET /v2/` to answer. Default 20 s. */
  readyTimeoutMs?: number;
  /** Registry log level. Default 'error' (set STAGECRAFT_REGISTRY_LOG=debug to override). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** Reuse this storage root (kept on stop), e.g. to serve content pushed to an earlier registry. */
  storageDir?: string;
  /** Require authentication: htpasswd (Basic) or token (Bearer, see startTokenServer). */
  auth?: RegistryAuth;
  /** Serve HTTPS with this certificate and key (PEM files); `ca` (PEM text) is trusted while waiting for readiness. */
  tls?: { certificate: string; key: string; ca: string };
}

export type RegistryAuth =
  | { htpasswd: { realm: string; path: string } }
  | { token: { realm: string; service: string; issuer: string; rootCertBundle: string } };

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  host: string;
  /** `http://127.0.0.1:PORT` (`https://` with `tls`) */
  url: string;
  /** Storage root (filesystem driver). */
  storageDir: string;
  /** Process id of the registry. */
  pid: number;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
  });
}

let setprivAvailable: boolean | undefined;
function hasSetpriv(): boolean {
  if (setprivAvailable === undefined) {
    const r = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    setprivAvailable = r.status === 0 && r.stdout.includes('--pdeathsig');
  }
  return setprivAvailable;
}

/** A port that was free a moment ago (the caller retries if it is taken since). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function authYaml(auth: RegistryAuth | undefined): string[] {
  if (!auth) return [];
  if ('htpasswd' in auth) {
    return ['auth:', '  htpasswd:', `    realm: ${JSON.stringify(auth.htpasswd.realm)}`, `    path: ${auth.htpasswd.path}`];
  }
  const t = auth.token;
  return [
    'auth:', '  token:',
    `    realm: ${JSON.stringify(t.realm)}`,
    `    service: ${JSON.stringify(t.service)}`,
    `    issuer: ${JSON.stringify(t.issuer)}`,
    `    rootcertbundle: ${t.rootCertBundle}`,
  ];
}

function configYaml(storageDir: string, host: string, logLevel: string, auth: RegistryAuth | undefined, tls?: StartRegistryOptions['tls']): string {
  return [
    'version: 0.1',
    'log:',
    `  level: ${logLevel}`,
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    ...(tls ? ['  tls:', `    certificate: ${tls.certificate}`, `    key: ${tls.key}`] : []),
    ...authYaml(auth),
    '',
  ].join('\n');
}

/** Status of GET <url>/v2/, trusting `ca` for HTTPS. */
function probe(url: string, ca: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsGet : httpGet)(`${url}/v2/`, { ...(ca ? { ca } : {}), timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitReady(url: string, child: ChildProcess, stderr: () => string, timeoutMs: number, ca?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before answering: ${stderr().trim().slice(-2000)}`);
    }
    try {
      const status = await probe(url, ca);
      // 401: up, and asking for credentials (auth configured).
      if (status === 200 || status === 401) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      throw new Error(`docker-registry did not answer GET ${url}/v2/ within ${timeoutMs} ms: ${stderr().trim().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startOnce(opts: StartRegistryOptions): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-registry-'));
  const storageDir = opts.storageDir ?? join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `${opts.tls ? 'https' : 'http'}://${host}`;
  const logLevel = process.env.STAGECRAFT_REGISTRY_LOG ?? opts.logLevel ?? 'error';
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, configYaml(storageDir, host, logLevel, opts.auth, opts.tls));

  const argv = ['docker-registry', 'serve', configPath];
  const [cmd, ...args] = hasSetpriv() ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
  installExitHook();
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let errText = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    errText = (errText + s).slice(-16_384);
    if (logLevel === 'debug' || logLevel === 'info') process.stderr.write(s);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => { live.delete(child); resolve(); });
  });
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start docker-registry: ${e.message} (install it with scripts/setup-system.sh)`)));
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await Promise.race([waitReady(url, child, () => errText, opts.readyTimeoutMs ?? 20_000, opts.tls?.ca), spawnFailed]);
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, url, storageDir, pid: child.pid ?? 0, stop };
}

/** Starts a fresh, empty registry on 127.0.0.1 and waits until it answers. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  let lastError: unknown;
  // The free port can be taken between probing and binding; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      lastError = e;
      if (!(e instanceof Error) || !/address already in use/i.test(e.message)) throw e;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------
// Credentials for registries that require them

/** Writes an htpasswd file (bcrypt, as the registry requires) with `htpasswd` from apache2-utils. */
export async function writeHtpasswd(path: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    // -i: password on stdin, so it never shows in a process listing.
    const r = spawnSync('htpasswd', ['-niB', user], { input: `${password}\n`, encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run htpasswd: ${r.error.message} (install apache2-utils; see scripts/setup-system.sh)`);
    if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr.trim()}`);
    lines.push(r.stdout.trim());
  }
  await writeFile(path, `${lines.join('\n')}\n`);
}

export interface TokenRequestRecord {
  scope: string | undefined;
  service: string | undefined;
  /** The user name when Basic credentials or a refresh token were sent (never the secret). */
  user: string | undefined;
  /** `POST` for the refresh_token grant; absent for GET (Basic or anonymous). */
  method?: string;
  /** Whether those credentials were right. */
  authenticated: boolean;
}

export interface TokenServer {
  /** `http://127.0.0.1:PORT/token`: the realm to configure in the registry. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM of the certificate that signs tokens (the registry's rootcertbundle). */
  rootCertBundle: string;
  requests: TokenRequestRecord[];
  /** Every token handed out (to check none leaks into output). */
  issued: string[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  /** Users and passwords accepted over Basic auth. */
  users?: Record<string, string>;
  /** Grant `pull` to anonymous clients (like public repositories). Default true. */
  anonymousPull?: boolean;
  ttlSeconds?: number;
  /** OAuth2 refresh tokens (identity tokens) accepted by `POST /token`, each for a user. */
  refreshTokens?: Record<string, string>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/**
 * A token server for the registry's `auth: token` mode: answers
 * `GET /token?service=..&scope=repository:NAME:ACTIONS` with a JWT (RS256,
 * certificate in `x5c`) that the real registry verifies against
 * `rootCertBundle`. Wrong Basic credentials get 401; anonymous clients get
 * pull only when `anonymousPull`, otherwise a token with no access.
 */
export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-token-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath,
    '-days', '2', '-subj', '/CN=stagecraft-test-token-issuer'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`openssl could not make a signing certificate: ${r.error?.message ?? r.stderr}`);
  const key = await readFile(keyPath, 'utf8');
  const certDer = (await readFile(certPath, 'utf8')).replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const service = 'stagecraft-test-registry';
  const issuer = 'stagecraft-test-token-issuer';
  const users = opts.users ?? {};
  const anonymousPull = opts.anonymousPull ?? true;
  const ttl = opts.ttlSeconds ?? 300;
  const requests: TokenRequestRecord[] = [];
  const issued: string[] = [];

  const server = createHttpServer((req, res) => {
    let form = '';
    req.setEncoding('utf8');
    req.on('data', (s: string) => { form += s; });
    req.on('end', () => answer(req, res, form));
  });
  const answer = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, form: string): void => {
    const url = new URL(req.url ?? '/', 'http://token');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    let user: string | undefined;
    let authenticated = false;
    let scopes = url.searchParams.getAll('scope');
    let service = url.searchParams.get('service') ?? undefined;
    const auth = req.headers.authorization;
    if (req.method === 'POST') {
      const f = new URLSearchParams(form);
      const owner = f.get('grant_type') === 'refresh_token' ? opts.refreshTokens?.[f.get('refresh_token') ?? ''] : undefined;
      user = owner ?? '(refresh token)';
      authenticated = owner !== undefined;
      scopes = (f.get('scope') ?? '').split(' ').filter(Boolean);
      service = f.get('service') ?? undefined;
    } else if (auth?.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      user = u;
      authenticated = u !== undefined && users[u] !== undefined && users[u] === rest.join(':');
    }
    requests.push({ scope: scopes.join(' ') || undefined, service, user, authenticated, ...(req.method === 'POST' ? { method: 'POST' } : {}) });
    if (user !== undefined && !authenticated) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'wrong user name or password' }] }));
      return;
    }
    const access = scopes.flatMap((s) => s.split(' ')).flatMap((s) => {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      if (!m) return [];
      const wanted = m[2]!.split(',');
      const actions = authenticated ? wanted : anonymousPull ? wanted.filter((a) => a === 'pull') : [];
      return [{ type: 'repository', name: m[1]!, actions }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }));
    const claims = b64url(JSON.stringify({
      iss: issuer, sub: user ?? '', aud: service, exp: now + ttl, nbf: now - 1, iat: now,
      jti: randomBytes(8).toString('hex'), access,
    }));
    const signature = b64url(sign('sha256', Buffer.from(`${header}.${claims}`), key));
    const token = `${header}.${claims}.${signature}`;
    issued.push(token);
    res.writeHead(200, { 'content-type': 'application/json' });
    // The OAuth2 form (POST) answers with access_token only, as token servers do.
    const body = req.method === 'POST' ? { access_token: token, expires_in: ttl } : { token, access_token: token, expires_in: ttl, issued_at: new Date(now * 1000).toISOString() };
    res.end(JSON.stringify(body));
  };
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: certPath,
    requests,
    issued,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------
// Images in a local store, for push tests

export interface TestImageOptions {
  /** Files in the single layer: path → content. */
  files: Record<string, string | Buffer>;
  architecture?: string;
  variant?: string;
  /** Store tag (a full reference, e.g. `127.0.0.1:5000/app:1`). */
  tag: string;
}

/**
 * Puts a one-layer image into `store` the way a build leaves it: the layer
 * as an uncompressed tar blob (digest = diffId) unpacked into a layer dir,
 * an OCI config and manifest, and a tag. Returns the manifest digest.
 */
export async function storeTestImage(
  store: import('../../src/store/index.js').Store,
  opts: TestImageOptions,
): Promise<string> {
  const { pack } = await import('tar-stream');
  const { MediaType } = await import('../../src/oci/index.js');
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const ended = new Promise<void>((resolve, reject) => { p.on('end', resolve); p.on('error', reject); });
  for (const [name, content] of Object.entries(opts.files).sort(([a], [b]) => a.localeCompare(b))) {
    const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
    await new Promise<void>((resolve, reject) => {
      p.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, body, (e) => (e ? reject(e) : resolve()));
    });
  }
  p.finalize();
  await ended;
  const tar = Buffer.concat(chunks);
  const { digest: diffId, size } = await store.put(undefined, tar);
  await store.unpackLayer(diffId, MediaType.ociLayer);
  const config = {
    architecture: opts.architecture ?? 'amd64',
    ...(opts.variant ? { variant: opts.variant } : {}),
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'test layer' }],
  };
  const manifestDigest = await store.writeImage({
    config: config as unknown as import('../../src/oci/index.js').ImageConfig,
    layers: [{ mediaType: MediaType.ociLayer, digest: diffId, size }],
  });
  await store.tag(opts.tag, manifestDigest);
  return manifestDigest;
}

/** Runs skopeo (loopback registries are plain HTTP, so TLS verification is off unless `args` turn it on). */
export function skopeo(args: string[]): { stdout: Buffer; stderr: string } {
  const r = spawnSync('skopeo', args, { maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`cannot run skopeo: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')} failed: ${r.stderr.toString().trim()}`);
  return { stdout: r.stdout, stderr: r.stderr.toString() };
}
