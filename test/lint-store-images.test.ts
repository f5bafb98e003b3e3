/**
 * `stagecraft lint` with base images in a real local store: the image
 * config's Env, Shell and platform, and /etc/os-release from its unpacked
 * layer, reach the checks. The images are OCI layouts written here, loaded
 * with the archive loader into a store in a temp dir.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { Store } from '../src/store/index.js';
import { loadArchive } from '../src/archive/index.js';
import { osReleaseId } from '../src/cli/lint-images.js';
import { runCli } from './support/cli.js';

async function layerTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function sha(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** An OCI image layout with one image: one layer, the given config. */
async function writeLayout(dir: string, ref: string, files: Record<string, string>, config: Record<string, unknown>): Promise<void> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer | string): { digest: string; size: number } => {
    const digest = sha(b);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), b);
    return { digest, size: Buffer.byteLength(b) };
  };
  const layer = await layerTar(files);
  const l = put(layer);
  const cfg = put(JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: [l.digest] }, history: [{ created_by: 'test' }] }));
  const manifest = put(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }],
  }));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } }],
  }));
}

let dir = '';
let passed = 0;

describe('lint with base images from the local store', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sc-lint-store-'));
    const root = join(dir, 'store');
    const store = await Store.open(root);
    await writeLayout(join(dir, 'musl'), 'localtest/muslpy:1', { 'etc/os-release': 'NAME="Alpine Linux"\nID=alpine\n' }, {
      os: 'linux', architecture: 's390x',
      config: { Env: ['PATH=/usr/bin:/bin', 'PYTHON_VERSION=3.12.1'], Shell: ['/bin/ash', '-c'] },
    });
    await writeLayout(join(dir, 'glibc'), 'localtest/deb:1', { 'usr/lib/os-release': 'ID=debian\nVERSION_ID="12"\n' }, {
      os: 'linux', architecture: 's390x', config: { Env: ['PATH=/usr/bin:/bin'] },
    });
    await loadArchive(store, join(dir, 'musl'));
    await loadArchive(store, join(dir, 'glibc'));
    writeFileSync(join(dir, 'Dockerfile'), [
      'FROM localtest/muslpy:1 AS build',
      'ENV V=$PYTHON_VERSION',
      'CMD run me',
      'FROM localtest/deb:1',
      'COPY --from=build /out/app /app',
      'COPY $PYTHON_VERSION /x',
      '',
    ].join('\n'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('uses Env, Shell, platform and os-release of stored images', async () => {
    const r = await runCli(['lint', dir, '--format', 'json'], { root: join(dir, 'store') });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { warnings: Array<{ rule: string; detail: string; location: { startLine: number } }> };
    const got = out.warnings.map((w) => `${w.location.startLine} ${w.rule}`);
    // PYTHON_VERSION comes from the musl image's Env (no UndefinedVar on line 2) but not the Debian one's (line 6);
    // its Shell silences JSONArgsRecommended; both images are s390x; os-release says musl -> glibc.
    assert.deepEqual(got, [
      '1 InvalidBaseImagePlatform',
      '4 InvalidBaseImagePlatform',
      '5 StagecraftLibcMismatch',
      '6 UndefinedVar',
    ].filter((l) => !(process.arch === 's390x' && l.endsWith('InvalidBaseImagePlatform'))));
    const libc = out.warnings.find((w) => w.rule === 'StagecraftLibcMismatch')!;
    assert.match(libc.detail, /\(musl, localtest\/muslpy:1\) into stage '1' \(glibc, localtest\/deb:1\)/);
    passed++;
  });

  it('without a store the same Dockerfile only knows names', async () => {
    const r = await runCli(['lint', dir, '--format', 'json'], { root: join(dir, 'no-store') });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { warnings: Array<{ rule: string; location: { startLine: number } }> };
    assert.deepEqual(out.warnings.map((w) => `${w.location.startLine} ${w.rule}`), [
      '2 UndefinedVar', '3 JSONArgsRecommended', '6 UndefinedVar',
    ]);
    passed++;
  });

  it('os-release ID parsing', () => {
    assert.equal(osReleaseId('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n'), 'alpine');
    assert.equal(osReleaseId('ID="ubuntu"\n'), 'ubuntu');
    assert.equal(osReleaseId('NAME=x\n'), undefined);
    passed++;
  });

  it('summary', () => {
    console.log(`lint with store images: ${passed}/3 passed`);
    assert.equal(passed, 3);
  });
});
