/**
 * Registry authentication against the real registry's own auth modes:
 * htpasswd (Basic) and token (Bearer, tokens from a loopback token server the
 * registry verifies), plus redirects that must not carry Authorization to
 * another host.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import type { Descriptor, Digest } from '../../src/oci/index.js';
import { dockerConfigCredentials, pushBlob, RegistryClient, RegistryError, type BlobSink, type Credentials } from '../../src/registry/index.js';
import { parseReference } from '../../src/reference/index.js';
import { sha256 } from '../../src/oci/index.js';
import { Readable as ReadableStream } from 'node:stream';
import { startFaultProxy } from '../support/fault-proxy.js';
import { hostPlatform, pushBaseImages } from '../support/base-images.js';
import { startRegistry, startTokenServer, writeHtpasswd, type RunningRegistry, type TokenServer } from '../support/registry.js';

const platform = hostPlatform();
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const WRONG = `wrong-${randomBytes(6).toString('hex')}`;

/** Stores blobs as files named by digest; keeps nothing from a failed stream. */
class FileSink implements BlobSink {
  constructor(readonly dir: string) {}
  async has(_digest: Digest): Promise<boolean> {
    return false;
  }
  async put(desc: Descriptor, body: Readable): Promise<void> {
    const tmp = join(this.dir, `.tmp-${randomBytes(4).toString('hex')}`);
    try {
      await pipeline(body, createWriteStream(tmp));
      await rename(tmp, join(this.dir, desc.digest));
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }
}

function assertNoSecret(e: unknown, ...secrets: string[]): void {
  const text = `${(e as Error).message}\n${(e as Error).stack}\n${JSON.stringify(e)}\n${String((e as Error).cause ?? '')}`;
  for (const s of secrets) assert.ok(!text.includes(s), 'error text contains a secret');
}

/** Forwards a request to the real registry, streaming both ways. */
function proxy(target: RunningRegistry, req: IncomingMessage, res: ServerResponse): void {
  const headers = { ...req.headers, host: target.host };
  delete headers.authorization;
  const up = request(`${target.url}${req.url}`, { method: req.method, headers }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  return `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}

describe('registry authentication', () => {
  let work: string;
  let storage: string;
  let open: RunningRegistry;
  let basic: RunningRegistry;
  let tokens: TokenServer;
  let bearer: RunningRegistry;
  let privateTokens: TokenServer;
  let privateBearer: RunningRegistry;
  let passed = 0;
  const total = 9;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-auth-'));
    storage = join(work, 'storage');
    // Push once to an open registry; the authenticated ones serve the same storage.
    open = await startRegistry({ storageDir: storage });
    await pushBaseImages(open.host, ['busybox:latest']);
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: PASSWORD });
    basic = await startRegistry({ storageDir: storage, auth: { htpasswd: { realm: 'stagecraft-test', path: htpasswd } } });
    tokens = await startTokenServer();
    bearer = await startRegistry({ storageDir: storage, auth: { token: tokens } });
    privateTokens = await startTokenServer({ users: { alice: PASSWORD }, anonymousPull: false });
    privateBearer = await startRegistry({ storageDir: storage, auth: { token: privateTokens } });
  });

  after(async () => {
    for (const r of [open, basic, bearer, privateBearer]) await r?.stop();
    await tokens?.stop();
    await privateTokens?.stop();
    await rm(work, { recursive: true, force: true });
    console.log(`registry auth: ${passed}/${total} passed`);
  });

  const creds = (forHost: () => string, password: string) => {
    const asked: string[] = [];
    const provider = (host: string): Credentials | undefined => {
      asked.push(host);
      return host === forHost() ? { username: 'alice', password } : undefined;
    };
    return { asked, provider };
  };

  it('Basic: pulls with credentials from the injected callback', async () => {
    const { asked, provider } = creds(() => basic.host, PASSWORD);
    const client = new RegistryClient({ credentials: provider });
    try {
      const image = await client.resolve(`${basic.host}/busybox:latest`, platform);
      const sink = new FileSink(await mkdtemp(join(work, 'sink-')));
      assert.deepEqual(await client.fetchBlobs(image.reference, image.layers, sink), ['fetched']);
      const layer = await readFile(join(sink.dir, image.layers[0]!.digest));
      assert.equal(`sha256:${createHash('sha256').update(layer).digest('hex')}`, image.layers[0]!.digest);
      assert.ok(asked.length >= 1 && asked.every((h) => h === basic.host));
    } finally {
      client.close();
    }
    passed++;
  });

  it('Basic: refuses without or with wrong credentials, naming status and code, never the password', async () => {
    const none = new RegistryClient();
    const wrong = new RegistryClient({ credentials: creds(() => basic.host, WRONG).provider });
    try {
      for (const client of [none, wrong]) {
        await assert.rejects(client.resolve(`${basic.host}/busybox:latest`, platform), (e: unknown) => {
          assert.ok(e instanceof RegistryError);
          assert.equal(e.message, `access to image ${basic.host}/busybox:latest denied by registry ${basic.host}: HTTP 401 (UNAUTHORIZED)`);
          assert.equal(e.status, 401);
          assert.equal(e.registryCode, 'UNAUTHORIZED');
          assertNoSecret(e, WRONG, PASSWORD);
          return true;
        });
      }
    } finally {
      none.close();
      wrong.close();
    }
    passed++;
  });

  it('Bearer: gets an anonymous pull token on challenge and reuses it', async () => {
    const client = new RegistryClient();
    try {
      const before = tokens.requests.length;
      const image = await client.resolve(`${bearer.host}/busybox:latest`, platform);
      const sink = new FileSink(await mkdtemp(join(work, 'sink-')));
      await client.fetchBlobs(image.reference, image.layers, sink);
      const asked = tokens.requests.slice(before);
      assert.deepEqual(asked, [{ scope: 'repository:busybox:pull', service: tokens.service, user: undefined, authenticated: false }]);
      assert.equal(image.config.parsed.config?.Cmd?.[0], 'sh');
    } finally {
      client.close();
    }
    passed++;
  });

  it('Bearer: a private repository needs credentials at the token server', async () => {
    const anonymous = new RegistryClient();
    try {
      await assert.rejects(anonymous.resolve(`${privateBearer.host}/busybox:latest`, platform), (e: unknown) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.message, `access to image ${privateBearer.host}/busybox:latest denied by registry ${privateBearer.host}: HTTP 401 (UNAUTHORIZED)`);
        return true;
      });
    } finally {
      anonymous.close();
    }
    const { provider } = creds(() => privateBearer.host, PASSWORD);
    const alice = new RegistryClient({ credentials: provider });
    try {
      const image = await alice.resolve(`${privateBearer.host}/busybox:latest`, platform);
      assert.equal(image.layers.length, 1);
      assert.deepEqual(privateTokens.requests.at(-1), { scope: 'repository:busybox:pull', service: privateTokens.service, user: 'alice', authenticated: true });
    } finally {
      alice.close();
    }
    passed++;
  });

  it('Bearer: wrong credentials fail at the token server without echoing the password', async () => {
    const client = new RegistryClient({ credentials: creds(() => privateBearer.host, WRONG).provider });
    try {
      await assert.rejects(client.resolve(`${privateBearer.host}/busybox:latest`, platform), (e: unknown) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.message, `cannot get a token for ${privateBearer.host}/busybox: token server answered 401 (UNAUTHORIZED)`);
        assert.equal(e.hint, 'check the credentials for this registry');
        assertNoSecret(e, WRONG, PASSWORD);
        return true;
      });
    } finally {
      client.close();
    }
    passed++;
  });

  it('never sends Authorization to another host after a redirect', async () => {
    // A front that demands Basic auth and redirects blob downloads to a
    // second origin (as registries do to object storage); both pass requests
    // on to the real registry.
    const frontSaw: (string | undefined)[] = [];
    const storageSaw: (string | undefined)[] = [];
    let storageHost = '';
    const expected = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
    const front = createServer((req, res) => {
      frontSaw.push(req.headers.authorization);
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="front"', 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      if (/\/blobs\/sha256:/.test(req.url ?? '')) {
        res.writeHead(307, { location: `http://${storageHost}${req.url}` });
        res.end();
        return;
      }
      proxy(open, req, res);
    });
    const objectStore = createServer((req, res) => {
      storageSaw.push(req.headers.authorization);
      proxy(open, req, res);
    });
    const frontHost = await listen(front);
    storageHost = await listen(objectStore);
    const client = new RegistryClient({ credentials: creds(() => frontHost, PASSWORD).provider });
    try {
      const image = await client.resolve(`${frontHost}/busybox:latest`, platform);
      const sink = new FileSink(await mkdtemp(join(work, 'sink-')));
      await client.fetchBlobs(image.reference, image.layers, sink);
      assert.ok(frontSaw.includes(expected), 'the front got credentials');
      assert.ok(storageSaw.length >= 2, 'config and layer came from the second origin');
      assert.deepEqual(storageSaw.filter((a) => a !== undefined), []);
    } finally {
      client.close();
      front.closeAllConnections();
      objectStore.closeAllConnections();
      front.close();
      objectStore.close();
    }
    passed++;
  });

  it('asks the credentials callback only for the registry that challenged', async () => {
    const { asked, provider } = creds(() => basic.host, PASSWORD);
    const client = new RegistryClient({ credentials: provider });
    try {
      await client.resolve(`${open.host}/busybox:latest`, platform);
      assert.deepEqual(asked, [], 'an open registry never triggers a credentials lookup');
      await client.resolve(`${basic.host}/busybox:latest`, platform);
      assert.ok(asked.length > 0 && asked.every((h) => h === basic.host));
    } finally {
      client.close();
    }
    passed++;
  });

  it('pulls with credentials from a docker config.json', async () => {
    const configDir = join(work, 'docker-config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), JSON.stringify({
      auths: { [`http://${basic.host}/v2/`]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } },
    }));
    const client = new RegistryClient({ credentials: dockerConfigCredentials({ configDir }) });
    try {
      const image = await client.resolve(`${basic.host}/busybox:latest`, platform);
      assert.deepEqual(image.config.parsed.config?.Cmd, ['sh']);
    } finally {
      client.close();
    }
    passed++;
  });

  it('never sends Authorization to an upload URL the registry puts on another host', async () => {
    const a = await startFaultProxy(basic);
    const b = await startFaultProxy(basic);
    a.add({ method: 'POST', path: /\/blobs\/uploads\/$/, fault: { kind: 'location', host: b.host }, times: Infinity });
    const client = new RegistryClient({ credentials: (h) => (h === a.host ? { username: 'alice', password: PASSWORD } : undefined), retries: 0 });
    try {
      const data = randomBytes(2000);
      const desc = { mediaType: 'application/octet-stream', digest: sha256(data), size: data.length };
      await assert.rejects(pushBlob(client, parseReference(`${a.host}/elsewhere:1`), desc, async () => ReadableStream.from([data])), (e: unknown) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.status, 401, 'the other host (the same registry behind another port) wanted credentials it did not get');
        assertNoSecret(e, PASSWORD);
        return true;
      });
      assert.ok(a.log.some((l) => l.method === 'POST' && l.authorized), 'the registry host itself got credentials');
      const atB = b.log.filter((l) => l.method === 'PUT');
      assert.ok(atB.length > 0, 'the upload went to the other host');
      assert.ok(b.log.every((l) => !l.authorized), 'no Authorization header reached the other host');
    } finally {
      client.close();
      await a.stop();
      await b.stop();
    }
    passed++;
  });
});
