/**
 * Credentials from a docker CLI config.json: auths entries, credHelpers and
 * credsStore helpers (a real executable on PATH speaking the helper protocol).
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StagecraftError } from '../../src/errors.js';
import { dockerConfigCredentials, normalizeRegistryKey } from '../../src/registry/docker-config.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('dockerConfigCredentials', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let passed = 0;
  const total = 7;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-dockercfg-'));
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const helper = join(bin, 'docker-credential-sctest');
    await writeFile(helper, [
      '#!/bin/sh',
      'read -r server',
      'case "$server" in',
      '  helper.example:5000) printf \'{"ServerURL":"%s","Username":"hu","Secret":"hs"}\' "$server" ;;',
      '  https://index.docker.io/v1/) printf \'{"ServerURL":"%s","Username":"hub","Secret":"hubsecret"}\' "$server" ;;',
      '  idtoken.example) printf \'{"ServerURL":"%s","Username":"<token>","Secret":"refresh"}\' "$server" ;;',
      '  *) echo "credentials not found in native keychain"; exit 1 ;;',
      'esac',
      '',
    ].join('\n'));
    await chmod(helper, 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    console.log(`docker config credentials: ${passed}/${total} passed`);
  });

  const config = async (name: string, value: unknown): Promise<string> => {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'config.json'), typeof value === 'string' ? value : JSON.stringify(value));
    return d;
  };

  it('normalizes config keys to registry names', () => {
    assert.equal(normalizeRegistryKey('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeRegistryKey('registry-1.docker.io'), 'docker.io');
    assert.equal(normalizeRegistryKey('http://MyReg:5000/v2/'), 'myreg:5000');
    assert.equal(normalizeRegistryKey('127.0.0.1:5000'), '127.0.0.1:5000');
    passed++;
  });

  it('reads auths entries (auth field and username/password)', async () => {
    const d = await config('auths', { auths: {
      'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
      '127.0.0.1:5000': { username: 'u', password: 'p' },
    } });
    const creds = dockerConfigCredentials({ configDir: d, env });
    assert.deepEqual(await creds('docker.io'), { username: 'hubuser', password: 'hub:pass' });
    assert.deepEqual(await creds('registry-1.docker.io'), { username: 'hubuser', password: 'hub:pass' });
    assert.deepEqual(await creds('127.0.0.1:5000'), { username: 'u', password: 'p' });
    assert.equal(await creds('other.example'), undefined);
    passed++;
  });

  it('asks per-registry credHelpers, then falls back to auths', async () => {
    const d = await config('helpers', {
      credHelpers: { 'helper.example:5000': 'sctest', 'missing.example': 'sctest' },
      auths: { 'missing.example': { auth: b64('fallback:pw') } },
    });
    const creds = dockerConfigCredentials({ configDir: d, env });
    assert.deepEqual(await creds('helper.example:5000'), { username: 'hu', password: 'hs' });
    assert.deepEqual(await creds('missing.example'), { username: 'fallback', password: 'pw' });
    passed++;
  });

  it('uses credsStore for every registry, asking for Docker Hub by its v1 URL', async () => {
    const d = await config('store', { credsStore: 'sctest' });
    const creds = dockerConfigCredentials({ configDir: d, env });
    assert.deepEqual(await creds('docker.io'), { username: 'hub', password: 'hubsecret' });
    assert.equal(await creds('nowhere.example'), undefined);
    assert.deepEqual(await creds('idtoken.example'), { username: '', password: '', identityToken: 'refresh' }, 'a <token> answer is an identity (refresh) token');
    passed++;
  });

  it('says which helper is missing', async () => {
    const d = await config('nohelper', { credsStore: 'does-not-exist' });
    await assert.rejects(Promise.resolve(dockerConfigCredentials({ configDir: d, env })('docker.io')), (e: unknown) => {
      assert.ok(e instanceof StagecraftError);
      assert.equal(e.message, 'credential helper docker-credential-does-not-exist could not be started: ENOENT');
      return true;
    });
    passed++;
  });

  it('treats a missing config as anonymous', async () => {
    assert.equal(await dockerConfigCredentials({ configDir: join(dir, 'absent'), env })('docker.io'), undefined);
    passed++;
  });

  it('reports a broken config.json without quoting its content', async () => {
    const d = await config('broken', '{"auths": {"x": {"auth": "c2VjcmV0LXZhbHVl"}} oops');
    await assert.rejects(Promise.resolve(dockerConfigCredentials({ configDir: d, env })('x')), (e: unknown) => {
      assert.ok(e instanceof StagecraftError);
      assert.equal(e.message, `${join(d, 'config.json')} is not valid JSON`);
      assert.ok(!String(e.stack).includes('c2VjcmV0'));
      return true;
    });
    passed++;
  });
});
