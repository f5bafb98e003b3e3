/**
 * The one layer walker, by property: for random overlay-style trees (whiteouts
 * as 0:0 devices and as xwhiteout files, opaque dirs in trusted.* and user.*
 * form, hardlinks, xattrs, devices with large numbers, fifos, symlinks,
 * non-ASCII and long names, big ids, pre-1970 mtimes):
 *  - the commit's digest (digestLayerDir) equals the bytes the store
 *    regenerates from the committed dir (layerTar) and the tar-writer path
 *    (tarChunks(dirToLayerEntries));
 *  - the entries are the ones an independent model of the format expects
 *    (order, whiteout names, opaque markers, hardlinks, device numbers, no
 *    trusted.* or user.overlay.* xattr);
 *  - extracting that tar as a lower dir and walking it again gives the same
 *    bytes (a pulled/unpacked layer regenerates its own diffId).
 * Also: memory stays flat for a 1 GiB file, and a file that changes size
 * while it is archived is an error. Needs root (mknod, chown, trusted.*).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, lchownSync, linkSync, lutimesSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { digestLayerDir } from '../src/build/commit.js';
import { sha256 } from '../src/oci/index.js';
import { Store } from '../src/store/index.js';
import { dirToLayerEntries, extractLayerFrom, layerDirTar, readTar, tarChunks, walkLayerDir, writeLayerEntries, writeLayerFromDir, type LayerDirEntry, type TarHeader } from '../src/tar/index.js';

const isRoot = process.getuid?.() === 0;
const TOTAL = 3;
let passed = 0;
const base = mkdtempSync(join(tmpdir(), 'sc-layerprop-'));
after(() => {
  rmSync(base, { recursive: true, force: true });
  console.log(`layer walker properties: ${passed}/${TOTAL} passed`);
});

type Leaf =
  | { kind: 'file'; size: number; mode: number; owner: number; mtime: number; xattrs: string[] }
  | { kind: 'symlink'; target: string; owner: number; mtime: number }
  | { kind: 'whiteout'; mtime: number }
  | { kind: 'xwhiteout'; mtime: number }
  | { kind: 'chardev' | 'blockdev'; major: number; minor: number; mode: number; mtime: number }
  | { kind: 'fifo'; mode: number; mtime: number }
  | { kind: 'hardlink'; to: number };
type Dir = { kind: 'dir'; mode: number; owner: number; mtime: number; opaque: 'trusted' | 'user' | 'x' | 'none'; xattrs: string[]; children: Array<[string, Node]> };
type Node = Leaf | Dir;

// 'ｱ' (U+FF71) sorts after '😀' in UTF-16 but before it in UTF-8 bytes: the walk must use bytes.
const name = fc.oneof(
  fc.constantFrom('a', 'b', 'B', 'a.b', 'a-b', '_', 'é', 'ü', 'ｱ', '😀', 'sp ace', '.hidden', 'n'.repeat(120)),
  fc.stringMatching(/^[a-z0-9._-]{1,8}$/).filter((n) => n !== '.' && n !== '..' && !n.startsWith('.wh.')),
);
const owner = fc.constantFrom(0, 1000, 65534, 3_000_000);
const mtime = fc.oneof(fc.constantFrom(0, 1_600_000_000, -86_400 * 400 - 1), fc.integer({ min: 1, max: 4_000_000_000 }));
const xattrNames = fc.uniqueArray(fc.constantFrom('user.note', 'security.capability', 'trusted.host', 'trusted.overlay.origin', 'user.overlay.impure'), { maxLength: 3 });
const leaf: fc.Arbitrary<Leaf> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('file' as const), size: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(511, 512, 513, (1 << 20) - 600, (1 << 20) + 7)), mode: fc.constantFrom(0o644, 0o600, 0o4755, 0o2711, 0o1777, 0), owner, mtime, xattrs: xattrNames }) },
  fc.record({ kind: fc.constant('symlink' as const), target: fc.constantFrom('a', '../b', '/etc/passwd', 'n'.repeat(150), 'é/ü'), owner, mtime }),
  fc.record({ kind: fc.constant('whiteout' as const), mtime }),
  fc.record({ kind: fc.constant('xwhiteout' as const), mtime }),
  fc.record({ kind: fc.constantFrom('chardev' as const, 'blockdev' as const), major: fc.oneof(fc.constantFrom(1, 259, 4095), fc.integer({ min: 0, max: 4095 })), minor: fc.oneof(fc.constantFrom(3, 255, 256, 70000, 1048575), fc.integer({ min: 0, max: 1048575 })), mode: fc.constantFrom(0o600, 0o666), mtime }),
  fc.record({ kind: fc.constant('fifo' as const), mode: fc.constantFrom(0o644, 0o600), mtime }),
  fc.record({ kind: fc.constant('hardlink' as const), to: fc.nat() }),
);
const tree = fc.letrec<{ dir: Dir; node: Node }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('dir')),
  dir: fc.record({
    kind: fc.constant('dir' as const),
    mode: fc.constantFrom(0o755, 0o700, 0o1777, 0o2755),
    owner,
    mtime,
    opaque: fc.constantFrom('trusted' as const, 'user' as const, 'x' as const, 'none' as const, 'none' as const),
    xattrs: fc.uniqueArray(fc.constantFrom('user.note', 'trusted.host'), { maxLength: 1 }),
    children: fc.uniqueArray(fc.tuple(name, tie('node')), { selector: ([n]) => n, maxLength: 5 }),
  }),
}));

const cap = '0100000200200000000000000000000000000000';
const xattrValue = (n: string): string => (n === 'security.capability' ? `0x${cap}` : n === 'trusted.overlay.opaque' ? 'y' : `0x${Buffer.from(`v-${n}`).toString('hex')}`);
const setfattr = (p: string, n: string, v: string): void => { execFileSync('setfattr', ['-h', '-n', n, '-v', v, p]); };

/** Makes the tree on disk: content, then links, then owners/modes/xattrs/mtimes (dirs last, deepest first). */
function materialise(root: string, top: Dir): void {
  mkdirSync(root, { recursive: true });
  const files: string[] = [];
  const links: Array<[string, number]> = [];
  const finish: Array<() => void> = [];
  const make = (abs: string, n: Node, depth: number): void => {
    switch (n.kind) {
      case 'dir':
        if (depth > 0) mkdirSync(abs);
        for (const [c, child] of n.children) make(join(abs, c), child, depth + 1);
        finish.push(() => {
          if (depth === 0) return;
          chownSync(abs, n.owner, n.owner);
          chmodSync(abs, n.mode);
          if (n.opaque !== 'none') setfattr(abs, `${n.opaque === 'user' ? 'user' : 'trusted'}.overlay.opaque`, n.opaque === 'x' ? 'x' : 'y');
          for (const x of n.xattrs) setfattr(abs, x, xattrValue(x));
          utimesSync(abs, n.mtime, n.mtime);
        });
        break;
      case 'file': {
        const fd = openSync(abs, 'w');
        if (n.size > 0) writeFileSync(fd, Buffer.alloc(n.size, abs.length % 251));
        closeSync(fd);
        files.push(abs);
        chownSync(abs, n.owner, n.owner);
        chmodSync(abs, n.mode);
        for (const x of n.xattrs) setfattr(abs, x, xattrValue(x));
        utimesSync(abs, n.mtime, n.mtime);
        break;
      }
      case 'symlink':
        symlinkSync(n.target, abs);
        lchownSync(abs, n.owner, n.owner);
        lutimesSync(abs, n.mtime, n.mtime);
        files.push(abs);
        break;
      case 'whiteout':
        execFileSync('mknod', ['-m', '000', abs, 'c', '0', '0']);
        utimesSync(abs, n.mtime, n.mtime);
        break;
      case 'xwhiteout':
        writeFileSync(abs, '');
        setfattr(abs, 'trusted.overlay.whiteout', 'y');
        utimesSync(abs, n.mtime, n.mtime);
        break;
      case 'chardev': case 'blockdev':
        execFileSync('mknod', ['-m', n.mode.toString(8), abs, n.kind === 'chardev' ? 'c' : 'b', String(n.major), String(n.minor)]);
        utimesSync(abs, n.mtime, n.mtime);
        break;
      case 'fifo':
        execFileSync('mknod', ['-m', n.mode.toString(8), abs, 'p']);
        utimesSync(abs, n.mtime, n.mtime);
        break;
      case 'hardlink':
        links.push([abs, n.to]);
        break;
    }
  };
  make(root, top, 0);
  for (const [abs, to] of links) {
    if (files.length === 0) { writeFileSync(abs, 'alone'); utimesSync(abs, 5, 5); continue; }
    linkSync(files[to % files.length]!, abs);
  }
  for (const f of finish.reverse()) f();
}

