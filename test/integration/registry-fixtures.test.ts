/**
 * The test fixtures themselves: a real registry on loopback, and a base image
 * pushed to it by skopeo, checked through the registry's HTTP API.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { debianMirror, hostPlatform, mirrorFromAptSources, pushBaseImages } from '../support/base-images.js';
import { repoRoot } from '../support/conformance.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

function runBuilder(cache: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/make-base-images.ts', 'busybox:latest'], {
      cwd: repoRoot, env: { ...process.env, STAGECRAFT_TEST_CACHE: cache }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Names of the entries in an uncompressed tar (ustar/gnu headers, enough for a check). */
function tarNames(tar: Buffer): string[] {
  const names: string[] = [];
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const field = (a: number, n: number): string => h.subarray(a, a + n).toString('utf8').replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(h[156]!);
    const prefix = field(345, 155);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
    else if (type !== 'x' && type !== 'g') {
      names.push(longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100)));
      longName = undefined;
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

describe('registry fixtures', () => {
  let reg: RunningRegistry;
  let refs: Record<string, string>;
  let checks = 0;

  before(async () => {
    reg = await startRegistry();
    refs = await pushBaseImages(reg.host, ['busybox:latest']);
  });
  after(async () => {
    await reg?.stop();
    console.log(`registry fixture checks: ${checks}/6 passed`);
  });

  it('serves the distribution API on 127.0.0.1', async () => {
    assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
    const res = await fetch(`${reg.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    const catalog = (await (await fetch(`${reg.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['busybox']);
    checks++;
  });

  it('holds the skopeo-pushed busybox manifest, config and layer with matching digests', async () => {
    assert.equal(refs['busybox:latest'], `${reg.host}/busybox:latest`);
    const mres = await fetch(`${reg.url}/v2/busybox/manifests/latest`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(mres.status, 200);
    const raw = Buffer.from(await mres.arrayBuffer());
    assert.equal(mres.headers.get('docker-content-digest'), sha256(raw));
    const manifest = JSON.parse(raw.toString('utf8')) as {
      mediaType?: string; config: { digest: string; size: number }; layers: { digest: string; size: number }[];
    };
    assert.equal(manifest.layers.length, 1);

    const cres = await fetch(`${reg.url}/v2/busybox/blobs/${manifest.config.digest}`);
    const rawConfig = Buffer.from(await cres.arrayBuffer());
    assert.equal(sha256(rawConfig), manifest.config.digest);
    const config = JSON.parse(rawConfig.toString('utf8')) as {
      os: string; architecture: string; config: { Cmd: string[]; Env: string[] }; rootfs: { diff_ids: string[] };
    };
    assert.equal(config.os, 'linux');
    assert.equal(config.architecture, hostPlatform().architecture);
    assert.deepEqual(config.config.Cmd, ['sh']);
    assert.ok(config.config.Env.includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));

    const layer = manifest.layers[0]!;
    const lres = await fetch(`${reg.url}/v2/busybox/blobs/${layer.digest}`);
    const gz = Buffer.from(await lres.arrayBuffer());
    assert.equal(gz.length, layer.size);
    assert.equal(sha256(gz), layer.digest);
    const tar = gunzipSync(gz);
    assert.equal(sha256(tar), config.rootfs.diff_ids[0]);
    const names = tarNames(tar);
    for (const want of ['bin/busybox', 'bin/sh', 'bin/ls', 'etc/passwd', 'etc/group', 'tmp/']) {
      assert.ok(names.includes(want), `layer lacks ${want}`);
    }
    checks++;
  });

  it('is readable by skopeo inspect (an independent client)', () => {
    const r = spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/busybox:latest`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { Architecture: string; Os: string; Layers: string[] };
    assert.equal(info.Os, 'linux');
    assert.equal(info.Architecture, hostPlatform().architecture);
    assert.equal(info.Layers.length, 1);
    checks++;
  });

  it('builds a base image once when several processes ask at the same time, and reuses the cache', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'stagecraft-cache-'));
    try {
      // What an interrupted build leaves: a temp dir named after a dead pid.
      let deadPid = 999_999;
      while ((() => { try { process.kill(deadPid, 0); return true; } catch { return false; } })()) deadPid++;
      await mkdir(join(cache, 'base-images', `busybox-latest-v1.tmp-${deadPid}`, 'rootfs'), { recursive: true });
      const runs = await Promise.all([runBuilder(cache), runBuilder(cache), runBuilder(cache)]);
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      const built = runs.filter((r) => /\] built busybox:latest in [\d.]+ s/.test(r.stderr));
      assert.equal(built.length, 1, runs.map((r) => r.stderr).join('\n---\n'));
      const dir = join(cache, 'base-images');
      assert.deepEqual(readdirSync(dir).sort(), ['busybox-latest-v1'], 'no temp dirs or lock left behind');
      assert.ok(existsSync(join(dir, 'busybox-latest-v1', 'index.json')));
      const again = await runBuilder(cache);
      assert.equal(again.code, 0);
      assert.doesNotMatch(again.stderr, /building/);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
    checks++;
  });

  it('leaves no registry process behind when the test process exits or is killed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-leak-'));
    const alive = (pid: number): boolean => {
      try { process.kill(pid, 0); return true; } catch { return false; }
    };
    try {
      for (const ending of ['exit', 'SIGKILL'] as const) {
        const script = join(dir, `child-${ending}.mts`);
        await writeFile(script, [
          `import { startRegistry } from ${JSON.stringify(join(repoRoot, 'test/support/registry.ts'))};`,
          'const r = await startRegistry();',
          'console.log(r.pid);',
          ending === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);',
        ].join('\n'));
        const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
        const exited = new Promise((r) => child.once('exit', r));
        const pid = await new Promise<number>((resolve, reject) => {
          child.stdout.setEncoding('utf8').once('data', (s: string) => resolve(Number.parseInt(s, 10)));
          child.once('exit', (code) => reject(new Error(`child exited (${code}) before starting a registry`)));
        });
        assert.ok(pid > 0);
        if (ending === 'SIGKILL') {
          assert.ok(alive(pid), 'the registry runs while its parent does');
          child.kill('SIGKILL');
        }
        await exited;
        const deadline = Date.now() + 5000;
        while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.equal(alive(pid), false, `registry pid ${pid} outlived its parent (${ending})`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    checks++;
  });

  it('reads the Debian mirror from apt configuration, never a built-in host', () => {
    const deb822 = [
      'Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main',
      'Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n' +
        '# comment\nTypes: deb\nURIs: http://mirror.example/debian http://second.example/debian\nSuites: bookworm bookworm-updates\nComponents: main',
    ];
    assert.equal(mirrorFromAptSources(deb822), 'http://mirror.example/debian');
    assert.equal(mirrorFromAptSources([], '# x\ndeb [arch=amd64] http://list.example/debian bookworm main\n'), 'http://list.example/debian');
    assert.equal(mirrorFromAptSources([], 'deb http://old.example/debian bullseye main'), undefined);
    assert.match(debianMirror(), /^https?:\/\//);
    checks++;
  });
});
