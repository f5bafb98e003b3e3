/**
 * writeLayerFromUpper on hand-made upper dirs holding everything an upper can
 * hold: whiteouts, opaque dirs (trusted.* and user.* forms), hardlinks,
 * devices, fifos, symlinks, xattrs (binary too), long and non-ASCII names, big
 * ids. Checked with tar-stream and with GNU tar (an independent reader).
 * Needs root (mknod, trusted.* xattrs, chown).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { rootSkipReason, layerOf, mknodWhiteout, setXattr, tempDir } from './runtime-fixtures.js';

const skip = rootSkipReason();
let passed = 0;
const TOTAL = 7;

describe('layer from an upper dir', { skip }, () => {
  let base: string;
  let upper: string;
  const longDir = 'deep/' + 'segment-of-a-long-path/'.repeat(8);
  const longName = 'f'.repeat(120);
  const caps = '0100000200200000000000000000000000000000';

  before(async () => {
    base = await tempDir('diff');
    upper = path.join(base, 'upper');
    await fs.mkdir(path.join(upper, 'etc'), { recursive: true });
    await fs.writeFile(path.join(upper, 'etc/conf'), 'conf\n');
    mknodWhiteout(path.join(upper, 'etc/removed'));
    mknodWhiteout(path.join(upper, 'gone-dir'));
    await fs.mkdir(path.join(upper, 'opq-trusted'));
    setXattr(path.join(upper, 'opq-trusted'), 'trusted.overlay.opaque', '79');
    await fs.writeFile(path.join(upper, 'opq-trusted/kept'), 'k');
    await fs.mkdir(path.join(upper, 'opq-user'));
    setXattr(path.join(upper, 'opq-user'), 'user.overlay.opaque', '79');
    await fs.mkdir(path.join(upper, 'not-opaque-x'));
    setXattr(path.join(upper, 'not-opaque-x'), 'trusted.overlay.opaque', '78');
    setXattr(path.join(upper, 'etc'), 'trusted.overlay.origin', '00fb');
    await fs.writeFile(path.join(upper, 'hard-a'), 'same inode');
    await fs.link(path.join(upper, 'hard-a'), path.join(upper, 'hard-b'));
    await fs.symlink('../etc/conf', path.join(upper, 'link'));
    execFileSync('mknod', [path.join(upper, 'nulldev'), 'c', '1', '3']);
    execFileSync('mknod', [path.join(upper, 'blockdev'), 'b', '259', '70000']);
    execFileSync('mkfifo', [path.join(upper, 'fifo')]);
    await fs.writeFile(path.join(upper, 'ping'), 'binary');
    setXattr(path.join(upper, 'ping'), 'security.capability', caps);
    setXattr(path.join(upper, 'ping'), 'user.note', Buffer.from('hello').toString('hex'));
    await fs.mkdir(path.join(upper, longDir), { recursive: true });
    await fs.writeFile(path.join(upper, longDir, longName), 'long');
    await fs.writeFile(path.join(upper, 'héllo-ü'), 'utf8 name');
    await fs.writeFile(path.join(upper, 'setuid'), '#!/bin/sh\n', { mode: 0o755 });
    await fs.chmod(path.join(upper, 'setuid'), 0o4755);
    await fs.writeFile(path.join(upper, 'big-owner'), 'x');
    await fs.chown(path.join(upper, 'big-owner'), 3_000_000, 4_000_000);
    await fs.writeFile(path.join(upper, 'large'), Buffer.alloc(3 * 1024 * 1024 + 5, 0xab));
    await fs.utimes(path.join(upper, 'etc/conf'), 1_700_000_000, 1_700_000_000);
  });

  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
    console.log(`upper diff: ${passed}/${TOTAL} passed`);
  });

  it('emits sorted entries with OCI whiteouts and opaque markers', async () => {
    const { items, info } = await layerOf(upper);
    const names = items.map((i) => i.name);
    const expectedTop = [
      // a whiteout stands where the name it deletes sorts (as filepath.Walk over the upper dir gives it)
      'big-owner', 'blockdev', 'deep/', 'etc/', 'etc/conf', 'etc/.wh.removed', 'fifo', '.wh.gone-dir', 'hard-a', 'hard-b',
      'héllo-ü', 'large', 'link', 'not-opaque-x/', 'nulldev', 'opq-trusted/', 'opq-trusted/.wh..wh..opq', 'opq-trusted/kept',
      'opq-user/', 'opq-user/.wh..wh..opq', 'ping', 'setuid',
    ];
    assert.deepEqual(names.filter((n) => !n.startsWith('deep/') || n === 'deep/'), expectedTop);
    assert.ok(names.includes(`${longDir}${longName}`), 'long path kept whole');
    assert.equal(info.entries, items.length);
    assert.ok(!names.some((n) => n.includes('opq') && n.startsWith('not-opaque-x/')), "opaque='x' is not opaque");
    passed++;
  });

  it('keeps modes, owners, mtimes, links, devices and content', async () => {
    const { items } = await layerOf(upper);
    const by = new Map(items.map((i) => [i.name, i]));
    assert.equal(by.get('etc/conf')!.content.toString(), 'conf\n');
    assert.equal(by.get('hard-a')!.type, 'file');
    assert.equal(by.get('hard-b')!.type, 'link');
    assert.equal(by.get('hard-b')!.linkname, 'hard-a');
    assert.equal(by.get('link')!.type, 'symlink');
    assert.equal(by.get('link')!.linkname, '../etc/conf');
    assert.equal(by.get('nulldev')!.type, 'character-device');
    assert.deepEqual([by.get('nulldev')!.devmajor, by.get('nulldev')!.devminor], [1, 3]);
    assert.equal(by.get('blockdev')!.type, 'block-device');
    assert.deepEqual([by.get('blockdev')!.devmajor, by.get('blockdev')!.devminor], [259, 70000]);
    assert.equal(by.get('fifo')!.type, 'fifo');
    assert.equal(by.get('setuid')!.mode, 0o4755);
    // tar-stream applies only path/linkpath from PAX; the ids are in the PAX records (GNU tar applies them, below).
    assert.equal(by.get('big-owner')!.pax?.['uid'], '3000000');
    assert.equal(by.get('big-owner')!.pax?.['gid'], '4000000');
    assert.equal(by.get('héllo-ü')!.content.toString(), 'utf8 name');
    const large = by.get('large')!;
    assert.equal(large.size, 3 * 1024 * 1024 + 5);
    assert.ok(large.content.every((b) => b === 0xab));
    assert.equal(by.get('etc/.wh.removed')!.type, 'file');
    assert.equal(by.get('etc/.wh.removed')!.size, 0);
    passed++;
  });

  it('keeps xattrs except overlay ones', async () => {
    const { items } = await layerOf(upper);
    const by = new Map(items.map((i) => [i.name, i]));
    assert.equal(by.get('ping')!.pax?.['SCHILY.xattr.user.note'], 'hello');
    assert.ok(by.get('ping')!.pax?.['SCHILY.xattr.security.capability'] !== undefined);
    for (const i of items) {
      for (const k of Object.keys(i.pax ?? {})) assert.ok(!k.includes('overlay'), `${i.name} carries ${k}`);
    }
    passed++;
  });

  it('is read back by GNU tar with binary xattrs intact', async () => {
    const { buf } = await layerOf(upper);
    const tarPath = path.join(base, 'layer.tar');
    await fs.writeFile(tarPath, buf);
    const out = path.join(base, 'gnu-extract');
    await fs.mkdir(out);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarPath, '-C', out]);
    const got = execFileSync('getfattr', ['--absolute-names', '-n', 'security.capability', '-e', 'hex', path.join(out, 'ping')], { encoding: 'utf8' });
    assert.match(got, new RegExp(`security.capability=0x${caps}`));
    const st = await fs.stat(path.join(out, 'big-owner'));
    assert.equal(st.uid, 3_000_000);
    assert.equal((await fs.stat(path.join(out, 'etc/conf'))).mtimeMs, 1_700_000_000_000);
    assert.equal(await fs.readFile(path.join(out, longDir, longName), 'utf8'), 'long');
    const hardA = await fs.stat(path.join(out, 'hard-a'));
    assert.equal(hardA.nlink, 2);
    const listing = execFileSync('tar', ['-tvf', tarPath], { encoding: 'utf8' });
    assert.match(listing, /\.wh\.\.wh\.\.opq/);
    passed++;
  });

  it('is deterministic and its diffId is the sha256 of the bytes', async () => {
    const a = await layerOf(upper);
    const b = await layerOf(upper);
    assert.equal(a.info.diffId, b.info.diffId);
    assert.ok(a.buf.equals(b.buf));
    assert.equal(a.info.diffId, `sha256:${createHash('sha256').update(a.buf).digest('hex')}`);
    assert.equal(a.info.size, a.buf.length);
    assert.equal(a.buf.length % 512, 0);
    passed++;
  });

  it('exclude leaves out a path and everything below it', async () => {
    const { items } = await layerOf(upper, { exclude: (p) => p === 'etc' || p === 'large' });
    const names = items.map((i) => i.name);
    assert.ok(!names.some((n) => n.startsWith('etc/') || n === 'large'));
    assert.ok(names.includes('ping'));
    passed++;
  });

  it('an empty upper gives an empty tar (two zero blocks)', async () => {
    const empty = path.join(base, 'empty');
    await fs.mkdir(empty);
    const { buf, items, info } = await layerOf(empty);
    assert.equal(buf.length, 1024);
    assert.deepEqual(items, []);
    assert.equal(info.entries, 0);
    passed++;
  });
});