/** What the format says the layer holds, computed from the spec (not from the disk). */
function model(top: Dir): Array<Pick<TarHeader, 'path' | 'type'> & { linkname?: string; dev?: [number, number]; xattrs?: string[] }> {
  const out: ReturnType<typeof model> = [];
  // hardlink groups: a 'hardlink' node joins the group of the file/symlink it points at
  const linkables: string[] = [];
  const links: Array<[string, number]> = [];
  const collect = (rel: string, n: Node): void => {
    if (n.kind === 'dir') { for (const [c, child] of n.children) collect(rel ? `${rel}/${c}` : c, child); return; }
    if (n.kind === 'file' || n.kind === 'symlink') linkables.push(rel);
    if (n.kind === 'hardlink') links.push([rel, n.to]);
  };
  collect('', top);
  // inode of each path: a linkable is its own; a hardlink shares its target's (or is a lone file)
  const inode = new Map<string, string>();
  for (const p of linkables) inode.set(p, p);
  for (const [p, to] of links) inode.set(p, linkables.length ? linkables[to % linkables.length]! : p);
  const members = new Map<string, number>();
  for (const id of inode.values()) members.set(id, (members.get(id) ?? 0) + 1);
  const first = new Map<string, string>();
  const kept = (xs: string[]): string[] | undefined => {
    const k = xs.filter((x) => !x.startsWith('trusted.') && !x.startsWith('user.overlay.')).sort();
    return k.length ? k : undefined;
  };
  const walk = (rel: string, d: Dir): void => {
    const sorted = [...d.children].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const [c, n] of sorted) {
      const p = rel ? `${rel}/${c}` : c;
      if (n.kind === 'whiteout' || n.kind === 'xwhiteout') { out.push({ path: rel ? `${rel}/.wh.${c}` : `.wh.${c}`, type: 'file' }); continue; }
      if (n.kind === 'dir') {
        out.push({ path: p, type: 'dir', xattrs: kept(n.xattrs) });
        if (n.opaque === 'trusted' || n.opaque === 'user') out.push({ path: `${p}/.wh..wh..opq`, type: 'file' });
        walk(p, n);
        continue;
      }
      const id = inode.get(p);
      if (id !== undefined && members.get(id)! > 1) {
        const f = first.get(id);
        if (f !== undefined) { out.push({ path: p, type: 'hardlink', linkname: f }); continue; }
        first.set(id, p);
      }
      const t = id === undefined || id === p ? n : nodeAt(top, id);
      if (t.kind === 'hardlink') out.push({ path: p, type: 'file' }); // a lone hardlink node is a plain file
      else if (t.kind === 'file') out.push({ path: p, type: 'file', xattrs: kept(t.xattrs) });
      else if (t.kind === 'symlink') out.push({ path: p, type: 'symlink', linkname: t.target });
      else if (t.kind === 'chardev' || t.kind === 'blockdev') out.push({ path: p, type: t.kind, dev: [t.major, t.minor] });
      else if (t.kind === 'fifo') out.push({ path: p, type: 'fifo' });
    }
  };
  walk('', top);
  return out;
}

