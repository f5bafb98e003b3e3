/**
 * Threat: an archive given to ADD writes outside the destination, or through
 * links, onto the build host. Archives are built in code with entries tar(1)
 * would refuse to create.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { after, beforeEach, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/errors.js';
import { copy } from '../../src/fs/copy.js';
import type { TarHeader } from '../../src/tar/header.js';
import { tarChunks } from '../../src/tar/writer.js';

const base = mkdtempSync(join(tmpdir(), 'sc-archive-threat-'));
after(() => rmSync(base, { recursive: true, force: true }));
const host = join(base, 'host');
let ctx: string;
let dst: string;
let n = 0;

function h(path: string, type: TarHeader['type'], extra: Partial<TarHeader> = {}): TarHeader {
  return { path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, ...extra };
}

async function archive(name: string, entries: Array<{ header: TarHeader; body?: Uint8Array }>): Promise<void> {
  await pipeline(Readable.from(tarChunks(entries)), createWriteStream(join(ctx, name)));
}

function file(path: string, content: string): { header: TarHeader; body: Uint8Array } {
  return { header: h(path, 'file', { size: Buffer.byteLength(content) }), body: Buffer.from(content) };
}

function hostIntact(): void {
  assert.deepEqual(readdirSync(host).sort(), ['passwd']);
  assert.equal(readFileSync(join(host, 'passwd'), 'utf8'), 'host-passwd');
}

beforeEach(() => {
  rmSync(host, { recursive: true, force: true });
  mkdirSync(host);
  writeFileSync(join(host, 'passwd'), 'host-passwd');
  n++;
  ctx = join(base, `ctx${n}`);
  dst = join(base, `dst${n}`);
  mkdirSync(ctx);
  mkdirSync(dst);
});

const add = (src: string, dest = '/out/') => copy({ srcRoot: ctx, destRoot: dst, sources: [src], dest, unpackArchives: true });

describe('threat: ADD archive path traversal', () => {
  it('a ../ entry is refused before anything escapes', async () => {
    await archive('evil.tar', [file('ok.txt', 'ok'), file('../../../../../../' + relative('/', join(host, 'pwned')), 'x')]);
    await assert.rejects(add('evil.tar'), (e) => isStagecraftError(e) && /path traversal/.test(e.message));
    hostIntact();
  });

  it('an absolute entry name lands under the destination', async () => {
    await archive('abs.tar', [file(join(host, 'abs-pwned'), 'x')]);
    await add('abs.tar');
    hostIntact();
    assert.ok(existsSync(join(dst, 'out', relative('/', host), 'abs-pwned')));
  });

  it('a symlink entry to a host directory, then a file through it, stays inside the root', async () => {
    await archive('link.tar', [{ header: h('escape', 'symlink', { linkname: host }) }, file('escape/passwd', 'overwritten')]);
    await add('link.tar');
    hostIntact();
    assert.equal(readFileSync(join(dst, relative('/', host), 'passwd'), 'utf8'), 'overwritten');
  });

  it('a relative ../ symlink entry followed by a write through it clamps at the root', async () => {
    await archive('rel.tar', [{ header: h('up', 'symlink', { linkname: '../../../../../../../../' + relative('/', host) }) }, file('up/passwd', 'overwritten')]);
    await add('rel.tar');
    hostIntact();
    assert.equal(readFileSync(join(dst, relative('/', host), 'passwd'), 'utf8'), 'overwritten');
  });

  it('a file entry replacing an existing link is written in place, not through the link', async () => {
    const { symlinkSync } = await import('node:fs');
    mkdirSync(join(dst, 'out'));
    symlinkSync(join(host, 'passwd'), join(dst, 'out/victim'));
    await archive('replace.tar', [file('victim', 'mine')]);
    await add('replace.tar');
    hostIntact();
    assert.equal(readFileSync(join(dst, 'out/victim'), 'utf8'), 'mine');
  });

  it('hardlinks to outside the archive are refused', async () => {
    await archive('hl1.tar', [{ header: h('hl', 'hardlink', { linkname: '../../../../../../../' + relative('/', join(host, 'passwd')) }) }]);
    await assert.rejects(add('hl1.tar'), (e) => isStagecraftError(e) && /outside the archive/.test(e.message));
    await archive('hl2.tar', [{ header: h('hl', 'hardlink', { linkname: join(host, 'passwd') }) }]);
    await assert.rejects(add('hl2.tar'), (e) => isStagecraftError(e) && /target is missing/.test(e.message));
    hostIntact();
  });
});
