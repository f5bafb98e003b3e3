/**
 * Built images leave the store as archives that other tools accept:
 * `save --format docker` loads with skopeo and with a real dockerd (Debian's
 * docker.io, started privately for this file); `save --format oci` passes the
 * OCI image-spec JSON schemas, its blobs match their digests, and umoci
 * unpacks it into a root filesystem that runs; podman loads both formats.
 * Needs root, runc, docker-registry, skopeo, umoci, podman and docker.io.
 */
import { runCommand as tool } from '../support/exec.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { runCli } from '../support/cli.js';
import { dockerdSkipReason, startDockerd, type RunningDockerd } from '../support/dockerd.js';
import { loadTestVectors, OciSchemaValidator } from '../support/oci-schema.js';
import { corpusMissing } from '../support/conformance.js';
import { readStoredImage, runImage, type StoredImage } from '../support/oci-run.js';
import { buildSkipReason, buildWithEvents, fixture, openBuildEnv, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build archives', 6);
const EXPECTED_OUTPUT = 'A=overridden B=2 C=3\n/srv/app\n1000\n1000\nhi\nbuilt\n';


async function sha256OfStream(stream: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk);
  return `sha256:${h.digest('hex')}`;
}

/** A config with its `created` times as numbers: Go re-serialises them without trailing zeros (.840Z -> .84Z). */
function withTimesParsed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withTimesParsed);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'created' && typeof x === 'string' ? Date.parse(x) : withTimesParsed(x)]));
  }
  return v;
}

/** sha256 of a layer blob's uncompressed tar (gzip, zstd or none, by media type). */
async function diffIdOf(path: string, mediaType: string): Promise<string> {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return sha256OfStream(createReadStream(path).pipe(createGunzip()));
  if (mediaType.endsWith('+zstd')) {
    const child = spawn('zstd', ['-dc', path], { stdio: ['ignore', 'pipe', 'inherit'] });
    return sha256OfStream(child.stdout);
  }
  return sha256OfStream(createReadStream(path));
}