function nodeAt(top: Dir, rel: string): Node {
  let n: Node = top;
  for (const c of rel.split('/')) n = (n as Dir).children.find(([k]) => k === c)![1];
  return n;
}

async function collect(src: AsyncIterable<Uint8Array> | Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('the layer walker', { skip: isRoot ? false : 'needs root for mknod, chown and trusted.* xattrs' }, () => {
  let store: Store;
  let n = 0;

  it('commit, store regeneration, the tar writer and an extract-and-rewalk give the same bytes, in the model\'s order', async () => {
    store = await Store.open(join(base, 'store'));
    await fc.assert(
      fc.asyncProperty(tree.dir, async (top) => {
        const upper = join(store.tmpDir, `upper-${n++}`);
        materialise(upper, top);
        const commit = await digestLayerDir(upper);
        const viaWriter = await collect(tarChunks(dirToLayerEntries(upper)));
        assert.equal(sha256(viaWriter), commit.diffId, 'tar writer path = commit digest');
        for (const scanAhead of [0, 1, 3]) assert.equal((await writeLayerFromDir(upper, undefined, { scanAhead })).diffId, commit.diffId, `scanAhead ${scanAhead}`);
        assert.equal(viaWriter.length, commit.size);

        const got: ReturnType<typeof model> = [];
        for await (const e of readTar(Readable.from([viaWriter]))) {
          const h = e.header;
          got.push({
            path: h.path, type: h.type,
            ...(h.linkname !== undefined ? { linkname: h.linkname } : {}),
            ...(h.type === 'chardev' || h.type === 'blockdev' ? { dev: [h.devmajor!, h.devminor!] as [number, number] } : {}),
            ...(h.xattrs ? { xattrs: Object.keys(h.xattrs).sort() } : {}),
          });
          for await (const _ of e.body) { /* drain */ }
        }
        const want = model(top).map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)));
        assert.deepEqual(got, want);
        assert.equal(commit.entries, want.length);

        if (commit.entries === 0) return;
        await store.commitLayerDir(upper, commit.diffId, commit.size);
        const regenerated = await collect(await store.layerTar(commit.diffId));
        assert.equal(Buffer.compare(regenerated, viaWriter), 0, 'store regeneration = committed bytes');

        const lower = join(base, `lower-${n}`);
        const r = await extractLayerFrom(regenerated, lower);
        assert.equal(r.diffId, commit.diffId);
        assert.equal((await digestLayerDir(lower)).diffId, commit.diffId, 'an unpacked layer walks back to the same bytes');
        rmSync(lower, { recursive: true, force: true });
        await store.layers.remove(commit.diffId);
        rmSync(store.path(commit.diffId), { force: true });
      }),
      { numRuns: Number(process.env.LAYER_PROPERTY_RUNS ?? 25), ...(process.env.LAYER_PROPERTY_SEED ? { seed: Number(process.env.LAYER_PROPERTY_SEED) } : {}) },
    );
    passed++;
  });

  it('memory stays flat for a 1 GiB file, committed and streamed through a slow reader', async () => {
    const dir = join(base, 'huge');
    mkdirSync(dir);
    const f = join(dir, 'sparse.bin');
    writeFileSync(f, '');
    truncateSync(f, 1 << 30);
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    try {
      const d = await digestLayerDir(dir);
      let size = 0;
      const slow = new Writable({ highWaterMark: 1 << 16, write(c: Buffer, _e, cb) { size += c.length; setImmediate(cb); } });
      await new Promise<void>((resolve, reject) => layerDirTar(dir).on('error', reject).pipe(slow).on('finish', resolve).on('error', reject));
      assert.equal(size, d.size);
      assert.ok(d.size > 1 << 30);
    } finally {
      clearInterval(timer);
    }
    assert.ok(peak - before < 64 * 2 ** 20, `rss grew by ${Math.round((peak - before) / 2 ** 20)} MiB`);
    passed++;
  });

  it('a file that changes size between its lstat and its read is an error, not a corrupt layer', async () => {
    const dir = join(base, 'changing');
    mkdirSync(dir);
    const f = join(dir, 'a');
    const discard = (): Writable => new Writable({ write(_c, _e, cb) { cb(); } });
    /** The walk's entries, with `change` run on the file after its lstat (the walk yields after it). */
    const changing = async (change: () => void): Promise<Iterable<LayerDirEntry>> => {
      const walk = await walkLayerDir(dir);
      return { *[Symbol.iterator]() { for (const e of walk) { change(); yield e; } } };
    };
    for (const [from, to] of [[4000, 100], [4000, 5000], [100, 101], [(1 << 20) + 10, 1 << 20], [1 << 20, (1 << 20) + 1]] as const) {
      writeFileSync(f, Buffer.alloc(from, 1));
      await assert.rejects(writeLayerEntries(await changing(() => truncateSync(f, to)), discard()), (e: Error) => /changed size while the layer was written/.test(e.message), `${from} -> ${to}`);
      writeFileSync(f, Buffer.alloc(from, 1));
      const ok = await writeLayerEntries(await changing(() => undefined));
      assert.equal(ok.entries, 1);
    }
    passed++;
  });
});
