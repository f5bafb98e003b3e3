import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { gzipSync, gunzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { sha256, MediaType, type Digest, type ImageConfig } from '../src/oci/index.js';
import type { BlobSink } from '../src/registry/types.js';
import { VerifyingStream } from '../src/registry/verify.js';
import { Store } from '../src/store/index.js';
import { streamToNewFile } from '../src/store/atomic.js';
import { tarChunks, type TarWriteEntry } from '../src/tar/index.js';
import { StagecraftError } from '../src/errors.js';
import { corpusMissing } from './support/conformance.js';
import { loadTestVectors, OciSchemaValidator } from './support/oci-schema.js';

const newRoot = (): string => join(mkdtempSync(join(tmpdir(), 'sc-store-')), 'root');

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const entries: TarWriteEntry[] = Object.entries(files).map(([path, body]) => ({ header: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: Buffer.byteLength(body), mtime: 1 }, body: Buffer.from(body) }));
  const parts: Buffer[] = [];
  for await (const c of tarChunks(entries)) parts.push(c);
  return Buffer.concat(parts);
}

function configFor(diffIds: Digest[], extra: Partial<ImageConfig> = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', created: '2024-05-06T07:08:09Z', config: { Env: ['PATH=/bin'], Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: diffIds }, history: diffIds.map(() => ({ created_by: 'test' })), ...extra };
}

/** A pulled-style image: gzip layer blob stored and unpacked, config + manifest written. */
async function addImage(store: Store, files: Record<string, string>): Promise<{ manifest: Digest; diffId: Digest; blob: Digest }> {
  const tar = await tarOf(files);
  const gz = gzipSync(tar);
  const blob = (await store.put({ digest: sha256(gz), size: gz.length }, Readable.from([gz]))).digest;
  const { diffId } = await store.unpackLayer(blob, MediaType.ociLayerGzip, { expectedDiffId: sha256(tar) });
  const manifest = await store.writeImage({ config: configFor([diffId]), layers: [{ mediaType: MediaType.ociLayerGzip, digest: blob, size: gz.length }] });
  return { manifest, diffId, blob };
}

const isCode = (code: string) => (e: unknown) => e instanceof StagecraftError && e.code === code;

describe('streamToNewFile', () => {
  const fail = (): Error => new Error('source failed');
  const gone = async (path: string): Promise<void> => {
    assert.equal(existsSync(path), false, 'removed by the time the promise rejects');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(existsSync(path), false, 'and nothing still on its way creates it');
  };

  it('writes the whole stream, through transforms, and returns the byte count', async () => {
    const dir = newRoot();
    mkdirSync(dir, { recursive: true });
    const upper = new Transform({ transform(c: Buffer, _e, cb) { cb(null, Buffer.from(c.toString().toUpperCase())); } });
    const n = await streamToNewFile(join(dir, 'f'), Readable.from([Buffer.from('ab'), Buffer.from('cd')]), [upper], { mode: 0o600, exclusive: true });
    assert.equal(n, 4);
    assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'ABCD');
    assert.equal(statSync(join(dir, 'f')).mode & 0o777, 0o600);
    await assert.rejects(streamToNewFile(join(dir, 'f'), Readable.from([Buffer.from('x')]), [], { exclusive: true }), /EEXIST/);
    assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'ABCD', 'exclusive: an existing file is left alone');
  });

  // Each row fails the copy at another moment; none may leave the file behind.
  const rows: Array<[string, (src: PassThrough) => { transforms?: Transform[]; after?: () => void }]> = [
    ['source destroyed before the call', (src) => { src.on('error', () => undefined); src.destroy(fail()); return {}; }],
    ['source destroyed in the same tick', (src) => ({ after: () => src.destroy(fail()) })],
    ['source destroyed on the next turn', (src) => ({ after: () => setImmediate(() => src.destroy(fail())) })],
    ['source destroyed after some bytes', (src) => ({ after: () => { src.write('partial'); setTimeout(() => src.destroy(fail()), 5); } })],
    ['a transform fails', (src) => ({ transforms: [new Transform({ transform(_c, _e, cb) { cb(fail()); } })], after: () => src.end('x') })],
  ];
  for (const [name, setup] of rows) {
    it(`removes the file: ${name}`, async () => {
      const dir = newRoot();
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 20; i++) {
        const src = new PassThrough(); // no error listener of its own: an error nobody hears fails the test
        const { transforms = [], after } = setup(src);
        const path = join(dir, `f${i}`);
        const p = streamToNewFile(path, src, transforms, { exclusive: true });
        after?.();
        await assert.rejects(p, /source failed|premature close/i);
        await gone(path);
      }
      assert.deepEqual(readdirSync(dir), []);
    });
  }

  it('destroys the source when the file cannot be created, so its writer does not wait forever', async () => {
    const src = new PassThrough();
    src.on('error', () => undefined);
    await assert.rejects(streamToNewFile(join(newRoot(), 'missing-dir', 'f'), src), /ENOENT/);
    assert.equal(src.destroyed, true);
  });
});

