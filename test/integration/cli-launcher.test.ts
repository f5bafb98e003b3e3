/**
 * bin/stagecraft, the command npm links: it starts node without
 * NODE_EXTRA_CA_CERTS (Node 20 would build its whole root store at start-up,
 * ~50 ms) and hands the file on, so TLS still trusts those CAs: an ADD of an
 * https URL served with a certificate from a CA this test makes succeeds only
 * with NODE_EXTRA_CA_CERTS naming that CA. Needs root (a build) and openssl.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, stat, symlink, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../support/exec.js';
import { makeTestCa, type TestCa } from '../support/tls.js';
import { withRootfs } from '../support/oci-run.js';
import { buildSkipReason } from '../fixtures/build/fixtures.js';
import '../support/cli.js'; // STAGECRAFT_FROM_SOURCE=1: the sources, not a stale dist/

const LAUNCHER = fileURLToPath(new URL('../../bin/stagecraft', import.meta.url));
const CJS = fileURLToPath(new URL('../../bin/stagecraft.cjs', import.meta.url));
const version = (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function envWith(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, STAGECRAFT_FROM_SOURCE: '1' };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.STAGECRAFT_EXTRA_CA_CERTS;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

describe('bin/stagecraft', () => {
  let work: string;
  let ca: TestCa;
  let server: Server;
  let url: string;
  const requests: string[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-launcher-'));
    ca = await makeTestCa('stagecraft-launcher-ca');
    const cert = await ca.issue('web');
    server = createServer({ cert: await readFile(cert.cert), key: await readFile(cert.key) }, (req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('served over TLS\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    url = `https://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/greeting.txt`;
  });

  after(async () => {
    server?.close();
    await ca?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('runs through a symlink, as npm links it, and node starts without NODE_EXTRA_CA_CERTS', async () => {
    const link = join(work, 'stagecraft');
    await symlink(LAUNCHER, link);
    // Node warns at start-up about an unreadable NODE_EXTRA_CA_CERTS: the launcher's node never reads it.
    const env = envWith({ NODE_EXTRA_CA_CERTS: join(work, 'missing-ca.pem') });
    const direct = await runCommand(process.execPath, [CJS, '--version'], { env });
    assert.match(direct.stderr, /Ignoring extra certs/, 'node itself reads NODE_EXTRA_CA_CERTS at start-up');
    const r = await runCommand(link, ['--version'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
    assert.equal(r.stderr, '');
  });

  it('a build without --no-cache does not load a code cache that a build which pulled or ran --no-cache wrote: it writes its own', async () => {
    // A stand-in bundle beside a copy of the launcher: it says what kind of build ran, as the build command does.
    const root = join(work, 'code-cache');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'dist'), { recursive: true });
    await copyFile(CJS, join(root, 'bin', 'stagecraft.cjs'));
    await writeFile(join(root, 'dist', 'cli.cjs'), `exports.main = async (argv) => {
      const k = Symbol.for('stagecraft.codeCacheRun');
      if (argv.includes('--pulled')) globalThis[k] = 'pulled';
      else if (argv.includes('--no-cache')) globalThis[k] = 'no-cache';
      else if (argv.includes('--steps')) globalThis[k] = 'steps';
      process.stdout.write('ran ' + argv.slice(2).join(' ') + '\\n');
    };\n`);
    const cache = join(root, 'dist', 'cli.cjs.build.cache');
    const run = async (...args: string[]): Promise<{ from: string; ino: number }> => {
      const env = envWith({});
      delete env.STAGECRAFT_FROM_SOURCE;
      const r = await runCommand(process.execPath, [join(root, 'bin', 'stagecraft.cjs'), ...args], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `ran ${args.join(' ')}\n`);
      return { from: await readFile(`${cache}.from`, 'utf8'), ino: (await stat(cache)).ino };
    };
    const first = await run('build', '--pulled');
    assert.equal(first.from, 'pulled', 'the first run writes the cache and says who wrote it');
    assert.deepEqual(await run('build', '--no-cache'), first, 'a --no-cache build uses any cache and leaves it');
    const warm = await run('build');
    assert.equal(warm.from, 'warm');
    assert.notEqual(warm.ino, first.ino, 'a build that pulled nothing writes a cache of its own');
    assert.deepEqual(await run('build', '--pulled'), warm, 'a cold build uses a rebuild\'s cache and leaves it');
    assert.deepEqual(await run('build', '--no-cache'), warm);
    assert.deepEqual(await run('build'), warm);
    // A --no-cache build's cache is not loaded by a rebuild either.
    await writeFile(`${cache}.from`, 'no-cache');
    const again = await run('build');
    assert.equal(again.from, 'warm');
    assert.notEqual(again.ino, warm.ino);
    // Other commands have a cache of their own, with no kind.
    const other = await runCommand(process.execPath, [join(root, 'bin', 'stagecraft.cjs'), 'images'], { env: (() => { const e = envWith({}); delete e.STAGECRAFT_FROM_SOURCE; return e; })() });
    assert.equal(other.code, 0, other.stderr);
    assert.ok((await stat(join(root, 'dist', 'cli.cjs.other.cache'))).size > 0);
    assert.deepEqual(await run('build'), again, 'and the build cache is left alone');
    // The first rebuild that ran a step replaces a no-op rebuild's cache, once; then every kind of build uses it and leaves it.
    const steps = await run('build', '--steps');
    assert.equal(steps.from, 'steps');
    assert.notEqual(steps.ino, again.ino, 'a rebuild that ran a step rewrites a no-op rebuild\'s cache');
    for (const kind of [['--steps'], [], ['--pulled'], ['--no-cache']]) {
      assert.deepEqual(await run('build', ...kind), steps, `a build (${kind.join(' ') || 'no-op'}) uses a step-running rebuild's cache and leaves it`);
    }
    // With no cache at all, a rebuild that ran a step writes one of that kind.
    await rm(cache);
    assert.equal((await run('build', '--steps')).from, 'steps');
  });

  it('ADD of an https URL trusts the CA that NODE_EXTRA_CA_CERTS names, and only then', { skip: buildSkipReason() }, async () => {
    const ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nADD ${url} /greeting.txt\n`);
    const root = join(work, 'store');
    const build = (env: NodeJS.ProcessEnv) => runCommand(LAUNCHER, ['--root', root, 'build', '--progress', 'plain', '-t', 'launcher/add:1', ctx], { env });

    const untrusted = await build(envWith({}));
    assert.notEqual(untrusted.code, 0, 'a certificate from an unknown CA was accepted');
    assert.match(untrusted.stderr, /certificate/i, untrusted.stderr);
    assert.equal(requests.length, 0, 'no request got through the TLS handshake');

    const trusted = await build(envWith({ NODE_EXTRA_CA_CERTS: ca.caCert }));
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.deepEqual(requests, ['/greeting.txt']);
    await withRootfs(root, 'docker.io/launcher/add:1', async (fs) => {
      assert.equal(await readFile(join(fs, 'greeting.txt'), 'utf8'), 'served over TLS\n');
    });
  });
});