describe('saved archives', { skip }, () => {
  let env: BuildEnv;
  let image: StoredImage;
  let assets: StoredImage;
  let work: string;

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    work = await mkdtemp(join(tmpdir(), 'stagecraft-archives-'));
    env.scratch.push(work);
    const opts = { context: fixture('config'), buildArgs: { REGISTRY: env.host }, root: env.root };
    const main = await buildWithEvents({ ...opts, tags: ['archive-demo:1', '127.0.0.1:5999/team/archive-demo:v2'] });
    image = await readStoredImage(env.root, main.result.tags[0]!);
    const a = await buildWithEvents({ ...opts, target: 'assets', tags: ['archive-assets:1'] });
    assets = await readStoredImage(env.root, a.result.tags[0]!);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('save --format docker: skopeo reads the same config and copies the image out', async () => {
    const file = join(work, 'docker-skopeo.tar');
    const saved = await runCli(['save', '--format', 'docker', '-o', file, 'archive-demo:1'], { root: env.root });
    assert.equal(saved.code, 0, saved.stderr);
    const raw = await tool('skopeo', ['inspect', '--raw', '--config', `docker-archive:${file}`]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, image.configDigest, 'byte-identical config');
    const info = JSON.parse((await tool('skopeo', ['inspect', `docker-archive:${file}`])).stdout) as { Layers: string[]; Env: string[]; Labels: Record<string, string> };
    assert.deepEqual(info.Env, image.config.config?.Env);
    assert.deepEqual(info.Labels, image.config.config?.Labels);
    // A full copy makes skopeo read every layer and check it against the config's diff_ids.
    const out = join(work, 'skopeo-oci');
    const copy = await tool('skopeo', ['copy', '--quiet', `docker-archive:${file}`, `oci:${out}:copied`]);
    assert.equal(copy.code, 0, copy.stderr);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(await readFile(join(out, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: unknown[] };
    // skopeo re-serialises the config when it converts to OCI: same content, other bytes.
    const copiedConfig = JSON.parse(await readFile(join(out, 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8')) as unknown;
    assert.deepEqual(withTimesParsed(copiedConfig), withTimesParsed(image.config));
    assert.equal(manifest.layers.length, image.config.rootfs.diff_ids.length);
    tally.pass();
  });

  it('save --format docker: docker load takes three tags of two images at once; docker image inspect shows their config and docker run runs it', { skip: dockerdSkipReason() }, async () => {
    const file = join(work, 'docker-load.tar');
    const saved = await runCli(['save', '-o', file, 'archive-demo:1', '127.0.0.1:5999/team/archive-demo:v2', 'archive-assets:1'], { root: env.root });
    assert.equal(saved.code, 0, saved.stderr);
    let dockerd: RunningDockerd | undefined;
    try {
      dockerd = await startDockerd();
      const load = await dockerd.docker(['load', '-i', file]);
      assert.equal(load.code, 0, load.stderr);
      for (const t of ['archive-demo:1', '127.0.0.1:5999/team/archive-demo:v2', 'archive-assets:1']) assert.match(load.stdout, new RegExp(`Loaded image: ${t.replace(/[.]/g, '\\.')}`));
      const inspect = await dockerd.docker(['image', 'inspect', 'archive-demo:1', '127.0.0.1:5999/team/archive-demo:v2', 'archive-assets:1']);
      assert.equal(inspect.code, 0, inspect.stderr);
      const [demo, demo2, asset] = JSON.parse(inspect.stdout) as Array<{
        Id: string; RepoTags: string[]; Os: string; Architecture: string;
        Config: { Env: string[]; Cmd: string[]; Entrypoint: string[]; WorkingDir: string; User: string; ExposedPorts: Record<string, object>; Labels: Record<string, string> };
        RootFS: { Layers: string[] };
      }>;
      assert.equal(demo!.Id, image.configDigest, 'docker image id = config digest');
      assert.equal(demo2!.Id, image.configDigest);
      assert.deepEqual([...demo!.RepoTags].sort(), ['127.0.0.1:5999/team/archive-demo:v2', 'archive-demo:1']);
      const c = image.config.config!;
      assert.deepEqual(demo!.Config.Env, c.Env);
      assert.deepEqual(demo!.Config.Cmd, c.Cmd);
      assert.deepEqual(demo!.Config.Entrypoint, c.Entrypoint);
      assert.equal(demo!.Config.WorkingDir, '/srv/app');
      assert.equal(demo!.Config.User, '1000:1000');
      assert.deepEqual(demo!.Config.ExposedPorts, { '7070/tcp': {}, '8080/tcp': {}, '9090/udp': {} });
      assert.deepEqual(demo!.Config.Labels, { 'org.example.title': 'demo', 'org.example.version': '1.0' });
      assert.deepEqual(demo!.RootFS.Layers, image.config.rootfs.diff_ids);
      assert.equal(demo!.Os, 'linux');
      assert.equal(asset!.Id, assets.configDigest);
      assert.deepEqual(asset!.Config.Labels, { 'stage.only': 'assets', 'org.example.title': 'from-assets' });
      const history = await dockerd.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'archive-demo:1']);
      assert.equal(history.code, 0, history.stderr);
      assert.equal(history.stdout.trim().split('\n').length, image.config.history!.length);
      assert.ok(history.stdout.includes('EXPOSE [8080/tcp 9090/udp]'));
      // And Docker runs it, with the config we wrote.
      const run = await dockerd.docker(['run', '--rm', '--network', 'none', 'archive-demo:1']);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, EXPECTED_OUTPUT);
    } finally {
      await dockerd?.stop();
    }
    tally.pass();
  });

  it('save --format oci: oci-layout, index, manifests and configs pass the OCI JSON schemas; every blob matches its digest and size; layers match the diff_ids', { skip: corpusMissing('oci-image-spec', 'schema') }, async () => {
    const file = join(work, 'oci.tar');
    const saved = await runCli(['save', '--format', 'oci', '-o', file, 'archive-demo:1', 'archive-assets:1'], { root: env.root });
    assert.equal(saved.code, 0, saved.stderr);
    const dir = join(work, 'oci');
    await mkdir(dir);
    const x = await tool('tar', ['-xf', file, '-C', dir]);
    assert.equal(x.code, 0, x.stderr);
    const v = new OciSchemaValidator(loadTestVectors());
    const check = (text: string, mediaType: string, what: string): void => {
      const r = v.validate(text, mediaType);
      assert.ok(r.ok, `${what}: ${r.ok ? '' : r.error}`);
    };
    check(await readFile(join(dir, 'oci-layout'), 'utf8'), 'application/vnd.oci.layout.header.v1+json', 'oci-layout');
    const indexText = await readFile(join(dir, 'index.json'), 'utf8');
    check(indexText, 'application/vnd.oci.image.index.v1+json', 'index.json');
    const index = JSON.parse(indexText) as { manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }> };
    assert.equal(index.manifests.length, 2);
    const blob = (d: string): string => join(dir, 'blobs', 'sha256', d.slice(7));
    const verify = async (d: { digest: string; size: number }, what: string): Promise<void> => {
      assert.equal((await stat(blob(d.digest))).size, d.size, `${what} size`);
      assert.equal(await sha256OfStream(createReadStream(blob(d.digest))), d.digest, `${what} digest`);
    };
    const configs: string[] = [];
    let checkedLayers = 0;
    for (const m of index.manifests) {
      await verify(m, `manifest ${m.digest}`);
      const text = await readFile(blob(m.digest), 'utf8');
      check(text, m.mediaType, `manifest ${m.digest}`);
      const manifest = JSON.parse(text) as { config: { mediaType: string; digest: string; size: number }; layers: Array<{ mediaType: string; digest: string; size: number }> };
      await verify(manifest.config, 'config');
      const configText = await readFile(blob(manifest.config.digest), 'utf8');
      check(configText, manifest.config.mediaType, `config ${manifest.config.digest}`);
      configs.push(manifest.config.digest);
      const diffIds = (JSON.parse(configText) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
      assert.equal(manifest.layers.length, diffIds.length);
      for (const [i, l] of manifest.layers.entries()) {
        check(JSON.stringify(l), 'application/vnd.oci.descriptor.v1+json', `layer descriptor ${i}`);
        await verify(l, `layer ${l.digest}`);
        assert.equal(await diffIdOf(blob(l.digest), l.mediaType), diffIds[i], `layer ${i} uncompresses to its diff_id`);
        checkedLayers++;
      }
    }
    assert.deepEqual(configs.sort(), [image.configDigest, assets.configDigest].sort());
    // Two images of 4 and 2 layers; the busybox layer is shared but described in both manifests.
    assert.equal(checkedLayers, image.config.rootfs.diff_ids.length + assets.config.rootfs.diff_ids.length);
    tally.pass();
  });

  it('podman load takes the docker and the OCI archive: same image ID (config digest), config and layers', async () => {
    const storage = join(work, 'podman');
    const podman = (args: string[]): ReturnType<typeof tool> =>
      tool('podman', ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs', ...args]);
    const dockerFile = join(work, 'podman-docker.tar');
    const ociFile = join(work, 'podman-oci.tar');
    for (const [file, format] of [[dockerFile, 'docker'], [ociFile, 'oci']] as const) {
      const saved = await runCli(['save', '--format', format, '-o', file, 'archive-demo:1'], { root: env.root });
      assert.equal(saved.code, 0, saved.stderr);
      const load = await podman(['load', '-i', file]);
      assert.equal(load.code, 0, `podman load (${format}): ${load.stderr}`);
      assert.match(load.stdout, /Loaded image: \S*archive-demo:1/);
    }
    const inspect = await podman(['image', 'inspect', 'docker.io/library/archive-demo:1', 'localhost/archive-demo:1']);
    assert.equal(inspect.code, 0, inspect.stderr);
    const loaded = JSON.parse(inspect.stdout) as Array<{ Id: string; Config: { Env: string[]; Cmd: string[]; WorkingDir: string; User: string; Labels: Record<string, string> }; RootFS: { Layers: string[] } }>;
    assert.equal(loaded.length, 2);
    const c = image.config.config!;
    for (const l of loaded) {
      assert.equal(`sha256:${l.Id}`, image.configDigest, 'podman image id = config digest');
      assert.deepEqual(l.Config.Env, c.Env);
      assert.deepEqual(l.Config.Cmd, c.Cmd);
      assert.equal(l.Config.WorkingDir, '/srv/app');
      assert.equal(l.Config.User, '1000:1000');
      assert.deepEqual(l.Config.Labels, { 'org.example.title': 'demo', 'org.example.version': '1.0' });
      assert.deepEqual(l.RootFS.Layers, image.config.rootfs.diff_ids);
    }
    tally.pass();
  });

  it('save where it cannot write (no such directory, a directory, a full disk): exit 1, an error naming the file, nothing left, an existing archive kept', async () => {
    const full = join(work, 'full');
    await mkdir(full);
    const mount = await tool('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
    assert.equal(mount.code, 0, mount.stderr);
    try {
      await writeFile(join(full, 'kept.tar'), 'an earlier archive\n');
      await mkdir(join(work, 'a-directory.tar'));
      const cases: Array<[string, string]> = [
        [join(work, 'no-such-dir', 'x.tar'), 'ENOENT'],
        [join(work, 'a-directory.tar'), 'EISDIR'],
        [join(full, 'kept.tar'), 'ENOSPC'],
      ];
      for (const [file, code] of cases) {
        const saved = await runCli(['save', '-o', file, 'archive-demo:1'], { root: env.root });
        assert.equal(saved.code, 1, `${code}: ${saved.stderr}`);
        assert.equal(saved.stderr.trim(), `error: cannot write ${file}: ${code} (check that its directory exists and is writable and that the disk has room; nothing was written)`);
      }
      assert.equal(await readFile(join(full, 'kept.tar'), 'utf8'), 'an earlier archive\n', 'the archive already there is untouched');
      assert.deepEqual(await readdir(full), ['kept.tar'], 'no partial file on the full disk');
      assert.deepEqual((await readdir(work)).filter((n) => n.includes('partial')), []);
    } finally {
      await tool('umount', [full]);
    }
    tally.pass();
  });

  it('save --format oci: umoci unpacks it and the image runs', async () => {
    const run = await runImage(env.root, 'docker.io/library/archive-demo:1', { via: 'umoci' });
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout, EXPECTED_OUTPUT);
    tally.pass();
  });
});
