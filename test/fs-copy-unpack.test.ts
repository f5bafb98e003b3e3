import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, readdirSync, readlinkSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, chmodSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { copy } from '../src/fs/copy.js';
import { detectArchive, isTarHeader } from '../src/fs/copy-unpack.js';
import { modeOf, ownerOf, readTree } from './support/fs-tree.js';

const base = mkdtempSync(join(tmpdir(), 'sc-unpack-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A context holding `payload/` packed as every archive kind, plus decoys. */
function makeContext(): { ctx: string; dst: string } {
  n++;
  const ctx = join(base, `ctx${n}`);
  const dst = join(base, `dst${n}`);
  mkdirSync(dst);
  const src = join(base, `payload${n}`);
  mkdirSync(join(src, 'app/bin'), { recursive: true });
  writeFileSync(join(src, 'app/bin/tool'), '#!/bin/sh\n');
  chmodSync(join(src, 'app/bin/tool'), 0o4755);
  writeFileSync(join(src, 'app/data.txt'), 'data');
  linkSync(join(src, 'app/data.txt'), join(src, 'app/data-link.txt'));
  symlinkSync('bin/tool', join(src, 'app/run'));
  chownSync(join(src, 'app/data.txt'), 1000, 1001);
  chownSync(join(src, 'app/bin'), 1000, 1001);
  utimesSync(join(src, 'app/data.txt'), 1_600_000_000, 1_600_000_000);
  utimesSync(join(src, 'app/bin'), 1_500_000_000, 1_500_000_000);
  mkdirSync(ctx);
  execFileSync('tar', ['-C', src, '--numeric-owner', '-cf', join(ctx, 'plain.tar'), 'app']);
  execFileSync('sh', ['-c', 'gzip -c plain.tar > a.tar.gz && bzip2 -c plain.tar > a.tar.bz2 && xz -c plain.tar > a.tar.xz && zstd -q -c plain.tar > a.tar.zst'], { cwd: ctx });
  writeFileSync(join(ctx, 'empty.tar.gz'), '');
  writeFileSync(join(ctx, 'notes.tar'), 'just text, not a tar at all'.repeat(30));
  execFileSync('sh', ['-c', 'echo hello | gzip -c > text.gz'], { cwd: ctx });
  return { ctx, dst };
}

describe('detectArchive', () => {
  it('detects by content, never by name', async () => {
    const { ctx } = makeContext();
    const table: Array<[string, string | undefined]> = [
      ['plain.tar', 'tar'], ['a.tar.gz', 'gzip'], ['a.tar.bz2', 'bzip2'], ['a.tar.xz', 'xz'], ['a.tar.zst', 'zstd'],
      ['empty.tar.gz', undefined], ['notes.tar', undefined], ['text.gz', undefined],
    ];
    for (const [f, want] of table) assert.equal(await detectArchive(join(ctx, f)), want, f);
  });
  it('leaves no archive open once it has looked (also when it stops reading a compressed one early)', async () => {
    const { ctx } = makeContext();
    const openInCtx = (): string[] => readdirSync('/proc/self/fd').map((fd) => {
      try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; }
    }).filter((t) => t.startsWith(`${ctx}/`));
    for (const f of ['plain.tar', 'a.tar.gz', 'a.tar.bz2', 'a.tar.xz', 'a.tar.zst', 'empty.tar.gz', 'notes.tar', 'text.gz']) await detectArchive(join(ctx, f));
    // Handles close on the streams' close events: give them a moment.
    for (let i = 0; i < 50 && openInCtx().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(openInCtx(), []);
  });
  it('isTarHeader checks the header checksum', () => {
    assert.equal(isTarHeader(Buffer.alloc(512)), false);
    assert.equal(isTarHeader(Buffer.alloc(100)), false);
  });
});

describe('ADD of local archives (unpackArchives)', () => {
  for (const f of ['plain.tar', 'a.tar.gz', 'a.tar.bz2', 'a.tar.xz', 'a.tar.zst']) {
    it(`ADD ${f} /dest extracts, keeping owners, modes, mtimes and links`, async () => {
      const { ctx, dst } = makeContext();
      const r = await copy({ srcRoot: ctx, destRoot: dst, sources: [f], dest: '/dest', unpackArchives: true });
      assert.deepEqual(readTree(dst), {
        dest: 'd', 'dest/app': 'd', 'dest/app/bin': 'd', 'dest/app/bin/tool': 'f:#!/bin/sh\n',
        'dest/app/data-link.txt': 'f:data', 'dest/app/data.txt': 'f:data', 'dest/app/run': 'l:bin/tool',
      });
      assert.equal(modeOf(join(dst, 'dest/app/bin/tool')), '4755');
      assert.equal(ownerOf(join(dst, 'dest/app/data.txt')), '1000:1001');
      assert.equal(ownerOf(join(dst, 'dest/app/bin')), '1000:1001');
      assert.equal(statSync(join(dst, 'dest/app/data.txt')).mtimeMs, 1_600_000_000_000);
      assert.equal(statSync(join(dst, 'dest/app/bin')).mtimeMs, 1_500_000_000_000);
      assert.equal(lstatSync(join(dst, 'dest/app/data.txt')).ino, lstatSync(join(dst, 'dest/app/data-link.txt')).ino);
      assert.equal(r.files, 3);
    });
  }

  it('merges with what exists, replacing per entry, following image links inside the root', async () => {
    const { ctx, dst } = makeContext();
    mkdirSync(join(dst, 'usr/lib/app'), { recursive: true });
    writeFileSync(join(dst, 'usr/lib/app/data.txt'), 'old');
    writeFileSync(join(dst, 'usr/lib/app/keep'), 'keep');
    symlinkSync('/usr/lib', join(dst, 'lib'));
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['a.tar.gz'], dest: '/lib/', unpackArchives: true });
    assert.equal(readFileSync(join(dst, 'usr/lib/app/data.txt'), 'utf8'), 'data');
    assert.equal(readFileSync(join(dst, 'usr/lib/app/keep'), 'utf8'), 'keep');
    assert.ok(lstatSync(join(dst, 'lib')).isSymbolicLink());
  });

  it('--chown overrides the archive owners', async () => {
    const { ctx, dst } = makeContext();
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['plain.tar'], dest: '/d', unpackArchives: true, chown: { uid: 7, gid: 8 } });
    assert.equal(ownerOf(join(dst, 'd/app/data.txt')), '7:8');
    assert.equal(ownerOf(join(dst, 'd/app/run')), '7:8');
  });

  it('non-archives are copied as files; without unpackArchives (COPY) archives are too', async () => {
    const { ctx, dst } = makeContext();
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['empty.tar.gz', 'notes.tar', 'text.gz'], dest: '/f/', unpackArchives: true });
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['a.tar.gz'], dest: '/c/' });
    assert.deepEqual(Object.keys(readTree(dst)).sort(), ['c', 'c/a.tar.gz', 'f', 'f/empty.tar.gz', 'f/notes.tar', 'f/text.gz']);
  });
});