describe('store: blobs', () => {
  it('stores verified content and serves it back', async () => {
    const store = await Store.open(newRoot());
    const body = Buffer.from('{"a":1}');
    const r = await store.put({ digest: sha256(body), size: body.length }, Readable.from([body]));
    assert.deepEqual(r, { digest: sha256(body), size: body.length });
    assert.equal(await store.has(r.digest), true);
    assert.deepEqual(await store.getJSON(r.digest), { a: 1 });
    assert.equal(readFileSync(store.path(r.digest), 'utf8'), '{"a":1}');
    const sink: BlobSink = store.sink; // the registry client's sink interface
    assert.equal(await sink.has(r.digest), true);
  });

  it('never stores a corrupt or truncated blob', async () => {
    const store = await Store.open(newRoot());
    const good = Buffer.from('layer bytes');
    await assert.rejects(store.put({ digest: sha256('something else'), size: good.length }, Readable.from([good])), isCode('DIGEST'));
    await assert.rejects(store.put({ digest: sha256(good), size: good.length }, Readable.from([good.subarray(0, 5)])), isCode('DIGEST'));
    await assert.rejects(store.put({ digest: sha256(good), size: good.length }, good.subarray(0, 5)), isCode('DIGEST'));
    const failing = new Readable({ read() { this.push(good.subarray(0, 3)); this.destroy(new Error('connection reset')); } });
    await assert.rejects(store.put({ digest: sha256(good), size: good.length }, failing), /connection reset/);
    assert.equal(await store.has(sha256(good)), false);
    assert.deepEqual(readdirSync(join(store.root, 'blobs/sha256')), []);
    assert.deepEqual(readdirSync(store.tmpDir), [], 'no scratch debris');
  });

  it('leaves no scratch file when the body fails before or just after the write starts (the file is opened first)', async () => {
    // A stream from createWriteStream opens its file on the thread pool, and a pipeline whose
    // source fails first could reject before that open ran: the cleanup then raced the open, and
    // once in CI the file appeared after it. put now creates the file before anything flows.
    const store = await Store.open(newRoot());
    const good = Buffer.from('layer bytes');
    const desc = { digest: sha256(good), size: good.length };
    const when = ['before', 'same tick', 'next turn'] as const;
    for (let i = 0; i < 120; i++) {
      const body = new PassThrough();
      body.on('error', () => undefined);
      const kind = when[i % 3]!;
      if (kind === 'before') body.destroy(new Error('connection reset'));
      const put = store.blobs.put(desc, body, { durable: false });
      if (kind === 'same tick') body.destroy(new Error('connection reset'));
      if (kind === 'next turn') setImmediate(() => body.destroy(new Error('connection reset')));
      await assert.rejects(put, /connection reset|premature close/i, kind);
    }
    await new Promise((r) => setTimeout(r, 50)); // any open still on the thread pool lands
    assert.deepEqual(readdirSync(store.tmpDir), [], 'no scratch file appears after put rejected');
    assert.deepEqual(readdirSync(join(store.root, 'blobs/sha256')), []);
  });

  it('a download that checks itself (VerifyingStream) is stored without a second hash, and a corrupt one is not stored', async () => {
    const store = await Store.open(newRoot());
    const tar = await tarOf({ 'etc/hello': 'hi\n' });
    const gz = gzipSync(tar);
    const desc = { mediaType: MediaType.ociLayerGzip, digest: sha256(gz), size: gz.length };
    const verifying = (bytes: Buffer): VerifyingStream => Readable.from([bytes]).pipe(new VerifyingStream(desc.digest, desc.size, 'layer'));
    // Trusted, not re-hashed: a stream that claims to check itself for desc is stored as desc.
    const claims = Object.assign(Readable.from([Buffer.from('not the layer')]), { verifies: { digest: desc.digest, size: 13 } });
    assert.deepEqual(await store.put({ digest: desc.digest, size: 13 }, claims), { digest: desc.digest, size: 13 });
    await store.blobs.remove(desc.digest);
    const corrupt = Buffer.from(gz);
    corrupt[corrupt.length >> 1]! ^= 0xff;
    for (const put of [
      () => store.put(desc, verifying(corrupt)),
      () => store.putAndUnpackLayer(desc, verifying(corrupt), { expectedDiffId: sha256(tar) }),
    ]) {
      await assert.rejects(put(), (e: Error & { code?: string }) => e.code === 'DIGEST' || /digest|unpack|invalid|incorrect/i.test(e.message));
      assert.equal(await store.has(desc.digest), false, 'nothing stored under the digest');
      assert.equal(await store.hasLayer(sha256(tar)), false);
    }
    // A truncated download (fewer bytes than the descriptor) is refused by the stream itself.
    await assert.rejects(store.put(desc, verifying(gz.subarray(0, gz.length - 3))), isCode('DIGEST'));
    assert.equal(await store.has(desc.digest), false);
    // The real bytes: stored, unpacked, and the layer's diffId checked as before.
    assert.deepEqual(await store.putAndUnpackLayer(desc, verifying(gz), { expectedDiffId: sha256(tar) }), { diffId: sha256(tar), size: tar.length });
    assert.equal(sha256(readFileSync(store.path(desc.digest))), desc.digest);
    assert.equal(readFileSync(join(store.layerDir(sha256(tar)), 'etc/hello'), 'utf8'), 'hi\n');
  });

  it('detects a blob corrupted on disk', async () => {
    const store = await Store.open(newRoot());
    const { digest } = await store.put(undefined, Buffer.from('original'));
    chmodSync(store.path(digest), 0o644);
    writeFileSync(store.path(digest), 'tampered');
    await assert.rejects(store.getBytes(digest), /corrupt/);
    assert.throws(() => store.get(sha256('missing')), isCode('NOT_FOUND'));
  });
});

