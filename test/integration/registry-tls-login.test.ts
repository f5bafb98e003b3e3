/**
 * The two authenticated configurations, end to end through the command
 * functions: htpasswd Basic auth over TLS with a CA this test makes with
 * openssl (certs.d as Docker reads it, verification on by default,
 * --insecure-registry explicit), and token auth with real signed JWTs
 * (scope widening for cross-repository mounts, refresh on expiry).
 * `login`/`logout` store credentials as Docker does, in config.json or via a
 * docker-credential helper this test writes. No password or token ever
 * appears in output or errors.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { loginCommand, logoutCommand, pushCommand, registryClientOptions, type CommandIo } from '../../src/cli/registry-commands.js';
import { RegistryClient, RegistryError } from '../../src/registry/index.js';
import { Store } from '../../src/store/index.js';
import { makeTestCa, type TestCa } from '../support/tls.js';
import { startRegistry, startTokenServer, storeTestImage, writeHtpasswd, type RunningRegistry, type TokenServer } from '../support/registry.js';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const WRONG = `wrong-${randomBytes(8).toString('hex')}`;
const REFRESH = `refresh-${randomBytes(8).toString('hex')}`;
const amd64 = { os: 'linux', architecture: 'amd64' } as const;

/** Captures everything a command writes; `text()` is checked for secrets. */
class CapturedIo implements CommandIo {
  out = '';
  err = '';
  stdout = { write: (s: string) => { this.out += s; } };
  stderr = { write: (s: string) => { this.err += s; } };
  stdin: AsyncIterable<Uint8Array | string>;
  constructor(input = '') {
    this.stdin = Readable.from([input]);
  }
}

/** Every text a user could see: command output, error messages, stacks, causes, JSON of errors. */
const seen: string[] = [];
function record(io: CapturedIo): void {
  seen.push(io.out, io.err);
}
function recordError(e: unknown): void {
  const err = e as Error & { hint?: string };
  seen.push(err.message, String(err.stack), String(err.hint ?? ''), JSON.stringify(e), String(err.cause ?? ''));
}

