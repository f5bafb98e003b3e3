import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { sha256 } from '../src/oci/digest.js';
import { readAll, readTar, tarChunks, type TarHeader, type TarWriteEntry } from '../src/tar/index.js';

async function tarBytes(entries: TarWriteEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tarChunks(entries)) parts.push(c);
  return Buffer.concat(parts);
}

async function readBack(buf: Buffer): Promise<Array<{ header: TarHeader; body: Buffer }>> {
  const out: Array<{ header: TarHeader; body: Buffer }> = [];
  // deliver in odd-sized chunks to exercise the reader's buffering
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 333) chunks.push(buf.subarray(i, i + 333));
  for await (const e of readTar(Readable.from(chunks))) out.push({ header: e.header, body: await readAll(e.body) });
  return out;
}

const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // security.capability v2, cap_net_bind_service
const h = (path: string, extra: Partial<TarHeader> = {}): TarHeader => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000, ...extra });

const sample: TarWriteEntry[] = [
  { header: h('etc', { type: 'dir', mode: 0o755 }) },
  { header: h('etc/hosts', { size: 5 }), body: Buffer.from('hello') },
  { header: h('bin/ping', { size: 3, mode: 0o4755, xattrs: { 'security.capability': cap, 'user.note': Buffer.from([0xff, 0x00, 0x80]) } }), body: Buffer.from('elf') },
  { header: h(`deep/${'d'.repeat(120)}/${'f'.repeat(120)}`, { size: 1 }), body: Buffer.from('x') },
  { header: h(`${'n'.repeat(150)}`, { size: 0 }) },
  { header: h('unicodé/ファイル', { size: 2 }), body: Buffer.from('ok') },
  { header: h('link', { type: 'symlink', linkname: `/${'t'.repeat(200)}` }) },
  { header: h('hard', { type: 'hardlink', linkname: 'etc/hosts' }) },
  { header: h('dev/null', { type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 }) },
  { header: h('dev/sda', { type: 'blockdev', devmajor: 8, devminor: 0, mode: 0o660 }) },
  { header: h('fifo', { type: 'fifo' }) },
  { header: h('bigids', { uid: 3_000_000, gid: 4_000_000, uname: 'someone', gname: 'somegroup' }) },
];

describe('tar format', () => {
  it('round-trips every entry type, long and non-ASCII names, large ids and binary xattrs', async () => {
    const back = await readBack(await tarBytes(sample));
    assert.equal(back.length, sample.length);
    back.forEach((b, i) => {
      const want = sample[i]!;
      const wantHeader = { ...want.header, xattrs: want.header.xattrs && Object.fromEntries(Object.entries(want.header.xattrs).map(([k, v]) => [k, Buffer.from(v)])) };
      if (!wantHeader.xattrs) delete wantHeader.xattrs;
      assert.deepEqual(b.header, wantHeader, want.header.path);
      assert.deepEqual(b.body, want.body === undefined ? Buffer.alloc(0) : Buffer.from(want.body as Uint8Array));
    });
  });

  it('GNU tar reads our output with the same names, links and xattrs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sc-tar-'));
    const file = join(dir, 'l.tar');
    writeFileSync(file, await tarBytes(sample));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' });
    for (const e of sample) assert.ok(listing.includes(e.header.path), `tar -t lists ${e.header.path}`);
    assert.match(listing, /3000000\/4000000/);
    assert.match(listing, /hard link to etc\/hosts/);
    const xattrs = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', file], { encoding: 'utf8' });
    assert.ok(xattrs.includes('bin/ping'), 'xattr listing');
  });

  it('is deterministic: the same entries give the same bytes', async () => {
    assert.equal(sha256(await tarBytes(sample)), sha256(await tarBytes(sample)));
  });

  it('ends with two zero blocks and keeps 512-byte alignment', async () => {
    const buf = await tarBytes(sample);
    assert.equal(buf.length % 512, 0);
    assert.ok(buf.subarray(buf.length - 1024).every((b) => b === 0));
  });

  it('refuses a body whose length differs from the header', async () => {
    await assert.rejects(tarBytes([{ header: h('f', { size: 3 }), body: Buffer.from('toolong') }]), /grew/);
    await assert.rejects(tarBytes([{ header: h('f', { size: 9 }), body: Buffer.from('short') }]), /changed/);
  });

  it('rejects a corrupt header checksum and a truncated stream', async () => {
    const buf = await tarBytes([{ header: h('a', { size: 600 }), body: Buffer.alloc(600, 1) }]);
    const corrupt = Buffer.from(buf);
    corrupt[5] = 0x41;
    await assert.rejects(readBack(corrupt), /checksum/);
    await assert.rejects(readBack(buf.subarray(0, 700)), /unexpected end/);
  });

  it('reads GNU tar output (long names via GNU records, directories, symlinks)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sc-gnutar-'));
    const long = 'x'.repeat(130);
    execFileSync('sh', ['-c', `mkdir -p src/sub && echo hi > src/sub/${long} && ln -s sub src/s && tar --format=gnu -C src -cf g.tar .`], { cwd: dir });
    const back = await readBack(Buffer.from(execFileSync('cat', [join(dir, 'g.tar')])));
    const names = back.map((b) => b.header.path).sort();
    assert.deepEqual(names, ['', 's', 'sub', `sub/${long}`]);
    assert.equal(back.find((b) => b.header.path === `sub/${long}`)?.body.toString(), 'hi\n');
    assert.equal(back.find((b) => b.header.path === 's')?.header.linkname, 'sub');
  });

  it('property: random entry sets round-trip exactly', async () => {
    const seg = fc.stringMatching(/^[a-zA-Z0-9._é -]{1,70}$/).filter((s) => s !== '.' && s !== '..' && !s.startsWith('.wh.'));
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(fc.tuple(fc.array(seg, { minLength: 1, maxLength: 5 }), fc.uint8Array({ maxLength: 700 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 0o7777 })), { selector: ([p]) => p.join('/'), maxLength: 6 }),
      async (spec) => {
        const entries: TarWriteEntry[] = spec.map(([parts, body, uid, mode]) => ({ header: h(parts.join('/'), { size: body.length, uid, gid: uid, mode }), body: Buffer.from(body) }));
        const back = await readBack(await tarBytes(entries));
        assert.deepEqual(back.map((b) => [b.header.path, b.header.uid, b.header.mode, b.body.toString('hex')]), entries.map((e) => [e.header.path, e.header.uid, e.header.mode, Buffer.from(e.body as Uint8Array).toString('hex')]));
      }), { numRuns: 60 });
  });
});