describe('store: scratch directory placement (spread-dirs.ts)', () => {
  // ext4 keeps FS_TOPDIR_FL; other file systems refuse chattr +T, and the store works the same.
  const ext4 = (dir: string): boolean => execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim() === 'ext2/ext3';
  const topdir = (dir: string): boolean => /^\S*T\S*\s/.test(execFileSync('lsattr', ['-d', dir], { encoding: 'utf8' }));

  it('a new store marks its scratch directory for ext4 to spread what is made in it', async (t) => {
    const root = newRoot();
    const store = await Store.open(root);
    if (!ext4(store.tmpDir)) { t.diagnostic(`not ext4 here: only checked that the store opens (${store.tmpDir})`); return; }
    assert.equal(topdir(store.tmpDir), true, execFileSync('lsattr', ['-d', store.tmpDir], { encoding: 'utf8' }));
    // An existing store is left as it is when opened (no chattr on every command).
    execFileSync('chattr', ['-T', store.tmpDir]);
    await Store.open(root);
    assert.equal(topdir(store.tmpDir), false);
  });

  it("a store made before gets the mark at its first layer unpack", async (t) => {
    const root = newRoot();
    mkdirSync(join(root, 'tmp'), { recursive: true, mode: 0o700 });
    const store = await Store.open(root);
    if (!ext4(store.tmpDir)) { t.diagnostic(`not ext4 here: only checked that unpacking works (${store.tmpDir})`); }
    else assert.equal(topdir(store.tmpDir), false);
    const { diffId } = await addImage(store, { 'etc/os-release': 'ID=test\n' });
    assert.equal(readFileSync(join(store.layerDir(diffId), 'etc/os-release'), 'utf8'), 'ID=test\n');
    if (ext4(store.tmpDir)) assert.equal(topdir(store.tmpDir), true);
  });
});

