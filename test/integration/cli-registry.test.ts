/**
 * The registry commands as a user runs them (`node bin/stagecraft.cjs ...` in
 * a child process): `login`/`logout` against htpasswd Basic auth over TLS
 * (CA in a certs.d directory) and against the token flow; `build --push` and
 * `push`, read back by skopeo byte for byte; a build pulling its base with
 * the stored login; `build --registry-mirror`; `build --secret/--ssh`. Every
 * byte the commands print is kept and checked for credentials at the end.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Store } from '../../src/store/index.js';
import { buildSkipReason, openBuildEnv, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';
import { pushBaseImages } from '../support/base-images.js';
import { CLI, errorLines, runCli, type CliResult } from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { withRootfs } from '../support/oci-run.js';
import { freePort, skopeo, startRegistry, startTokenServer, writeHtpasswd, type RunningRegistry, type TokenServer } from '../support/registry.js';
import { makeTestCa, type TestCa } from '../support/tls.js';

const skip = buildSkipReason();
const tally = new Tally('cli registry', 13);

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const WRONG = `wrong-${randomBytes(12).toString('hex')}`;
const SECRET = `sc-cli-secret-${randomBytes(16).toString('hex')}`;
const ENV_SECRET = `sc-cli-env-secret-${randomBytes(16).toString('hex')}`;
const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('registry commands on the command line', { skip }, () => {
  let env: BuildEnv;
  let work: string;
  let ca: TestCa;
  let certsDir: string;
  let tls: RunningRegistry;
  let tokens: TokenServer;
  let tokenReg: RunningRegistry;
  let tokenProxy: FaultProxy;
  let mirror: RunningRegistry;
  let mirrorProxy: FaultProxy;
  /** DOCKER_CONFIG for every run unless a test says otherwise. */
  let dockerConfig: string;
  /** Everything any command printed. */
  const seen: string[] = [];
  let pushedDigest = '';

  const sc = async (args: string[], o: { input?: string; root?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> => {
    const r = await runCli(args, {
      root: o.root ?? env.root,
      env: { ...process.env, DOCKER_CONFIG: dockerConfig, ...o.env },
      ...(o.input !== undefined ? { input: o.input } : {}),
    });
    seen.push(r.stdout, r.stderr);
    return r;
  };
  const ok = (r: CliResult): CliResult => {
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
    return r;
  };
  const context = async (dockerfile: string): Promise<string> => {
    const dir = await mkdtemp(join(work, 'ctx-'));
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  };
  const freshRoot = (): Promise<string> => mkdtemp(join(work, 'root-'));
  const authfile = (): string => join(dockerConfig, 'config.json');
  const skopeoTls = (): string[] => ['--authfile', authfile(), '--cert-dir', join(certsDir, tls.host)];

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    work = await mkdtemp(join(tmpdir(), 'stagecraft-cli-registry-'));
    env.scratch.push(work);
    dockerConfig = join(work, 'docker');
    ca = await makeTestCa();
    const server = await ca.issue('registry');
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: PASSWORD });
    tls = await startRegistry({
      tls: { certificate: server.cert, key: server.key, ca: ca.caPem },
      auth: { htpasswd: { realm: 'stagecraft-test', path: htpasswd } },
    });
    certsDir = join(work, 'certs.d');
    await mkdir(join(certsDir, tls.host), { recursive: true });
    await copyFile(ca.caCert, join(certsDir, tls.host, 'ca.crt'));
    tokens = await startTokenServer({ users: { alice: PASSWORD }, anonymousPull: false });
    tokenReg = await startRegistry({ auth: { token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle } } });
    tokenProxy = await startFaultProxy(tokenReg);
    mirror = await startRegistry();
    await pushBaseImages(mirror.host, ['busybox:latest'], { namespace: 'library' });
    mirrorProxy = await startFaultProxy(mirror);
  });

  after(async () => {
    await tokenProxy?.stop();
    await mirrorProxy?.stop();
    for (const r of [tls, tokenReg, mirror]) await r?.stop();
    await tokens?.stop();
    await ca?.remove();
    await env?.close();
    console.log(tally.summary());
  });

  it('login with a wrong password fails with one error line naming the registry, and stores nothing', async () => {
    const r = await sc(['login', '-u', 'alice', '--password-stdin', '--certs-dir', certsDir, tls.host], { input: `${WRONG}\n` });
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [`error: login to ${tls.host} failed: HTTP 401 (UNAUTHORIZED) (check the user name and password)`]);
    assert.equal(r.stdout, '');
    await assert.rejects(stat(authfile()), /ENOENT/);
    tally.pass();
  });

  it('login over verified TLS (--certs-dir CA; without it, a hint; --insecure-registry skips verification) stores base64 auths in $DOCKER_CONFIG/config.json, mode 0600, as docker login does', async () => {
    // Without the CA a loopback host is plain HTTP, which a TLS-only registry refuses: the error says what to do.
    const plain = await sc(['login', '-u', 'alice', '--password-stdin', tls.host], { input: `${PASSWORD}\n` });
    assert.equal(plain.code, 1);
    assert.deepEqual(errorLines(plain.stderr), [
      `error: login to ${tls.host} failed: HTTP 400 (${tls.host} speaks HTTPS: put its CA in <certs-dir>/${tls.host}/ca.crt (--certs-dir, default /etc/docker/certs.d), or pass --insecure-registry ${tls.host})`,
    ]);
    // --insecure-registry: HTTPS without verifying the certificate (checked, not stored: another config dir).
    const insecure = ok(await sc(['login', '-u', 'alice', '--password-stdin', '--insecure-registry', tls.host, '--config', join(work, 'docker-insecure'), tls.host], { input: PASSWORD }));
    assert.equal(insecure.stdout, 'Login Succeeded\n');
    await assert.rejects(stat(authfile()), /ENOENT/, 'nothing stored in $DOCKER_CONFIG yet');

    const r = ok(await sc(['login', '-u', 'alice', '--password-stdin', '--certs-dir', certsDir, tls.host], { input: `${PASSWORD}\n` }));
    assert.equal(r.stdout, 'Login Succeeded\n');
    assert.match(r.stderr, /WARNING! Your password will be stored unencrypted in .*config\.json/);
    const config = JSON.parse(await readFile(authfile(), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.deepEqual(Object.keys(config.auths), [tls.host]);
    assert.equal(config.auths[tls.host]!.auth, Buffer.from(`alice:${PASSWORD}`).toString('base64'));
    assert.equal((await stat(authfile())).mode & 0o777, 0o600);
    tally.pass();
  });

  it('build --push needs a -t name: a usage error before anything is built', async () => {
    const ctx = await context(`FROM ${env.host}/busybox:latest\nRUN echo never > /never\n`);
    const r = await sc(['build', '--progress', 'plain', '--push', ctx]);
    assert.equal(r.code, 2);
    assert.deepEqual(errorLines(r.stderr), ['error: --push needs at least one -t name to push to (stagecraft build --push -t registry.example/app:1 .)']);
    assert.doesNotMatch(r.stderr, /RUN echo never/);
    tally.pass();
  });

  it('build --push -t pushes with the stored login; the digest printed is what skopeo sees, and skopeo pulls back the same bytes', async () => {
    const ctx = await context(`FROM ${env.host}/busybox:latest\nRUN echo pushed > /pushed.txt\n`);
    const ref = `${tls.host}/app/cli:1`;
    const r = ok(await sc(['build', '--progress', 'plain', '--push', '-t', ref, '--certs-dir', certsDir, ctx]));
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    assert.match(lines[0]!, /^sha256:[0-9a-f]{64}$/, 'the image ID (config digest) comes first, as without --push');
    const m = new RegExp(`^${ref.replace(/\./g, '\\.')}: digest: (sha256:[0-9a-f]{64}) size: (\\d+)$`).exec(lines[1]!);
    assert.ok(m, lines[1]);
    pushedDigest = m[1]!;
    assert.match(r.stderr, /push [0-9a-f]{12}: Pushed/);

    const raw = skopeo(['inspect', '--raw', ...skopeoTls(), `docker://${ref}`]).stdout;
    assert.equal(sha256(raw), pushedDigest);
    assert.equal(raw.length, Number(m[2]));

    const out = join(work, 'skopeo-dir');
    skopeo(['copy', '--quiet', '--src-authfile', authfile(), '--src-cert-dir', join(certsDir, tls.host), `docker://${ref}`, `dir:${out}`]);
    assert.deepEqual(await readFile(join(out, 'manifest.json')), raw, 'the manifest bytes are kept');
    const manifest = JSON.parse(raw.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const store = await Store.open(env.root);
    const digests = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    for (const d of digests) {
      const pulled = await readFile(join(out, d.slice('sha256:'.length)));
      assert.equal(sha256(pulled), d);
      assert.deepEqual(pulled, await store.getBytes(d as `sha256:${string}`), `blob ${d} is byte for byte what the store pushed`);
    }
    const files = (await readdir(out)).filter((f) => /^[0-9a-f]{64}$/.test(f));
    assert.deepEqual(files.sort(), digests.map((d) => d.slice(7)).sort(), 'no other blobs');
    tally.pass();
  });

  it('stagecraft push of a second tag sends no blob again: every layer already exists, same digest', async () => {
    assert.ok(pushedDigest, 'needs the build --push case');
    const r = ok(await sc(['push', '--certs-dir', certsDir, `${tls.host}/app/cli:1`, `${tls.host}/app/cli:2`]));
    const blobLines = r.stdout.split('\n').filter((l) => /^[0-9a-f]{12}: /.test(l));
    assert.ok(blobLines.length >= 2, r.stdout);
    for (const l of blobLines) assert.match(l, /: Layer already exists$/);
    assert.match(r.stdout, new RegExp(`^1: digest: ${pushedDigest} size: \\d+$`, 'm'));
    assert.match(r.stdout, new RegExp(`^2: digest: ${pushedDigest} size: \\d+$`, 'm'));
    assert.equal(sha256(skopeo(['inspect', '--raw', ...skopeoTls(), `docker://${tls.host}/app/cli:2`]).stdout), pushedDigest);
    tally.pass();
  });

  it('push --all-tags pushes every local tag of the repository (not a look-alike repository), each its own image; a tag in the argument, no local tag or two arguments are refused before anything is sent', async () => {
    const repo = `${mirror.host}/multi/app`;
    const digests: Record<string, string> = {};
    for (const [ref, word] of [[`${repo}:a`, 'a'], [`${repo}:b`, 'b'], [`${repo}-x:c`, 'c'], [`${mirror.host}/multi/other:a`, 'o']] as const) {
      const ctx = await context(`FROM ${env.host}/busybox:latest\nRUN echo ${word} > /which\n`);
      ok(await sc(['build', '-q', '-t', ref, ctx]));
    }
    const r = ok(await sc(['push', '-a', repo]));
    for (const tag of ['a', 'b']) {
      const m = new RegExp(`^${tag}: digest: (sha256:[0-9a-f]{64}) size: \\d+$`, 'm').exec(r.stdout);
      assert.ok(m, `${tag} in\n${r.stdout}`);
      digests[tag] = m[1]!;
      assert.equal(sha256(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${repo}:${tag}`]).stdout), digests[tag]);
    }
    assert.notEqual(digests.a, digests.b, 'two images, one per tag');
    assert.deepEqual(errorLines(r.stderr), []);
    const listed = JSON.parse(skopeo(['list-tags', '--tls-verify=false', `docker://${repo}`]).stdout.toString('utf8')) as { Tags: string[] };
    assert.deepEqual(listed.Tags.sort(), ['a', 'b']);
    assert.throws(() => skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${repo}-x:c`]), /failed/, 'a look-alike repository is not pushed');

    const tagged = await sc(['push', '--all-tags', `${repo}:a`]);
    assert.equal(tagged.code, 2);
    assert.deepEqual(errorLines(tagged.stderr), [`error: --all-tags takes a repository without a tag or digest, not ${repo}:a (stagecraft push --all-tags ${repo})`]);
    const none = await sc(['push', '-a', `${mirror.host}/multi/nothing`]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no image in the local store is tagged in .*multi\/nothing/);
    const two = await sc(['push', '-a', repo, `${mirror.host}/multi/other`]);
    assert.equal(two.code, 2);
    assert.match(two.stderr, /push --all-tags takes one repository, not 2 arguments/);
    for (const x of [tagged, none, two]) assert.doesNotMatch(x.stdout, /digest:/);
    tally.pass();
  });

  it('a build pulls its base from the authenticated registry with the stored login; with another --config it is refused, naming the registry', async () => {
    const ctx = await context(`FROM ${tls.host}/app/cli:1\nRUN cat /pushed.txt > /again.txt\n`);
    const root = await freshRoot();
    const r = ok(await sc(['build', '--progress', 'plain', '--certs-dir', certsDir, '-t', 'docker.io/library/pulled:1', ctx], { root }));
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    await withRootfs(root, 'docker.io/library/pulled:1', async (fs) => {
      assert.equal(await readFile(join(fs, 'again.txt'), 'utf8'), 'pushed\n');
    });

    const empty = join(work, 'docker-empty');
    await mkdir(empty);
    const denied = await sc(['build', '--progress', 'plain', '--certs-dir', certsDir, '--config', empty, ctx], { root: await freshRoot() });
    assert.equal(denied.code, 1);
    const errs = errorLines(denied.stderr);
    assert.equal(errs.length, 1, denied.stderr);
    assert.ok(errs[0]!.includes(tls.host) && /401|UNAUTHORIZED/.test(errs[0]!), errs[0]);
    assert.ok(errs[0]!.includes(`log in with stagecraft login ${tls.host}`), errs[0]);
    tally.pass();
  });

  it('logout removes the stored login (and says so once); a pull then needs it again', async () => {
    const r = ok(await sc(['logout', tls.host]));
    assert.equal(r.stdout, `Removing login credentials for ${tls.host}\n`);
    const config = JSON.parse(await readFile(authfile(), 'utf8')) as { auths?: Record<string, unknown> };
    assert.equal(config.auths?.[tls.host], undefined);
    assert.equal(ok(await sc(['logout', tls.host])).stdout, `Not logged in to ${tls.host}\n`);
    const ctx = await context(`FROM ${tls.host}/app/cli:1\nRUN true\n`);
    const denied = await sc(['build', '--progress', 'plain', '--certs-dir', certsDir, ctx], { root: await freshRoot() });
    assert.equal(denied.code, 1);
    assert.ok(errorLines(denied.stderr).some((l) => l.includes(tls.host)), denied.stderr);
    tally.pass();
  });

  it('token auth: login with --config, push through the token flow; pushing the second tag only asks whether blobs exist', async () => {
    const configDir = join(work, 'docker-token');
    const host = tokenProxy.host;
    const bad = await sc(['login', '-u', 'alice', '-p', WRONG, '--config', configDir, host]);
    assert.equal(bad.code, 1);
    assert.equal(errorLines(bad.stderr).length, 1);
    assert.ok(errorLines(bad.stderr)[0]!.includes(host), bad.stderr);
    const r = ok(await sc(['login', '-u', 'alice', '--password-stdin', '--config', configDir, host], { input: PASSWORD }));
    assert.equal(r.stdout, 'Login Succeeded\n');

    const ctx = await context(`FROM ${env.host}/busybox:latest\nRUN echo pushed > /pushed.txt\n`);
    ok(await sc(['build', '--progress', 'quiet', '-t', `${host}/tok/app:1`, '-t', `${host}/tok/app:2`, ctx]));
    const first = ok(await sc(['push', '--config', configDir, `${host}/tok/app:1`]));
    assert.match(first.stdout, /: Pushed$/m);
    const from = tokenProxy.log.length;
    const second = ok(await sc(['push', '--config', configDir, '--compression', 'gzip', `${host}/tok/app:2`]));
    const asked = tokenProxy.log.slice(from).map((l) => `${l.method} ${l.url.replace(/\?.*$/, '')}`);
    assert.deepEqual(asked.filter((l) => /\/blobs\//.test(l) && !l.startsWith('HEAD ')), [], `only HEAD for blobs: ${asked.join(', ')}`);
    assert.ok(asked.includes('PUT /v2/tok/app/manifests/2'), asked.join(', '));
    const d1 = /^1: digest: (sha256:[0-9a-f]{64})/m.exec(first.stdout)?.[1];
    assert.ok(d1);
    assert.match(second.stdout, new RegExp(`^2: digest: ${d1} size: \\d+$`, 'm'));
    assert.ok(tokens.requests.some((q) => q.user === 'alice' && q.authenticated && q.scope === 'repository:tok/app:pull,push'));
    tally.pass();
  });

  it('Ctrl-C during build --push stops the command at once (an unfinished upload is abandoned)', async () => {
    const host = tokenProxy.host;
    const ctx = await context(`FROM ${env.host}/busybox:latest\nRUN echo pushed > /pushed.txt\n`);
    tokenProxy.add({ method: 'POST', path: /\/blobs\/uploads\//, fault: { kind: 'slow', delayMs: 60_000 }, times: Infinity });
    try {
      const child = spawn(process.execPath, [CLI, 'build', '--progress', 'plain', '--push', '--config', join(work, 'docker-token'), '-t', `${host}/tok/interrupted:1`, ctx], {
        env: { ...process.env, STAGECRAFT_ROOT: env.root, DOCKER_CONFIG: dockerConfig }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
      const closed = new Promise<NodeJS.Signals | null>((r) => child.on('close', (_code, signal) => r(signal)));
      const deadline = Date.now() + 60_000;
      while (!tokenProxy.log.some((l) => l.fault === 'slow') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(tokenProxy.log.some((l) => l.fault === 'slow'), `the push reached an upload: ${out}`);
      const sent = Date.now();
      child.kill('SIGINT');
      const stuck = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const signal = await closed;
      clearTimeout(stuck);
      assert.equal(signal, 'SIGINT', 'ended by the SIGINT, not killed after waiting');
      assert.ok(Date.now() - sent < 5000, 'stopped within seconds, not after the upload');
      seen.push(out);
    } finally {
      tokenProxy.clear();
    }
    tally.pass();
  });

  it('build --registry-mirror: docker.io images come from the mirror, past a mirror that is down', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const ctx = await context('FROM busybox\nRUN echo mirrored > /m\n');
    const root = await freshRoot();
    const from = mirrorProxy.log.length;
    const r = ok(await sc(['build', '--progress', 'json', '--registry-mirror', down, '--registry-mirror', mirrorProxy.url, '-t', 'mirrored:1', ctx], { root }));
    const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; ref?: string });
    assert.ok(events.some((e) => e.type === 'resolve-done' && e.ref === 'busybox'), 'the base resolved');
    const asked = mirrorProxy.log.slice(from).map((l) => `${l.method} ${l.url}`);
    assert.ok(asked.includes('GET /v2/library/busybox/manifests/latest'), asked.join(', '));
    assert.ok(asked.some((l) => /^GET \/v2\/library\/busybox\/blobs\/sha256:/.test(l)), 'blobs came from the mirror too');
    await withRootfs(root, 'docker.io/library/mirrored:1', async (fs) => {
      assert.equal(await readFile(join(fs, 'm'), 'utf8'), 'mirrored\n');
    });
    tally.pass();
  });

  it('build --secret (file and env) and --ssh reach RUN; the secret is in no layer, history, store file or output', async () => {
    const secretFile = join(work, 'token');
    await writeFile(secretFile, SECRET);
    const sock = join(work, 'agent.sock');
    const agent: Server = createNetServer((c) => c.end());
    await new Promise<void>((r) => agent.listen(sock, r));
    try {
      const ctx = await context([
        `FROM ${env.host}/busybox:latest`,
        'RUN --mount=type=secret,id=tok md5sum /run/secrets/tok | cut -d" " -f1 > /tok-md5',
        'RUN --mount=type=secret,id=api,env=API_KEY printf %s "$API_KEY" | md5sum | cut -d" " -f1 > /api-md5',
        'RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo agent > /ssh',
        '',
      ].join('\n'));
      const r = ok(await sc([
        'build', '--progress', 'plain', '-t', 'secrets:cli', '--secret', `id=tok,src=${secretFile}`, '--secret', 'id=api,env=SC_CLI_API', '--ssh', `default=${sock}`, ctx,
      ], { env: { SC_CLI_API: ENV_SECRET } }));
      await withRootfs(env.root, 'docker.io/library/secrets:cli', async (fs) => {
        assert.equal((await readFile(join(fs, 'tok-md5'), 'utf8')).trim(), md5(SECRET));
        assert.equal((await readFile(join(fs, 'api-md5'), 'utf8')).trim(), md5(ENV_SECRET));
        assert.equal((await readFile(join(fs, 'ssh'), 'utf8')).trim(), 'agent');
      });
      const history = ok(await sc(['history', '--no-trunc', 'secrets:cli']));
      assert.match(history.stdout, /RUN \/bin\/sh -c md5sum \/run\/secrets\/tok/, "the history row is there (as BuildKit, without the mount flags)");
      for (const needle of [SECRET, ENV_SECRET]) {
        assert.ok(!r.stdout.includes(needle) && !r.stderr.includes(needle) && !history.stdout.includes(needle));
        const grep = spawnSync('grep', ['-rlF', '-D', 'skip', '--', needle, env.root], { encoding: 'utf8' });
        assert.equal(grep.status, 1, `no store file holds the secret: ${grep.stdout}`);
      }
      const sanity = spawnSync('grep', ['-rlF', '--', SECRET, work], { encoding: 'utf8' });
      assert.equal(sanity.stdout.trim(), secretFile, 'the scan finds the secret where it is');
    } finally {
      await new Promise<void>((r) => agent.close(() => r()));
    }
    tally.pass();
  });

  it('no password, token, auth string or secret value appears in anything the commands printed', () => {
    const text = seen.join('\n');
    assert.ok(text.length > 1000, 'the commands did print');
    const needles = [PASSWORD, WRONG, SECRET, ENV_SECRET, Buffer.from(`alice:${PASSWORD}`).toString('base64'), ...tokens.issued];
    assert.ok(tokens.issued.length > 0);
    for (const n of needles) assert.ok(!text.includes(n), 'a credential or secret was printed');
    tally.pass();
  });
});
