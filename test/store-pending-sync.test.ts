/**
 * The store's targeted sync (src/store/pending-sync.ts): what it notes for
 * each unsynced write, when it gives up listing and falls back to syncfs,
 * and that Store.syncWritten covers a build's small layers, image config and
 * manifest with fsyncs while an unpacked layer still gets one syncfs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { MediaType, sha256, type Digest } from '../src/oci/index.js';
import { fsyncPaths, PendingSync, type SyncPlan } from '../src/store/pending-sync.js';
import { Store } from '../src/store/index.js';
import { dirToLayerEntries, tarChunks, writeLayer } from '../src/tar/index.js';

const scratch = (): string => mkdtempSync(join(tmpdir(), 'sc-pending-'));

function paths(plan: SyncPlan): { files: string[]; dirs: string[] } {
  assert.equal(plan.kind, 'paths', `expected a targeted sync, got ${plan.kind}`);
  if (plan.kind !== 'paths') throw new Error('unreachable');
  return { files: [...plan.files].sort(), dirs: [...plan.dirs].sort() };
}

describe('PendingSync', () => {
  it('notes files with their directory, directories, and trees (regular files and every directory; not symlinks)', () => {
    const root = scratch();
    mkdirSync(join(root, 'layer/app/sub'), { recursive: true });
    writeFileSync(join(root, 'layer/app/a.txt'), 'a');
    writeFileSync(join(root, 'layer/app/sub/b.txt'), 'b');
    symlinkSync('a.txt', join(root, 'layer/app/link'));
    const p = new PendingSync(100);
    assert.equal(p.take().kind, 'nothing');
    p.file(join(root, 'record.json'));
    p.dir(join(root, 'other'));
    p.tree(join(root, 'layer'));
    const { files, dirs } = paths(p.take());
    assert.deepEqual(files, [join(root, 'layer/app/a.txt'), join(root, 'layer/app/sub/b.txt'), join(root, 'record.json')]);
    assert.deepEqual(dirs, [root, join(root, 'layer'), join(root, 'layer/app'), join(root, 'layer/app/sub'), join(root, 'other')].sort());
    assert.equal(p.take().kind, 'nothing', 'take() forgets what it returned');
  });

  it('falls back to a whole-filesystem sync past its limit or once everything() is noted, until the next take', () => {
    const root = scratch();
    mkdirSync(join(root, 'big'));
    for (let i = 0; i < 20; i++) writeFileSync(join(root, 'big', `f${i}`), '');
    const table: Array<[string, (p: PendingSync) => void, SyncPlan['kind']]> = [
      ['a tree larger than the limit', (p) => p.tree(join(root, 'big')), 'filesystem'],
      ['files past the limit', (p) => { for (let i = 0; i < 11; i++) p.file(join(root, `x${i}`)); }, 'filesystem'],
      ['everything(), then more files', (p) => { p.everything(); p.file(join(root, 'y')); }, 'filesystem'],
      ['a few files', (p) => { p.file(join(root, 'y')); p.file(join(root, 'z')); }, 'paths'],
    ];
    for (const [what, note, want] of table) {
      const p = new PendingSync(10);
      note(p);
      assert.equal(p.take().kind, want, what);
      assert.equal(p.take().kind, 'nothing', `${what}: nothing left after take`);
    }
  });

  it('restore() puts a failed sync back', () => {
    const p = new PendingSync(10);
    p.file('/x/a');
    const plan = p.take();
    p.file('/y/b');
    p.restore(plan);
    assert.deepEqual(paths(p.take()).files, ['/x/a', '/y/b']);
    p.everything();
    p.restore(p.take());
    assert.equal(p.take().kind, 'filesystem');
  });

  it('fsyncPaths syncs files and directories and skips paths that are gone', async () => {
    const root = scratch();
    mkdirSync(join(root, 'd/e'), { recursive: true });
    const files = Array.from({ length: 20 }, (_, i) => join(root, 'd', `f${i}`));
    for (const f of files) writeFileSync(f, 'data');
    await fsyncPaths([...files, join(root, 'gone')], [join(root, 'd/e'), join(root, 'd'), root, join(root, 'gone-dir')], 3);
    await assert.rejects(fsyncPaths([join(root, 'd/f0/not-a-dir')], []), /ENOTDIR/);
  });
});

describe('Store.syncWritten', () => {
  it('covers a committed layer, its record and the image documents with fsyncs; an unpacked layer makes it one syncfs', async () => {
    const store = await Store.open(join(scratch(), 'root'));
    assert.equal(store.pendingWrites().kind, 'nothing');
    const upper = join(store.tmpDir, 'upper');
    mkdirSync(join(upper, 'app'), { recursive: true });
    writeFileSync(join(upper, 'app/main.py'), 'print(1)\n');
    const { diffId, size } = await writeLayer(dirToLayerEntries(upper, { format: 'overlay' }), new Writable({ write(_c, _e, cb) { cb(); } }));
    await store.commitLayerDir(upper, diffId, size);
    const layer = store.layerDir(diffId);
    const afterLayer = paths(store.pendingWrites());
    assert.ok(afterLayer.files.includes(join(layer, 'app/main.py')), 'the layer\'s file');
    assert.ok(afterLayer.files.includes(`${layer}.json`), 'the layer record');
    for (const d of [layer, join(layer, 'app'), join(store.root, 'layers')]) assert.ok(afterLayer.dirs.includes(d), `directory ${d}`);

    const { digest } = await store.writeImageDeferred({
      config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} },
      layers: [{ mediaType: MediaType.ociLayer, digest: diffId, size }],
    });
    const withImage = paths(store.pendingWrites());
    assert.ok(withImage.files.includes(store.path(digest)), 'the manifest blob');
    assert.equal(withImage.files.filter((f) => f.startsWith(join(store.root, 'blobs'))).length, 2, 'config and manifest');

    await store.syncWritten();
    assert.equal(store.pendingWrites().kind, 'nothing');

    // A pulled (unpacked) layer: too many files to list; the next sync is the whole filesystem.
    const parts: Buffer[] = [];
    for await (const c of tarChunks([{ header: { path: 'etc/os-release', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3, mtime: 1 }, body: Buffer.from('x=1') }])) parts.push(c);
    const tar = Buffer.concat(parts);
    const gz = gzipSync(tar);
    await store.putAndUnpackLayer({ mediaType: MediaType.ociLayerGzip, digest: sha256(gz) as Digest, size: gz.length }, Readable.from([gz]), { expectedDiffId: sha256(tar) as Digest, durable: false });
    assert.equal(store.pendingWrites().kind, 'filesystem');
    await store.syncWritten();
    assert.equal(store.pendingWrites().kind, 'nothing');
  });
});