describe('store: layers', () => {
  it('unpacks a gzip blob into an overlay-ready dir, verifying the diffId', async () => {
    const store = await Store.open(newRoot());
    const { diffId, blob } = await addImage(store, { 'etc/os-release': 'ID=test\n' });
    assert.equal(readFileSync(join(store.layerDir(diffId), 'etc/os-release'), 'utf8'), 'ID=test\n');
    assert.deepEqual((await store.layerInfo(diffId))?.blobs.map((b) => b.digest), [blob]);
    const tar = await tarOf({ x: 'y' });
    const gz = gzipSync(tar);
    const b2 = await store.put(undefined, gz);
    await assert.rejects(store.unpackLayer(b2.digest, MediaType.ociLayerGzip, { expectedDiffId: sha256('wrong') }), /diffId/);
    assert.equal(await store.hasLayer(sha256(tar)), false);
    assert.deepEqual(readdirSync(store.tmpDir), []);
  });

  it('concurrent unpacks of the same layer end with one complete layer', async () => {
    const store = await Store.open(newRoot());
    const tar = await tarOf({ a: 'x'.repeat(5000), b: 'y' });
    const gz = gzipSync(tar);
    const { digest } = await store.put(undefined, gz);
    const results = await Promise.all([1, 2, 3, 4].map(() => store.unpackLayer(digest, MediaType.ociLayerGzip)));
    assert.ok(results.every((r) => r.diffId === sha256(tar)));
    assert.equal(readFileSync(join(store.layerDir(sha256(tar)), 'a'), 'utf8').length, 5000);
    assert.deepEqual(readdirSync(store.tmpDir), []);
    assert.deepEqual(readdirSync(join(store.root, 'layers')).sort(), [sha256(tar).slice(7), `${sha256(tar).slice(7)}.json`]);
  });

  it('layerTar gives the uncompressed tar; compressed blobs are made once and cached', async () => {
    const store = await Store.open(newRoot());
    const { diffId } = await addImage(store, { a: 'A'.repeat(10000), b: 'B' });
    const collect = async (r: Readable): Promise<Buffer> => { const p: Buffer[] = []; for await (const c of r) p.push(c); return Buffer.concat(p); };
    const tar = await collect(await store.layerTar(diffId));
    assert.equal(sha256(tar), diffId);
    const z1 = await store.compressedBlob(diffId, 'zstd');
    const z2 = await store.compressedBlob(diffId, 'zstd');
    assert.deepEqual(z1, z2);
    assert.equal(z1.mediaType, MediaType.ociLayerZstd);
    assert.equal(sha256(execFileSync('zstd', ['-d', '-c', store.path(z1.digest)])), diffId);
    const g = await store.compressedBlob(diffId, 'gzip');
    assert.equal(g.mediaType, MediaType.ociLayerGzip);
    assert.equal(sha256(gunzipSync(readFileSync(store.path(g.digest)))), diffId);
  });

  it('commitLayerDir moves a directory in by rename and layerTar reproduces its diffId', { skip: process.getuid?.() === 0 ? false : 'needs root for mknod' }, async () => {
    const store = await Store.open(newRoot());
    const upper = join(store.tmpDir, 'upper-test');
    mkdirSync(join(upper, 'app'), { recursive: true });
    writeFileSync(join(upper, 'app/main.js'), 'console.log(1)');
    execFileSync('mknod', ['-m', '000', join(upper, 'removed'), 'c', '0', '0']);
    // what the build module does: tar the upper dir once to learn the diffId
    const { dirToLayerEntries, writeLayer } = await import('../src/tar/index.js');
    const { Writable } = await import('node:stream');
    const { diffId, size } = await writeLayer(dirToLayerEntries(upper, { format: 'overlay' }), new Writable({ write(_c, _e, cb) { cb(); } }));
    await store.commitLayerDir(upper, diffId, size);
    assert.equal(existsSync(upper), false);
    assert.equal(existsSync(join(store.layerDir(diffId), 'app/main.js')), true);
    const m = await store.writeImage({ config: configFor([diffId]), layers: [{ mediaType: MediaType.ociLayer, digest: diffId, size }] });
    assert.equal(await store.has(diffId), false, 'the tar blob is made lazily, when an output needs it');
    assert.equal((await store.resolve(m)).config.rootfs.diff_ids[0], diffId);
    const parts: Buffer[] = [];
    for await (const c of await store.layerTar(diffId)) parts.push(c);
    assert.equal(await store.has(diffId), false, 'streamed from the directory, not stored as a second copy');
    assert.equal(sha256(Buffer.concat(parts)), diffId);
    assert.equal(Buffer.concat(parts).includes(Buffer.from('.wh.removed')), true);

    // A layer directory changed behind the store's back: the stream fails at its end, and
    // nothing made from it is kept.
    writeFileSync(join(store.layerDir(diffId), 'app/main.js'), 'console.log(2)');
    const drain = async (): Promise<void> => { for await (const _ of await store.layerTar(diffId)) { /* drain */ } };
    const mismatch = (e: unknown): boolean => e instanceof StagecraftError && e.code === 'STORE'
      && e.message.includes(`layer directory for ${diffId} no longer reproduces its diffId`);
    await assert.rejects(drain(), mismatch);
    const blobsBefore = readdirSync(join(store.root, 'blobs', 'sha256')).sort();
    await assert.rejects(store.compressedBlob(diffId, 'gzip'), mismatch);
    assert.deepEqual(readdirSync(join(store.root, 'blobs', 'sha256')).sort(), blobsBefore, 'no compressed blob of the changed directory');
    assert.equal(await store.has(diffId), false);
  });
});

