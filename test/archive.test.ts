import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadArchive, loadArchiveImage, saveDockerArchive, saveOciArchive } from '../src/archive/index.js';
import { StagecraftError } from '../src/errors.js';
import { MediaType, sha256 } from '../src/oci/index.js';
import { Store } from '../src/store/index.js';
import { tarChunks, type TarWriteEntry } from '../src/tar/index.js';
import { conformancePath, corpusMissing } from './support/conformance.js';
import { loadTestVectors, OciSchemaValidator } from './support/oci-schema.js';

const newStore = async (): Promise<Store> => Store.open(join(mkdtempSync(join(tmpdir(), 'sc-archive-')), 'root'));
const tarball = (name: string): string => conformancePath('image-archives', 'go-containerregistry', 'pkg', 'v1', 'tarball', 'testdata', name);
const layoutDir = (name: string): string => conformancePath('image-archives', 'go-containerregistry', 'pkg', 'v1', 'layout', 'testdata', name);
const skip = corpusMissing('image-archives', 'go-containerregistry');

describe('loading archives (go-containerregistry testdata)', { skip }, () => {
  let passed = 0;
  const TOTAL = 12;
  const done = (): void => { if (++passed === TOTAL) console.log(`archive load testdata: ${passed}/${TOTAL} passed`); };

  for (const name of ['test_image_1.tar', 'test_image_2.tar']) {
    it(`${name} (docker-save v1.2) loads with 1 layer and 1 history entry`, async () => {
      const store = await newStore();
      const [img] = await loadArchive(store, tarball(name));
      assert.ok(img);
      const r = await store.resolve(img.refs[0]!);
      assert.equal(r.manifest.layers.length, 1);
      assert.equal(r.config.history?.length, 1);
      assert.equal(await store.hasLayer(r.config.rootfs.diff_ids[0]!), true);
      assert.equal(r.configDigest, img.configDigest);
      done();
    });
  }

  it('test_bundle.tar loads one image by tag, in every spelling of the name', async () => {
    for (const ref of ['test_image_1', 'test_image_2:latest', 'index.docker.io/library/test_image_1:latest']) {
      const store = await newStore();
      const img = await loadArchiveImage(store, tarball('test_bundle.tar'), ref);
      assert.equal((await store.list()).length, 1, ref);
      assert.equal(img.refs.length, 1);
    }
    done();
  });

  it('test_bundle.tar does not load as a single image without a tag, and fails for an absent tag', async () => {
    await assert.rejects(loadArchiveImage(await newStore(), tarball('test_bundle.tar')), /holds 2 images/);
    await assert.rejects(loadArchive(await newStore(), tarball('test_bundle.tar'), { ref: 'test_image_3' }), /no image tagged/);
    assert.equal((await loadArchive(await newStore(), tarball('test_bundle.tar'))).length, 2, 'docker load semantics: all images');
    done();
  });

  it('null_manifest.tar and no_manifest.tar fail with an ARCHIVE error', async () => {
    await assert.rejects(loadArchive(await newStore(), tarball('null_manifest.tar')), (e) => e instanceof StagecraftError && e.code === 'ARCHIVE' && /null/.test(e.message));
    await assert.rejects(loadArchive(await newStore(), tarball('no_manifest.tar')), (e) => e instanceof StagecraftError && e.code === 'ARCHIVE' && /neither manifest.json nor index.json/.test(e.message));
    done();
  });

  it('hello-world-v25.tar (Docker ≥25 hybrid) loads', async () => {
    const store = await newStore();
    const [img] = await loadArchive(store, tarball('hello-world-v25.tar'));
    assert.ok(img);
    assert.deepEqual(img.refs, []);
    const r = await store.resolve(img.manifestDigest);
    assert.equal(r.config.rootfs.diff_ids.length, 1);
    assert.equal(await store.hasLayer(r.config.rootfs.diff_ids[0]!), true);
    done();
  });

  it('test_link.tar shares a layer between images through an in-archive symlink', async () => {
    const store = await newStore();
    const imgs = await loadArchive(store, tarball('test_link.tar'));
    assert.equal(imgs.length, 2);
    const three = await store.resolve('docker.io/bazel/v1/tarball:test_image_3');
    const one = await store.resolve('docker.io/bazel/v1/tarball:test_image_1');
    assert.equal(three.manifest.layers.length, 2);
    assert.ok(three.config.rootfs.diff_ids.includes(one.config.rootfs.diff_ids[0]!));
    done();
  });

  it('a gzip-compressed docker archive loads too', async () => {
    const store = await newStore();
    const gz = join(mkdtempSync(join(tmpdir(), 'sc-gz-')), 'img.tar.gz');
    execFileSync('sh', ['-c', `gzip -c < '${tarball('test_image_1.tar')}' > '${gz}'`]);
    assert.equal((await loadArchive(store, gz)).length, 1);
    done();
  });

  it('OCI layout directories load (test_index_one_image, test_index with nested indexes)', async () => {
    const one = await loadArchive(await newStore(), layoutDir('test_index_one_image'));
    assert.equal(one.length, 1);
    const store = await newStore();
    const many = await loadArchive(store, layoutDir('test_index'));
    assert.ok(many.length >= 1, `loaded ${many.length}`);
    for (const m of many) assert.equal((await store.resolve(m.manifestDigest)).manifestDigest, m.manifestDigest);
    done();
  });

  it('mutate testdata archives (gzip layers, config named sha256:..., whiteouts) all load', async () => {
    const dir = ['image-archives', 'go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata'];
    const table: Array<[string, string]> = [
      ['whiteout_dir.tar', 'localhost:5000/whiteout:latest'], ['whiteout_image.tar', 'docker.io/bazel/pkg/v1/mutate:whiteout_image'],
      ['overwritten_file.tar', 'docker.io/bazel/pkg/v1/mutate:overwritten_file'], ['source_image_with_empty_layer_history.tar', 'docker.io/bazel/pkg/v1/mutate:source_image'],
    ];
    for (const [name, ref] of table) {
      const store = await newStore();
      const [img] = await loadArchive(store, conformancePath(...dir, name));
      assert.deepEqual(img?.refs, [ref], name);
      const r = await store.resolve(ref);
      for (const d of r.config.rootfs.diff_ids) assert.equal(await store.hasLayer(d), true, `${name} ${d}`);
    }
    done();
  });

  it('OCI layouts holding only artifacts (a Helm chart, an unknown media type) load nothing and say so', async () => {
    await assert.rejects(loadArchive(await newStore(), layoutDir('test_index_media_type')), /no container images/);
    await assert.rejects(loadArchive(await newStore(), layoutDir('test_gc_image_unknown_mediatype')), /no container images/);
    done();
  });

  it('a docker archive whose layer does not match the config diffId is refused', async () => {
    const store = await newStore();
    const tar = await tarBytes([{ header: { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 0 }, body: Buffer.from('x') }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256('not this layer')] } }));
    const archive = await tarBytes([
      { header: { path: 'c.json', type: 'file', mode: 0o644, uid: 0, gid: 0, size: config.length, mtime: 0 }, body: config },
      { header: { path: 'l.tar', type: 'file', mode: 0o644, uid: 0, gid: 0, size: tar.length, mtime: 0 }, body: tar },
      jsonEntry('manifest.json', [{ Config: 'c.json', RepoTags: ['bad:1'], Layers: ['l.tar'] }]),
    ]);
    const file = join(mkdtempSync(join(tmpdir(), 'sc-bad-')), 'bad.tar');
    execFileSync('sh', ['-c', `cat > '${file}'`], { input: archive });
    await assert.rejects(loadArchive(store, file), /diffId/);
    assert.deepEqual(await store.list(), []);
    done();
  });
});

