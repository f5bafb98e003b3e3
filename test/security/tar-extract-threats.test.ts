import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { extractLayerFrom, tarChunks, type TarHeader, type TarWriteEntry } from '../../src/tar/index.js';

/** Builds a malicious layer in code. */
async function layer(entries: Array<Partial<TarHeader> & { path: string; body?: string }>): Promise<Buffer> {
  const list: TarWriteEntry[] = entries.map((e) => {
    const body = e.body === undefined ? undefined : Buffer.from(e.body);
    const { body: _b, ...rest } = e;
    return { header: { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, ...rest, size: body?.length ?? 0 }, body };
  });
  const parts: Buffer[] = [];
  for await (const c of tarChunks(list)) parts.push(c);
  return Buffer.concat(parts);
}

function sandbox(): { dest: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), 'sc-threat-'));
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside/secret'), 'original');
  return { dest: join(base, 'layer'), outside: join(base, 'outside') };
}

describe('tar extraction threats', () => {
  it('path traversal with ../ is refused and writes nothing outside', async () => {
    const { dest, outside } = sandbox();
    await assert.rejects(extractLayerFrom(await layer([{ path: '../outside/pwned', body: 'x' }]), dest), /escapes the layer root/);
    await assert.rejects(extractLayerFrom(await layer([{ path: 'a/../../outside/pwned', body: 'x' }]), dest), /path traversal/);
    assert.equal(existsSync(join(outside, 'pwned')), false);
  });

  it('absolute paths are confined to the layer root', async () => {
    const { dest, outside } = sandbox();
    await extractLayerFrom(await layer([{ path: `${outside}/secret`, body: 'overwritten' }]), dest);
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'original');
    assert.equal(readFileSync(join(dest, outside, 'secret'), 'utf8'), 'overwritten');
  });

  it('symlink-then-write escape: a file written through an earlier symlink is refused', async () => {
    const { dest, outside } = sandbox();
    await assert.rejects(extractLayerFrom(await layer([{ path: 'evil', type: 'symlink', linkname: outside }, { path: 'evil/pwned', body: 'x' }]), dest), /symlink escape/);
    await assert.rejects(extractLayerFrom(await layer([{ path: 'rel', type: 'symlink', linkname: '../../outside' }, { path: 'rel/secret', body: 'x' }]), join(dest, '2')), /symlink/);
    assert.equal(existsSync(join(outside, 'pwned')), false);
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'original');
  });

  it('symlink-then-replace: a file entry replaces the symlink instead of writing through it', async () => {
    const { dest, outside } = sandbox();
    await extractLayerFrom(await layer([{ path: 'link', type: 'symlink', linkname: join(outside, 'secret') }, { path: 'link', body: 'mine' }]), dest);
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'original');
    assert.ok(lstatSync(join(dest, 'link')).isFile());
  });

  it('hardlink to a file outside the layer is refused', async () => {
    const { dest, outside } = sandbox();
    await assert.rejects(extractLayerFrom(await layer([{ path: 'h', type: 'hardlink', linkname: '../outside/secret' }]), dest), /escapes the layer root/);
    await assert.rejects(extractLayerFrom(await layer([{ path: 'h', type: 'hardlink', linkname: join(outside, 'secret') }]), join(dest, '2')), /not earlier in this layer/);
    await assert.rejects(extractLayerFrom(await layer([{ path: 's', type: 'symlink', linkname: outside }, { path: 'h', type: 'hardlink', linkname: 's/secret' }]), join(dest, '3')), /symlink/);
    assert.equal(lstatSync(join(outside, 'secret')).nlink, 1, 'no new link to the outside file');
  });

  it('device files: rejected or skipped on request, and never created outside the root', { skip: process.getuid?.() === 0 ? false : 'mknod needs root' }, async () => {
    const { dest } = sandbox();
    const dev = await layer([{ path: 'dev/sda', type: 'blockdev', devmajor: 8, devminor: 0, mode: 0o666 }, { path: 'dev/mem', type: 'chardev', devmajor: 1, devminor: 1, mode: 0o666 }]);
    await assert.rejects(extractLayerFrom(dev, join(dest, 'r'), { devices: 'reject' }), /device node/);
    await extractLayerFrom(dev, join(dest, 's'), { devices: 'skip' });
    assert.equal(existsSync(join(dest, 's/dev/sda')), false);
    await extractLayerFrom(dev, join(dest, 'c'));
    assert.ok(lstatSync(join(dest, 'c/dev/sda')).isBlockDevice());
  });

  it('overlay metadata forgery: trusted.* xattrs in a layer are dropped', { skip: process.getuid?.() === 0 ? false : 'trusted.* needs root' }, async () => {
    const { dest } = sandbox();
    await extractLayerFrom(await layer([{ path: 'd', type: 'dir', mode: 0o755, xattrs: { 'trusted.overlay.redirect': Buffer.from('/etc'), 'user.ok': Buffer.from('1') } }]), dest);
    const dump = execFileSync('getfattr', ['-d', '-m', '-', join(dest, 'd')], { encoding: 'utf8' });
    assert.match(dump, /user\.ok/);
    assert.doesNotMatch(dump, /trusted/);
  });

  it('a whiteout cannot name a path outside its directory', async () => {
    const { dest, outside } = sandbox();
    await assert.rejects(extractLayerFrom(await layer([{ path: '../outside/.wh.secret' }]), dest), /escapes/);
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'original');
  });
});

describe('entry path confinement (property)', () => {
  it('any entry name either is refused or resolves inside the root', async () => {
    const fc = (await import('fast-check')).default;
    const { safeRelative } = await import('../../src/tar/index.js');
    const { posix } = await import('node:path');
    const part = fc.constantFrom('..', '.', '', 'a', 'b', '.wh.x', 'étc', '...');
    fc.assert(fc.property(fc.array(part, { maxLength: 8 }), fc.boolean(), (parts, absolute) => {
      const name = (absolute ? '/' : '') + parts.join('/');
      let rel: string;
      try {
        rel = safeRelative(name);
      } catch {
        return; // refused
      }
      const resolved = posix.resolve('/root', rel);
      assert.ok(resolved === '/root' || resolved.startsWith('/root/'), `${name} -> ${resolved}`);
      assert.ok(!rel.split('/').includes('..'));
    }), { numRuns: 2000 });
  });
});