describe('store: layer link records', () => {
  const layerIn = async (store: Store, name: string, body: string): Promise<{ diffId: Digest; dir: string; size: number }> => {
    const dir = join(store.tmpDir, name);
    mkdirSync(join(dir, 'f'), { recursive: true });
    writeFileSync(join(dir, 'f', name), body);
    // Fixed mtimes: the same content made twice must give the same diffId even when a second boundary falls between.
    utimesSync(join(dir, 'f', name), 1_700_000_000, 1_700_000_000);
    utimesSync(join(dir, 'f'), 1_700_000_000, 1_700_000_000);
    const { dirToLayerEntries, writeLayer } = await import('../src/tar/index.js');
    const { Writable } = await import('node:stream');
    const { diffId, size } = await writeLayer(dirToLayerEntries(dir, { format: 'overlay' }), new Writable({ write(_c, _e, cb) { cb(); } }));
    return { diffId, dir, size };
  };

  it('records each layer that takes links, before it enters the store; only complete lines count; remove drops the list', async () => {
    const store = await Store.open(newRoot());
    const src = await layerIn(store, 'src', 'source');
    await store.commitLayerDir(src.dir, src.diffId, src.size);
    assert.deepEqual((await store.layerInfo(src.diffId))?.linkedFrom, [], 'a layer holding no links says so');
    assert.deepEqual(await store.linkedInto(src.diffId), []);
    const a = await layerIn(store, 'a', 'one');
    const b = await layerIn(store, 'b', 'two');
    await store.commitLayerDir(a.dir, a.diffId, a.size, [src.diffId, src.diffId]);
    await store.commitLayerDir(b.dir, b.diffId, b.size, [src.diffId]);
    assert.deepEqual((await store.layerInfo(a.diffId))?.linkedFrom, [src.diffId]);
    assert.deepEqual(await store.linkedInto(src.diffId), [a.diffId, b.diffId]);
    // A layer whose diffId is in the store already is not recorded again (its directory is dropped).
    const a2 = await layerIn(store, 'a', 'one');
    assert.equal(a2.diffId, a.diffId);
    await store.commitLayerDir(a2.dir, a2.diffId, a2.size, [src.diffId]);
    assert.deepEqual(await store.linkedInto(src.diffId), [a.diffId, b.diffId]);
    // A line still being written (no newline yet) belongs to a layer not in the store yet.
    const { appendFileSync } = await import('node:fs');
    appendFileSync(`${store.layerDir(src.diffId)}.links`, 'abc');
    assert.deepEqual(await store.linkedInto(src.diffId), [a.diffId, b.diffId]);
    await store.layers.remove(src.diffId);
    assert.equal(existsSync(`${store.layerDir(src.diffId)}.links`), false);
    assert.deepEqual(await store.linkedInto(src.diffId), []);
  });
});