describe('registry TLS, login and token auth', () => {
  let work: string;
  let ca: TestCa;
  let otherCa: TestCa;
  let certsDir: string;
  let tlsReg: RunningRegistry;
  let plain: RunningRegistry;
  let tokens: TokenServer;
  let tokenReg: RunningRegistry;
  let store: Store;
  let passed = 0;
  const total = 10;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-tls-'));
    ca = await makeTestCa();
    otherCa = await makeTestCa('stagecraft-other-ca');
    const server = await ca.issue('registry');
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: PASSWORD });
    tlsReg = await startRegistry({
      tls: { certificate: server.cert, key: server.key, ca: ca.caPem },
      auth: { htpasswd: { realm: 'stagecraft-test', path: htpasswd } },
    });
    certsDir = join(work, 'certs.d');
    await mkdir(join(certsDir, tlsReg.host), { recursive: true });
    await copyFile(ca.caCert, join(certsDir, tlsReg.host, 'ca.crt'));
    plain = await startRegistry();
    tokens = await startTokenServer({ users: { alice: PASSWORD }, anonymousPull: false, ttlSeconds: 1, refreshTokens: { [REFRESH]: 'alice' } });
    tokenReg = await startRegistry({ auth: { token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle } } });
    store = await Store.open(join(work, 'store'));
  });

  after(async () => {
    for (const r of [tlsReg, plain, tokenReg]) await r?.stop();
    await tokens?.stop();
    await ca?.remove();
    await otherCa?.remove();
    if (work) await rm(work, { recursive: true, force: true });
    console.log(`registry TLS/login/token: ${passed}/${total} passed`);
  });

  it('logs in over verified TLS (CA from certs.d), stores base64 auths in config.json (0600), pushes and pulls with them', async () => {
    const configDir = join(work, 'docker-a');
    await mkdir(configDir);
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: {}, psFormat: 'keep me' }));
    const io = new CapturedIo(`${PASSWORD}\n`);
    await loginCommand(tlsReg.host, { username: 'alice', passwordStdin: true, configDir, certsDir }, io);
    record(io);
    assert.equal(io.out, 'Login Succeeded\n');
    const path = join(configDir, 'config.json');
    const config = JSON.parse(await readFile(path, 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
    assert.equal(config.psFormat, 'keep me', 'other settings are kept');
    assert.equal(config.auths[tlsReg.host]!.auth, Buffer.from(`alice:${PASSWORD}`).toString('base64'));
    assert.equal((await stat(path)).mode & 0o777, 0o600);

    const local = `${tlsReg.host}/secure/app:1`;
    await storeTestImage(store, { tag: local, files: { 'a.txt': 'a\n' } });
    const pio = new CapturedIo();
    const r = await pushCommand(store.root, [local], { configDir, certsDir }, pio);
    record(pio);
    assert.match(pio.out, new RegExp(`^1: digest: ${r.digest} size: ${r.size}$`, 'm'));
    const client = new RegistryClient(registryClientOptions({ configDir, certsDir }));
    try {
      const image = await client.resolve(local, amd64);
      assert.equal(image.manifestDigest, r.digest);
    } finally {
      client.close();
    }
    passed++;
  });

  it('refuses a wrong password without storing it or showing it', async () => {
    const configDir = join(work, 'docker-b');
    const io = new CapturedIo(`${WRONG}\n`);
    await assert.rejects(loginCommand(tlsReg.host, { username: 'alice', passwordStdin: true, configDir, certsDir }, io), (e: Error) => {
      recordError(e);
      assert.ok(e instanceof RegistryError);
      assert.equal(e.message, `login to ${tlsReg.host} failed: HTTP 401 (UNAUTHORIZED)`);
      return true;
    });
    record(io);
    await assert.rejects(stat(join(configDir, 'config.json')), /ENOENT/);
    passed++;
  });

  it('verifies TLS by default: a certificate from another CA is refused with a clear error', async () => {
    const wrongDir = join(work, 'certs-wrong');
    await mkdir(join(wrongDir, tlsReg.host), { recursive: true });
    await copyFile(otherCa.caCert, join(wrongDir, tlsReg.host, 'ca.crt'));
    const client = new RegistryClient({ certsDir: wrongDir, retries: 0, credentials: () => ({ username: 'alice', password: PASSWORD }) });
    try {
      await assert.rejects(client.resolve(`${tlsReg.host}/secure/app:1`, amd64), (e: Error & { hint?: string }) => {
        recordError(e);
        assert.ok(e instanceof RegistryError);
        assert.match(e.message, new RegExp(`^cannot reach registry ${tlsReg.host} for secure/app: its TLS certificate is not trusted \\(`));
        assert.match(String(e.hint), new RegExp(`not signed by the CA in ${wrongDir}/${tlsReg.host}/`));
        return true;
      });
    } finally {
      client.close();
    }
    passed++;
  });

  it('--insecure-registry: skips verification over TLS, and falls back to plain HTTP for a registry without TLS', async () => {
    const creds = () => ({ username: 'alice', password: PASSWORD });
    const tlsClient = new RegistryClient({ certsDir: join(work, 'no-certs'), insecureRegistries: [tlsReg.host], credentials: creds, retries: 0 });
    const local = `${plain.host}/plain/app:1`;
    await storeTestImage(store, { tag: local, files: { 'p.txt': 'p\n' } });
    const plainClient = new RegistryClient({ certsDir: join(work, 'no-certs'), insecureRegistries: [plain.host], retries: 0 });
    try {
      const image = await tlsClient.resolve(`${tlsReg.host}/secure/app:1`, amd64);
      assert.ok(image.manifestDigest.startsWith('sha256:'));
      const pio = new CapturedIo();
      const r = await pushCommand(store.root, [local], { insecureRegistry: [plain.host], certsDir: join(work, 'no-certs'), configDir: join(work, 'none') }, pio);
      record(pio);
      assert.equal((await plainClient.resolve(local, amd64)).manifestDigest, r.digest);
    } finally {
      tlsClient.close();
      plainClient.close();
    }
    passed++;
  });

  it('logs in and out through a docker-credential helper (store/get/erase) named by credsStore', async () => {
    const configDir = join(work, 'docker-helper');
    const bin = join(work, 'bin');
    const state = join(work, 'helper-state');
    await mkdir(configDir);
    await mkdir(bin);
    await mkdir(state);
    // A tiny helper: one JSON file per server, named by the server's hex.
    const script = `#!/bin/sh
set -e
input=$(cat)
case "$1" in
  store) server=$(printf '%s' "$input" | jq -r .ServerURL); printf '%s' "$input" > "${state}/$(printf '%s' "$server" | od -An -tx1 | tr -d ' \\n')" ;;
  get) f="${state}/$(printf '%s' "$input" | od -An -tx1 | tr -d ' \\n')"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) rm -f "${state}/$(printf '%s' "$input" | od -An -tx1 | tr -d ' \\n')" ;;
  *) exit 2 ;;
esac
`;
    await writeFile(join(bin, 'docker-credential-sctest'), script);
    await chmod(join(bin, 'docker-credential-sctest'), 0o755);
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ credsStore: 'sctest' }));
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      const io = new CapturedIo(PASSWORD);
      await loginCommand(`https://${tlsReg.host}/`, { username: 'alice', passwordStdin: true, configDir, certsDir }, io);
      record(io);
      assert.equal(io.out, 'Login Succeeded\n');
      assert.equal(io.err, '', 'no plain-text warning when a helper holds the secret');
      const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as { auths: Record<string, unknown>; credsStore: string };
      assert.deepEqual(config.auths, { [tlsReg.host]: {} }, 'config.json lists the server but holds no secret');
      assert.equal(config.credsStore, 'sctest');
      const stored = JSON.parse(await readFile(join(state, Buffer.from(tlsReg.host).toString('hex')), 'utf8')) as Record<string, string>;
      assert.deepEqual(stored, { ServerURL: tlsReg.host, Username: 'alice', Secret: PASSWORD });

      const client = new RegistryClient(registryClientOptions({ configDir, certsDir }));
      try {
        assert.ok((await client.resolve(`${tlsReg.host}/secure/app:1`, amd64)).manifestDigest.startsWith('sha256:'), 'the helper answers get');
      } finally {
        client.close();
      }
      const out = new CapturedIo();
      await logoutCommand(tlsReg.host, { configDir }, out);
      record(out);
      assert.equal(out.out, `Removing login credentials for ${tlsReg.host}\n`);
      await assert.rejects(readFile(join(state, Buffer.from(tlsReg.host).toString('hex'))), /ENOENT/, 'the helper erased it');
      const after = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
      assert.deepEqual(after.auths, {});
    } finally {
      process.env.PATH = oldPath;
    }
    passed++;
  });

  it('logout removes base64 auths; logging out twice says so', async () => {
    const configDir = join(work, 'docker-a');
    const io = new CapturedIo();
    await logoutCommand(tlsReg.host, { configDir }, io);
    await logoutCommand(tlsReg.host, { configDir }, io);
    record(io);
    assert.equal(io.out, `Removing login credentials for ${tlsReg.host}\nNot logged in to ${tlsReg.host}\n`);
    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as { auths: Record<string, unknown>; psFormat: string };
    assert.deepEqual(config.auths, {});
    assert.equal(config.psFormat, 'keep me');
    passed++;
  });

  it('token auth: login through the token server, push, and mount with a widened scope', async () => {
    const configDir = join(work, 'docker-token');
    const io = new CapturedIo(PASSWORD);
    await loginCommand(tokenReg.host, { username: 'alice', passwordStdin: true, configDir }, io);
    record(io);
    const first = `${tokenReg.host}/team/base:1`;
    await storeTestImage(store, { tag: first, files: { 'base.txt': 'base\n' } });
    const pio = new CapturedIo();
    await pushCommand(store.root, [first], { configDir }, pio);
    const start = tokens.requests.length;
    const r = await pushCommand(store.root, [first, `${tokenReg.host}/team/derived:1`], { configDir }, pio);
    record(pio);
    assert.deepEqual(r.blobs.slice(2).map((b) => b.result), ['mounted', 'mounted']);
    const scopes = tokens.requests.slice(start).map((q) => q.scope);
    assert.ok(scopes.includes('repository:team/derived:pull,push repository:team/base:pull'), `a token for the mount asked for pull on the source: ${scopes.join(' | ')}`);
    assert.ok(tokens.requests.slice(start).every((q) => q.user === 'alice' && q.authenticated));
    passed++;
  });

  it('token auth: a token past its expiry is replaced by a fresh one', async () => {
    const configDir = join(work, 'docker-token');
    const client = new RegistryClient(registryClientOptions({ configDir }));
    try {
      await client.resolve(`${tokenReg.host}/team/base:1`, amd64);
      const before = tokens.requests.length;
      await new Promise((r) => setTimeout(r, 2100)); // tokens live 1 s
      const image = await client.resolve(`${tokenReg.host}/team/base:1`, amd64);
      assert.ok(image.manifestDigest.startsWith('sha256:'));
      assert.ok(tokens.requests.length > before, 'a new token was fetched');
    } finally {
      client.close();
    }
    const denied = new RegistryClient({ retries: 0 });
    try {
      await assert.rejects(denied.resolve(`${tokenReg.host}/team/base:1`, amd64), (e: Error) => {
        recordError(e);
        assert.ok(e instanceof RegistryError);
        assert.match(e.message, /access to image .*team\/base:1 denied by registry .*: HTTP 401 \(UNAUTHORIZED\)/);
        return true;
      });
    } finally {
      denied.close();
    }
    passed++;
  });

  it('token auth: an identity token in config.json is exchanged with the refresh_token grant', async () => {
    const configDir = join(work, 'docker-identity');
    await mkdir(configDir);
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [tokenReg.host]: { auth: Buffer.from('alice:').toString('base64'), identitytoken: REFRESH } } }));
    const client = new RegistryClient(registryClientOptions({ configDir }));
    const start = tokens.requests.length;
    try {
      const image = await client.resolve(`${tokenReg.host}/team/base:1`, amd64);
      assert.ok(image.manifestDigest.startsWith('sha256:'));
    } finally {
      client.close();
    }
    const asked = tokens.requests.slice(start);
    assert.ok(asked.length > 0);
    assert.ok(asked.every((q) => q.method === 'POST' && q.user === 'alice' && q.authenticated), JSON.stringify(asked));
    const bad = join(work, 'docker-identity-bad');
    await mkdir(bad);
    await writeFile(join(bad, 'config.json'), JSON.stringify({ auths: { [tokenReg.host]: { identitytoken: WRONG } } }));
    const denied = new RegistryClient({ ...registryClientOptions({ configDir: bad }), retries: 0 });
    try {
      await assert.rejects(denied.resolve(`${tokenReg.host}/team/base:1`, amd64), (e: Error) => {
        recordError(e);
        assert.match(e.message, new RegExp(`cannot get a token for ${tokenReg.host}/team/base: token server answered 401 \\(UNAUTHORIZED\\)`));
        return true;
      });
    } finally {
      denied.close();
    }
    passed++;
  });

  it('never shows a password or a token in any output or error above', () => {
    assert.ok(seen.length > 20, 'outputs were recorded');
    assert.ok(tokens.issued.length > 0, 'tokens were issued');
    const all = seen.join('\n');
    assert.ok(!all.includes(PASSWORD), 'password leaked');
    assert.ok(!all.includes(WRONG), 'wrong password leaked');
    assert.ok(!all.includes(REFRESH), 'identity token leaked');
    assert.ok(!all.includes(Buffer.from(`alice:${PASSWORD}`).toString('base64')), 'basic credentials leaked');
    for (const t of tokens.issued) {
      assert.ok(!all.includes(t), 'a token leaked');
      assert.ok(!all.includes(t.split('.')[2]!), 'a token signature leaked');
    }
    passed++;
  });
});
