import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, linkSync, writeFileSync, chownSync, lchownSync, chmodSync, utimesSync, lutimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { sha256 } from '../src/oci/digest.js';
import { dirToLayerEntries, extractLayerFrom, flattenLayers, readAll, readTar, readTreeXattrs, tarChunks, writeLayer, type TarHeader, type TarWriteEntry } from '../src/tar/index.js';
import { conformancePath, corpusMissing } from './support/conformance.js';

const isRoot = process.getuid?.() === 0;
const tmp = (p: string): string => mkdtempSync(join(tmpdir(), `sc-${p}-`));

async function tarBytes(entries: TarWriteEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tarChunks(entries)) parts.push(c);
  return Buffer.concat(parts);
}
async function layerFromDir(dir: string): Promise<{ bytes: Buffer; diffId: string; size: number }> {
  const parts: Buffer[] = [];
  const r = await writeLayer(dirToLayerEntries(dir, { format: 'overlay' }), new Writable({ write(c, _e, cb) { parts.push(c); cb(); } }));
  return { bytes: Buffer.concat(parts), ...r };
}
/** A comparable description of a tree: type, mode, owner, mtime, content/target, xattrs. */
function describeTree(root: string, xattrs: Map<string, Record<string, Buffer>>): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = lstatSync(p);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? `l->${readlinkSync(p)}` : st.isFile() ? `f:${sha256(readFileSync(p)).slice(7, 19)}:n${st.nlink}` : st.isCharacterDevice() ? `c${st.rdev}` : st.isFIFO() ? 'p' : '?';
      const x = Object.entries(xattrs.get(p) ?? {}).map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',');
      out.push(`${r} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${Math.floor(st.mtimeMs / 1000)} ${x}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');

describe('layer from an overlay directory, and back', { skip: isRoot ? false : 'needs root for chown, mknod and trusted.* xattrs' }, () => {
  it('an overlay upper dir survives tar -> extract unchanged (whiteouts, opaque dirs, owners, modes, mtimes, xattrs, links)', async () => {
    const src = tmp('upper');
    mkdirSync(join(src, 'etc/opaque'), { recursive: true });
    writeFileSync(join(src, 'etc/opaque/kept'), 'kept');
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(src, 'etc/opaque')]);
    writeFileSync(join(src, 'etc/conf'), 'a=1\n');
    chownSync(join(src, 'etc/conf'), 1000, 2000);
    chmodSync(join(src, 'etc/conf'), 0o640);
    writeFileSync(join(src, 'ping'), 'elf');
    chmodSync(join(src, 'ping'), 0o4755);
    execFileSync('setfattr', ['-n', 'security.capability', '-v', `0x${cap.toString('hex')}`, join(src, 'ping')]);
    execFileSync('setfattr', ['-n', 'user.comment', '-v', 'hi', join(src, 'etc/conf')]);
    linkSync(join(src, 'etc/conf'), join(src, 'conf-hardlink'));
    symlinkSync('../etc/conf', join(src, 'rel-link'));
    lchownSync(join(src, 'rel-link'), 5, 6);
    execFileSync('mknod', ['-m', '000', join(src, 'deleted'), 'c', '0', '0']);
    execFileSync('mknod', [join(src, 'pipe'), 'p']);
    for (const p of ['etc/opaque/kept', 'etc/conf', 'ping', 'pipe', 'deleted', 'etc/opaque', 'etc']) utimesSync(join(src, p), 1600000000, 1600000000);
    lutimesSync(join(src, 'rel-link'), 1500000000, 1500000000);
    utimesSync(src, 1600000000, 1600000000);

    const layer = await layerFromDir(src);
    const names: string[] = [];
    for await (const e of readTar(Readable.from([layer.bytes]))) names.push(`${e.header.type}:${e.header.path}`);
    assert.deepEqual(names, [
      'file:conf-hardlink', 'file:.wh.deleted', 'dir:etc', 'file:etc/conf'.replace('file', 'hardlink'), 'dir:etc/opaque', 'file:etc/opaque/.wh..wh..opq', 'file:etc/opaque/kept', 'file:ping', 'fifo:pipe', 'symlink:rel-link',
    ]);
    assert.equal(layer.diffId, sha256(layer.bytes));
    assert.equal((await layerFromDir(src)).diffId, layer.diffId, 'deterministic');

    const dest = tmp('lower');
    const r = await extractLayerFrom(gzipSync(layer.bytes), join(dest, 'l'), { expectedDiffId: layer.diffId as `sha256:${string}` });
    assert.equal(r.compression, 'gzip');
    assert.equal(r.tarSize, layer.size);
    const before = describeTree(src, await readTreeXattrs(src));
    const after = describeTree(join(dest, 'l'), await readTreeXattrs(join(dest, 'l')));
    assert.deepEqual(after, before);
    assert.ok(after.some((l) => l.startsWith('deleted c0 0 0:0')), 'whiteout is a 0:0 char device');
    assert.ok(after.some((l) => l.startsWith('etc/opaque d') && l.includes('trusted.overlay.opaque=79')), 'opaque xattr');
    assert.ok(after.some((l) => l.startsWith('ping f:') && l.includes(`security.capability=${cap.toString('hex')}`) && l.includes(' 4755 ')), 'file capability and setuid survive chown');
  });

  it('extracts zstd layers and verifies the expected diffId', async () => {
    const bytes = await tarBytes([{ header: { path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 2, mtime: 0 }, body: Buffer.from('hi') }]);
    const zst = execFileSync('zstd', ['-c', '-q'], { input: bytes });
    const dest = tmp('zst');
    const r = await extractLayerFrom(zst, join(dest, 'ok'), { expectedDiffId: sha256(bytes) });
    assert.equal(r.compression, 'zstd');
    assert.equal(readFileSync(join(dest, 'ok/a'), 'utf8'), 'hi');
    await assert.rejects(extractLayerFrom(zst, join(dest, 'bad'), { expectedDiffId: sha256('other') }), /diffId/);
  });

  it('whiteout entries become 0:0 character devices and .wh..wh..opq an opaque xattr', async () => {
    const h = (path: string, type: TarHeader['type'] = 'file'): TarWriteEntry => ({ header: { path, type, mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 } });
    const dest = join(tmp('wh'), 'l');
    await extractLayerFrom(await tarBytes([h('d', 'dir'), h('d/.wh..wh..opq'), h('d/.wh.gone'), h('.wh.top')]), dest);
    assert.ok(lstatSync(join(dest, 'd/gone')).isCharacterDevice());
    assert.equal(lstatSync(join(dest, 'top')).rdev, 0);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(dest, 'd')], { encoding: 'utf8' }), 'y');
  });
});

describe('flattening layers (go-containerregistry mutate testdata)', () => {
  const dir = ['image-archives', 'go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata'];
  const skip = corpusMissing(...dir);
  /** Layers of a docker-save archive, in manifest order, as byte sources. */
  async function archiveLayers(file: string): Promise<Array<() => AsyncIterable<Uint8Array>>> {
    const files = new Map<string, Buffer>();
    for await (const e of readTar(createReadStream(file))) files.set(e.header.path, await readAll(e.body));
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Layers: string[] }>;
    return manifest[0]!.Layers.map((l) => () => Readable.from([files.get(l)!]));
  }
  const view = async (name: string): Promise<string[]> => {
    const tree = await flattenLayers(await archiveLayers(conformancePath(...dir, name)));
    return [...tree.values()].map((e) => `${e.header.path}:${e.header.type}${e.header.linkname ? `->${e.header.linkname}` : ''}`);
  };
  const cases: Array<[string, string[]]> = [
    ['whiteout_image.tar', ['bar.txt:file']],
    ['whiteout_dir.tar', ['a:dir', 'a/baz:file', 'b:dir', 'b/bar:file']],
    ['overwritten_file.tar', ['bar.txt:file', 'foo.txt:symlink->bar.txt']],
  ];
  let passed = 0;
  for (const [name, want] of cases) {
    it(`${name} flattens to ${want.join(', ')}`, { skip }, async () => {
      assert.deepEqual(await view(name), want);
      if (++passed === cases.length) console.log(`flatten testdata: ${passed}/${cases.length} passed`);
    });
  }

  it('opaque directories hide lower content but keep their own layer\'s entries', async () => {
    const e = (path: string, type: TarHeader['type'] = 'file'): TarWriteEntry => ({ header: { path, type, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 } });
    const l1 = await tarBytes([e('d', 'dir'), e('d/old'), e('d/sub', 'dir'), e('d/sub/x'), e('f')]);
    const l2 = await tarBytes([e('d', 'dir'), e('d/.wh..wh..opq'), e('d/new'), e('f', 'dir'), e('f/inside')]);
    const tree = await flattenLayers([() => Readable.from([l1]), () => Readable.from([l2])]);
    assert.deepEqual([...tree.keys()], ['d', 'd/new', 'f', 'f/inside']);
  });
});