describe('store: images, tags, prune', () => {
  it('writes, tags, resolves, lists and untags images; documents pass the OCI schemas', async () => {
    const store = await Store.open(newRoot());
    const { manifest } = await addImage(store, { f: '1' });
    await store.tag('docker.io/library/app:1', manifest);
    await store.tag('docker.io/library/app:latest', manifest);
    const r = await store.resolve('docker.io/library/app:1');
    assert.equal(r.manifestDigest, manifest);
    assert.equal(r.config.os, 'linux');
    assert.equal((await store.resolve(r.configDigest.slice(7, 19))).manifestDigest, manifest, 'short config id');
    assert.equal((await store.resolve(manifest)).manifestDigest, manifest, 'by manifest digest');
    const list = await store.list();
    assert.deepEqual(list.map((i) => i.ref), ['docker.io/library/app:1', 'docker.io/library/app:latest']);
    assert.equal(list[0]!.created, '2024-05-06T07:08:09Z');
    assert.ok(list[0]!.size > 1024);
    assert.equal(await store.untag('docker.io/library/app:1'), true);
    assert.equal(await store.untag('docker.io/library/app:1'), false);
    await assert.rejects(store.resolve('docker.io/library/app:1'), isCode('NOT_FOUND'));
    if (!corpusMissing('oci-image-spec')) {
      const v = new OciSchemaValidator(loadTestVectors());
      assert.deepEqual(v.validate(readFileSync(store.path(manifest), 'utf8'), MediaType.ociManifest), { ok: true });
      assert.deepEqual(v.validate(readFileSync(store.path(r.configDigest), 'utf8'), MediaType.ociConfig), { ok: true });
      assert.deepEqual(v.validate(readFileSync(join(store.root, 'index.json'), 'utf8'), MediaType.ociIndex), { ok: true });
    }
  });

  it('tagAll with `after`: tags land only once it resolves, and not at all when it rejects', async () => {
    const store = await Store.open(newRoot());
    const one = (await addImage(store, { f: '1' })).manifest;
    const two = (await addImage(store, { f: '2' })).manifest;
    await store.tag('docker.io/library/app:1', one);
    const indexPath = join(store.root, 'index.json');
    const before = readFileSync(indexPath, 'utf8');
    const leftovers = () => readdirSync(store.tmpDir);
    const tmpBefore = leftovers();

    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const tagging = store.tagAll(['docker.io/library/app:1', 'docker.io/library/app:2'], two, gate);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(readFileSync(indexPath, 'utf8'), before, 'no tag changes while `after` is pending');
    release();
    await tagging;
    assert.equal((await store.resolve('docker.io/library/app:1')).manifestDigest, two);
    assert.equal((await store.resolve('docker.io/library/app:2')).manifestDigest, two);

    const after = readFileSync(indexPath, 'utf8');
    const failed = new Error('sync failed');
    await assert.rejects(store.tagAll(['docker.io/library/app:1'], one, Promise.reject(failed)), (e) => e === failed);
    assert.equal(readFileSync(indexPath, 'utf8'), after, 'a rejected `after` changes no tag');
    assert.deepEqual(leftovers(), tmpBefore, 'and leaves no temporary file');
    await store.tag('docker.io/library/app:1', one); // the lock was released
    assert.equal((await store.resolve('docker.io/library/app:1')).manifestDigest, one);
  });

  it('a failed operation leaves existing tags and blobs untouched', async () => {
    const store = await Store.open(newRoot());
    const { manifest, blob } = await addImage(store, { f: '1' });
    await store.tag('r/app:1', manifest);
    const indexBefore = readFileSync(join(store.root, 'index.json'));
    const blobsBefore = readdirSync(join(store.root, 'blobs/sha256')).sort();
    await assert.rejects(store.tag('r/app:1', sha256('no such manifest')), isCode('NOT_FOUND'));
    await assert.rejects(store.tag('r/app:1', blob), /not an image manifest/);
    await assert.rejects(store.put({ digest: sha256('fresh'), size: 3 }, Buffer.from('bad')), isCode('DIGEST'));
    await assert.rejects(store.writeImage({ config: configFor([sha256('x')]), layers: [{ mediaType: MediaType.ociLayer, digest: sha256('x'), size: 1 }] }), isCode('NOT_FOUND'));
    assert.deepEqual(readFileSync(join(store.root, 'index.json')), indexBefore);
    assert.deepEqual(readdirSync(join(store.root, 'blobs/sha256')).sort(), blobsBefore);
    assert.equal((await store.resolve('r/app:1')).manifestDigest, manifest);
  });

  it('prune keeps what tags and cache records reach, and drops the rest', async () => {
    const store = await Store.open(newRoot());
    const kept = await addImage(store, { k: 'kept' });
    const cached = await addImage(store, { c: 'cached' });
    const dropped = await addImage(store, { d: 'dropped' });
    await store.tag('r/kept:1', kept.manifest);
    await store.cachePut('RUN make', { diffId: cached.diffId, note: 'layer from a cached step' });
    assert.deepEqual(await store.cacheGet('RUN make'), { diffId: cached.diffId, note: 'layer from a cached step' });
    const r = await store.prune();
    assert.equal(r.layersRemoved, 1);
    assert.ok(r.blobsRemoved >= 3, `blobs removed: ${r.blobsRemoved}`);
    assert.equal(await store.hasLayer(dropped.diffId), false);
    assert.equal(await store.has(dropped.blob), false);
    assert.equal(await store.hasLayer(cached.diffId), true);
    assert.equal(await store.has(cached.blob), true, 'a live layer keeps its compressed blob');
    assert.equal((await store.resolve('r/kept:1')).manifestDigest, kept.manifest);
    mkdirSync(join(store.root, 'layers', 'ab'.repeat(32), 'debris'), { recursive: true });
    assert.equal((await store.prune()).layersRemoved, 1, 'a layer dir without a record is debris');
    assert.equal(existsSync(join(store.root, 'layers', 'ab'.repeat(32))), false);
    const all = await store.prune({ all: true });
    assert.equal(all.cacheRecordsRemoved, 1);
    assert.equal(await store.hasLayer(cached.diffId), false);
    assert.equal(await store.cacheGet('RUN make'), undefined);
    assert.equal(await store.hasLayer(kept.diffId), true);
  });
});

