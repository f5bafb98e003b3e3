/**
 * RUN --mount=type=secret and type=ssh, built for real. The threat tests are
 * named after the threat: a secret value leaking into a layer tar, the image
 * config or history, a cache record, the store, the build's output or an
 * error message. Each searches the real artefacts for the value's bytes.
 * Needs root, runc, docker-registry, skopeo (and ssh-agent for the ssh case).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, lstat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { existsIn, readStoredImage, withRootfs } from '../support/oci-run.js';
import { buildFailure, buildSkipReason, buildWithEvents, openBuildEnv, steps, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';
import { Store } from '../../src/store/index.js';
import { dirToLayerEntries, tarChunks } from '../../src/tar/index.js';
import { parseSecretFlag, parseSshFlag } from '../../src/build/secrets.js';

const skip = buildSkipReason();
const tally = new Tally('build secrets', 4);

async function contextWith(env: BuildEnv, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-secrets-ctx-'));
  env.scratch.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text.split('@REGISTRY@').join(env.host));
  return dir;
}

/** Every regular file under `dir` whose bytes contain `needle`. */
async function filesContaining(dir: string, needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const rel of await readdir(dir, { recursive: true })) {
    const p = join(dir, rel);
    const st = await lstat(p).catch(() => undefined);
    if (!st?.isFile()) continue;
    if ((await readFile(p)).includes(needle)) hits.push(p);
  }
  return hits;
}

/** Whether any of the image's layer tars (as save/push would write them) contains `needle`. */
async function layerTarsContain(root: string, ref: string, needle: Buffer): Promise<boolean> {
  const image = await readStoredImage(root, ref);
  const store = await Store.open(root);
  for (const diffId of image.config.rootfs.diff_ids) {
    const parts: Buffer[] = [];
    for await (const chunk of tarChunks(dirToLayerEntries(store.layerDir(diffId as `sha256:${string}`), { format: 'overlay' }))) parts.push(chunk);
    if (Buffer.concat(parts).includes(needle)) return true;
  }
  return false;
}

const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