async function tarBytes(entries: TarWriteEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tarChunks(entries)) parts.push(c);
  return Buffer.concat(parts);
}
function jsonEntry(path: string, v: unknown): TarWriteEntry {
  const b = Buffer.from(JSON.stringify(v));
  return { header: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: b.length, mtime: 0 }, body: b };
}

async function saveTo(fn: (out: NodeJS.WritableStream) => Promise<void>, name: string): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'sc-save-')), name);
  await fn(createWriteStream(file));
  return file;
}

describe('saving archives', () => {
  async function sampleStore(): Promise<{ store: Store; ref: string; ref2: string }> {
    const store = await newStore();
    const l1 = await tarBytes([{ header: { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 } }, { header: { path: 'etc/hello', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 6, mtime: 1 }, body: Buffer.from('hello\n') }]);
    const l2 = await tarBytes([{ header: { path: 'etc/.wh.hello', type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 1 } }, { header: { path: 'bin', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1, linkname: 'usr/bin' } }]);
    const descs = [];
    for (const l of [l1, l2]) {
      const gz = gzipSync(l);
      const { digest, size } = await store.put(undefined, gz);
      await store.unpackLayer(digest, MediaType.ociLayerGzip, { expectedDiffId: sha256(l) });
      descs.push({ mediaType: MediaType.ociLayerGzip, digest, size });
    }
    const config = { architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: '/', Labels: { a: 'b' } }, rootfs: { type: 'layers' as const, diff_ids: [sha256(l1), sha256(l2)] }, history: [{ created_by: 'ADD' }, { created_by: 'RUN rm' }] };
    const m = await store.writeImage({ config, layers: descs });
    await store.tag('docker.io/library/sample:1', m);
    await store.tag('127.0.0.1:5000/team/sample:2', m);
    return { store, ref: 'docker.io/library/sample:1', ref2: '127.0.0.1:5000/team/sample:2' };
  }

  it('docker archive: skopeo inspects it and it loads back with the same image id', async () => {
    const { store, ref, ref2 } = await sampleStore();
    const file = await saveTo((out) => saveDockerArchive(store, [ref, ref2], out as never), 'docker.tar');
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' }));
    assert.deepEqual(manifest[0].RepoTags, ['sample:1', '127.0.0.1:5000/team/sample:2']);
    assert.equal(manifest[0].Layers.length, 2);
    assert.ok(JSON.parse(execFileSync('tar', ['-xOf', file, 'repositories'], { encoding: 'utf8' })).sample['1']);
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${file}:sample:1`], { encoding: 'utf8' }));
    assert.equal(inspect.Layers.length, 2);
    assert.equal(inspect.Architecture, 'amd64');
    const dest = mkdtempSync(join(tmpdir(), 'sc-skopeo-'));
    execFileSync('skopeo', ['copy', '-q', `docker-archive:${file}:sample:1`, `oci:${dest}:x`]);
    const other = await newStore();
    const loaded = await loadArchive(other, file);
    assert.equal(loaded[0]!.configDigest, (await store.resolve(ref)).configDigest);
    assert.deepEqual(loaded[0]!.refs, [ref, ref2]);
    assert.ok(readdirSync(other.layerDir((await other.resolve(ref)).config.rootfs.diff_ids[1]!)).includes('bin'));
  });

  it('OCI archive: skopeo copies it, its documents pass the OCI schemas, it loads back', async () => {
    const { store, ref } = await sampleStore();
    const file = await saveTo((out) => saveOciArchive(store, [ref], out as never), 'oci.tar');
    const dest = mkdtempSync(join(tmpdir(), 'sc-skopeo-oci-'));
    execFileSync('skopeo', ['copy', '-q', `oci-archive:${file}`, `oci:${dest}:copied`]);
    const copiedIndex = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8'));
    assert.equal(copiedIndex.manifests.length, 1);
    const unpacked = mkdtempSync(join(tmpdir(), 'sc-oci-x-'));
    execFileSync('tar', ['-xf', file, '-C', unpacked]);
    const index = JSON.parse(readFileSync(join(unpacked, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], '1');
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], ref);
    if (!corpusMissing('oci-image-spec')) {
      const v = new OciSchemaValidator(loadTestVectors());
      const blob = (d: string): string => readFileSync(join(unpacked, 'blobs/sha256', d.slice(7)), 'utf8');
      const manifest = JSON.parse(blob(index.manifests[0].digest));
      assert.deepEqual(v.validate(readFileSync(join(unpacked, 'index.json'), 'utf8'), MediaType.ociIndex), { ok: true });
      assert.deepEqual(v.validate(readFileSync(join(unpacked, 'oci-layout'), 'utf8'), MediaType.ociLayoutHeader), { ok: true });
      assert.deepEqual(v.validate(blob(index.manifests[0].digest), MediaType.ociManifest), { ok: true });
      assert.deepEqual(v.validate(blob(manifest.config.digest), MediaType.ociConfig), { ok: true });
      assert.ok(manifest.layers.every((l: { mediaType: string }) => l.mediaType === MediaType.ociLayerGzip));
    }
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${unpacked}:1`, join(unpacked, 'bundle')]);
    // umoci applies the layers: the second layer's whiteout removed etc/hello, and bin is its symlink
    assert.equal(readlinkSync(join(unpacked, 'bundle/rootfs/bin')), 'usr/bin');
    assert.equal(existsSync(join(unpacked, 'bundle/rootfs/etc/hello')), false);
    assert.equal(existsSync(join(unpacked, 'bundle/rootfs/etc')), true);
    const other = await newStore();
    const [img] = await loadArchive(other, file);
    assert.deepEqual(img!.refs, [ref]);
    assert.equal(img!.configDigest, (await store.resolve(ref)).configDigest);
    // the same archive loads back as a docker archive too (hybrid manifest.json)
    const again = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' }));
    assert.deepEqual(again[0].RepoTags, ['sample:1']);
  });

  it('a built image (layer only as a committed directory) exports to a docker archive skopeo reads', async () => {
    const store = await newStore();
    const upper = mkdtempSync(join(store.tmpDir, 'upper-'));
    execFileSync('sh', ['-c', 'mkdir -p app && echo built > app/out.txt && ln -s app/out.txt link'], { cwd: upper });
    const { dirToLayerEntries, writeLayer } = await import('../src/tar/index.js');
    const { Writable } = await import('node:stream');
    const { diffId, size } = await writeLayer(dirToLayerEntries(upper, { format: 'overlay' }), new Writable({ write(_c, _e, cb) { cb(); } }));
    await store.commitLayerDir(upper, diffId, size);
    const m = await store.writeImage({ config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: { Cmd: ['/app'] } }, layers: [{ mediaType: MediaType.ociLayer, digest: diffId, size }] });
    await store.tag('docker.io/library/built:1', m);
    const file = await saveTo((out) => saveDockerArchive(store, ['docker.io/library/built:1'], out as never), 'built.tar');
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${file}`], { encoding: 'utf8' }));
    assert.deepEqual(inspect.Layers, [diffId]);
    const oci = await saveTo((out) => saveOciArchive(store, ['docker.io/library/built:1'], out as never), 'built-oci.tar');
    execFileSync('skopeo', ['inspect', `oci-archive:${oci}`]);
  });

  it('saving is deterministic', async () => {
    const { store, ref } = await sampleStore();
    const a = readFileSync(await saveTo((out) => saveDockerArchive(store, [ref], out as never), 'a.tar'));
    const b = readFileSync(await saveTo((out) => saveDockerArchive(store, [ref], out as never), 'b.tar'));
    assert.equal(sha256(a), sha256(b));
    const c = readFileSync(await saveTo((out) => saveOciArchive(store, [ref], out as never), 'c.tar'));
    const d = readFileSync(await saveTo((out) => saveOciArchive(store, [ref], out as never), 'd.tar'));
    assert.equal(sha256(c), sha256(d));
  });
});