describe('store: locking', () => {
  it('two processes tagging at once lose no tags', async () => {
    const root = newRoot();
    const store = await Store.open(root);
    const { manifest } = await addImage(store, { f: '1' });
    const script = join(tmpdir(), `sc-tagger-${process.pid}.mts`);
    writeFileSync(script, `import { Store } from ${JSON.stringify(join(process.cwd(), 'src/store/index.ts'))};\nconst s = await Store.open(process.argv[2]);\nfor (let i = 0; i < 15; i++) await s.tag(\`r/\${process.argv[3]}:\${i}\`, process.argv[4]);\n`);
    const run = (name: string) => new Promise<number | null>((resolve) => spawn(process.execPath, ['--import', 'tsx', script, root, name, manifest], { stdio: 'inherit' }).on('close', resolve));
    assert.deepEqual(await Promise.all([run('a'), run('b')]), [0, 0]);
    assert.equal((await store.list()).length, 30);
  });

  it('a lock left by a dead process is taken over', async () => {
    const store = await Store.open(newRoot());
    const { manifest } = await addImage(store, { f: '1' });
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('close', r));
    writeFileSync(join(store.root, 'lock'), `${dead.pid}\n`);
    await store.tag('r/x:1', manifest);
    assert.equal(existsSync(join(store.root, 'lock')), false);
  });
});

describe('store: scratch removal', () => {
  it('discard removes directories in the background and discarded() waits for every one, also those started meanwhile', async () => {
    const store = await Store.open(newRoot());
    const dirs = [0, 1, 2].map((i) => {
      const d = join(store.tmpDir, `step-${i}`);
      mkdirSync(join(d, 'work', 'work', 'deep'), { recursive: true });
      writeFileSync(join(d, 'work', 'work', 'deep', 'f'), 'x');
      return d;
    });
    store.discard(dirs[0]!);
    store.discard(join(store.tmpDir, 'never-made')); // a missing directory is no error
    const waiting = store.discarded();
    store.discard(dirs[1]!); // started after discarded() was called: still waited for
    await waiting;
    assert.equal(existsSync(dirs[0]!), false);
    assert.equal(existsSync(dirs[1]!), false);
    assert.equal(existsSync(dirs[2]!), true, 'a directory not discarded stays');
    await store.discarded(); // nothing pending: returns at once
  });
});