describe('RUN --mount=type=secret|ssh builds', { skip }, () => {
  let env: BuildEnv;
  const value = `sc-secret-${randomBytes(16).toString('hex')}`;
  const envValue = `sc-env-secret-${randomBytes(16).toString('hex')}`;
  let secretFile: string;

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-secret-src-'));
    env.scratch.push(dir);
    secretFile = join(dir, 'token');
    await writeFile(secretFile, value);
    process.env.SC_TEST_API_KEY = envValue;
  });

  after(async () => {
    delete process.env.SC_TEST_API_KEY;
    await env?.close();
    console.log(tally.summary());
  });

  const dockerfile = [
    'FROM @REGISTRY@/busybox:latest',
    'RUN --mount=type=secret,id=tok md5sum /run/secrets/tok | cut -d" " -f1 > /tok-md5 && stat -c "%a %u %g" /run/secrets/tok > /tok-stat',
    'RUN --mount=type=secret,id=tok,target=/custom/tok,uid=1000,gid=1001,mode=0440 stat -c "%a %u %g" /custom/tok > /custom-stat',
    'RUN --mount=type=secret,id=api,env=API_KEY printf %s "$API_KEY" | md5sum | cut -d" " -f1 > /api-md5 && (test -e /run/secrets/api && echo file || echo no-file) > /api-file',
    'RUN --mount=type=secret,id=absent (test -e /run/secrets/absent && echo present || echo absent) > /absent',
  ].join('\n');

  it('secret leaks into a layer, the image config or history, a cache record, the store or the build output: none; the step saw the value with the right owner and mode', async () => {
    const context = await contextWith(env, { Dockerfile: dockerfile });
    const shmBefore = new Set(await readdir('/dev/shm').catch(() => []));
    const secrets = [parseSecretFlag(`id=tok,src=${secretFile}`), parseSecretFlag('id=api,env=SC_TEST_API_KEY')];
    const { result, events } = await buildWithEvents({ context, tags: ['secrets:1'], root: env.root, secrets });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal((await readFile(join(fs, 'tok-md5'), 'utf8')).trim(), md5(value));
      assert.equal((await readFile(join(fs, 'tok-stat'), 'utf8')).trim(), '400 0 0');
      assert.equal((await readFile(join(fs, 'custom-stat'), 'utf8')).trim(), '440 1000 1001');
      assert.equal((await readFile(join(fs, 'api-md5'), 'utf8')).trim(), md5(envValue));
      assert.equal((await readFile(join(fs, 'api-file'), 'utf8')).trim(), 'no-file', 'env= alone gives no file');
      assert.equal((await readFile(join(fs, 'absent'), 'utf8')).trim(), 'absent', 'a missing optional secret is simply not there');
      for (const p of ['/run/secrets', '/custom', '/run']) assert.equal(await existsIn(fs, p), false, `${p} is not in the image`);
    });
    for (const v of [value, envValue]) {
      const needle = Buffer.from(v);
      assert.equal(await layerTarsContain(env.root, result.tags[0]!, needle), false, 'no layer tar holds the secret');
      const image = await readStoredImage(env.root, result.tags[0]!);
      assert.ok(!JSON.stringify(image.config).includes(v), 'not in the image config or history');
      assert.deepEqual(await filesContaining(env.root, needle), [], 'no file in the store (blobs, layers, cache records) holds the secret');
      assert.ok(!JSON.stringify(events).includes(v), 'not in the build events (progress output)');
    }
    const history = (await readStoredImage(env.root, result.tags[0]!)).config.history ?? [];
    assert.ok(history.some((h) => h.created_by === 'RUN /bin/sh -c md5sum /run/secrets/tok | cut -d" " -f1 > /tok-md5 && stat -c "%a %u %g" /run/secrets/tok > /tok-stat # buildkit'),
      `history records the command without the mount flags, as BuildKit: ${history.map((h) => h.created_by).join('\n')}`);
    // The detectors work: the secret file itself is found, and a step that copies the secret into the image is caught.
    assert.deepEqual(await filesContaining(dirname(secretFile), Buffer.from(value)), [secretFile]);
    const leakyRoot = await mkdtemp(join(tmpdir(), 'stagecraft-leaky-store-'));
    env.scratch.push(leakyRoot);
    const leaky = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest\nRUN --mount=type=secret,id=tok cp /run/secrets/tok /leaked\n' });
    const leak = await buildWithEvents({ context: leaky, tags: ['leaky:1'], root: leakyRoot, secrets });
    assert.equal(await layerTarsContain(leakyRoot, leak.result.tags[0]!, Buffer.from(value)), true, 'a leak would be detected');
    const shmAfter = (await readdir('/dev/shm').catch(() => [])).filter((n) => !shmBefore.has(n) && n.startsWith('stagecraft-secrets-'));
    assert.deepEqual(shmAfter, [], 'secret files are removed after the build');
    tally.pass();
  });

  it('secret in the cache key: a new secret value does not invalidate the step (as BuildKit), and the rebuild holds no trace of either value', async () => {
    const context = await contextWith(env, { Dockerfile: dockerfile });
    const other = `sc-other-${randomBytes(16).toString('hex')}`;
    const file = join(await mkdtemp(join(tmpdir(), 'stagecraft-secret-src2-')), 'token');
    env.scratch.push(join(file, '..'));
    await writeFile(file, other);
    const secrets = [parseSecretFlag(`id=tok,src=${file}`), parseSecretFlag('id=api,env=SC_TEST_API_KEY')];
    const { events } = await buildWithEvents({ context, tags: ['secrets:2'], root: env.root, secrets });
    assert.ok(steps(events).filter((s) => s.name.startsWith('RUN')).every((s) => s.cached), 'all RUN steps cached');
    assert.deepEqual(await filesContaining(env.root, Buffer.from(other)), []);
    tally.pass();
  });

  it('secret in an error message: a failing step with a secret env prints no value; a required secret that is missing fails with its id', async () => {
    const failing = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest\nRUN --mount=type=secret,id=api,env=API_KEY echo "failing now" && false\n' });
    const f = await buildFailure({ context: failing, root: env.root, secrets: [parseSecretFlag('id=api,env=SC_TEST_API_KEY')] });
    const err = f.error as Error & { details?: string[]; hint?: string };
    const shown = [err.message, ...(err.details ?? []), err.hint ?? '', JSON.stringify(f.events)].join('\n');
    assert.match(err.message, /exited with code 1/);
    assert.ok(shown.includes('failing now'), 'the output tail is there');
    assert.ok(!shown.includes(envValue), 'the value is not');
    const required = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest\nRUN --mount=type=secret,id=needed,required=true true\n' });
    const r = await buildFailure({ context: required, root: env.root });
    assert.match((r.error as Error).message, /secret needed not found/);
    assert.equal((r.error as { location?: { startLine: number } }).location?.startLine, 2);
    tally.pass();
  });

  it('ssh mounts: SSH_AUTH_SOCK points at a socket at the default path (or target, with uid/mode); a key file works through a private agent; a required agent that is missing fails', async (t) => {
    if (spawnSync('ssh-agent', ['-h']).error) {
      t.skip('ssh-agent is not installed (apt-get install openssh-client)');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-ssh-'));
    env.scratch.push(dir);
    const sock = join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !(await lstat(sock).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 100));
      const context = await contextWith(env, {
        Dockerfile: [
          'FROM @REGISTRY@/busybox:latest',
          'RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /ssh-path && stat -c "%a %u" "$SSH_AUTH_SOCK" > /ssh-stat',
          'RUN --mount=type=ssh,target=/tmp/agent.sock,uid=1000,mode=0666 stat -c "%a %u %F" /tmp/agent.sock > /ssh-target && echo "$SSH_AUTH_SOCK" > /ssh-env',
        ].join('\n'),
      });
      const { result } = await buildWithEvents({ context, tags: ['ssh:1'], root: env.root, ssh: [parseSshFlag(`default=${sock}`)] });
      await withRootfs(env.root, result.tags[0]!, async (fs) => {
        assert.equal((await readFile(join(fs, 'ssh-path'), 'utf8')).trim(), '/run/buildkit/ssh_agent.0');
        assert.equal((await readFile(join(fs, 'ssh-stat'), 'utf8')).trim(), '600 0');
        assert.equal((await readFile(join(fs, 'ssh-target'), 'utf8')).trim(), '666 1000 socket');
        assert.equal((await readFile(join(fs, 'ssh-env'), 'utf8')).trim(), '/tmp/agent.sock');
        assert.equal(await existsIn(fs, '/run/buildkit'), false);
        assert.equal(await existsIn(fs, '/tmp/agent.sock'), false);
      });
      // A key file instead of an agent: a private agent for the step holds it.
      const key = join(dir, 'id_ed25519');
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      const keyed = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo key-agent > /k\n' });
      const k = await buildWithEvents({ context: keyed, tags: ['ssh:key'], root: env.root, ssh: [parseSshFlag(`default=${key}`)] });
      await withRootfs(env.root, k.result.tags[0]!, async (fs) => {
        assert.equal((await readFile(join(fs, 'k'), 'utf8')).trim(), 'key-agent');
      });
      assert.deepEqual(await filesContaining(env.root, await readFile(key)), [], 'the private key is in no file of the store');
      const needs = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest\nRUN --mount=type=ssh,id=deploy,required=true true\n' });
      const f = await buildFailure({ context: needs, root: env.root, ssh: [parseSshFlag(`default=${sock}`)] });
      assert.match((f.error as Error).message, /no SSH agent deploy/);
    } finally {
      agent.kill();
    }
    tally.pass();
  });
});
