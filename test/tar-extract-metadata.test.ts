/**
 * What an unpacked layer's entries look like on disk, owner, mode and mtime,
 * for the cases where the extractor skips a system call (extract.ts makes a
 * file or directory with its final mode and leaves out the chown when the
 * process already owns it): plain and special modes, other owners, modes the
 * umask would change, setgid directories and their children, directories
 * without write permission, and entries that replace an earlier one. Each
 * table row is checked under umask 022 and under umask 077. Needs root (chown).
 */
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { extractLayerFrom, tarChunks, type TarHeader, type TarWriteEntry } from '../src/tar/index.js';

const isRoot = process.getuid?.() === 0;
const scratch = mkdtempSync(join(tmpdir(), 'sc-extract-meta-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const T = 1_600_000_000;
const h = (path: string, type: TarHeader['type'], mode: number, uid = 0, gid = 0, extra: Partial<TarHeader> = {}): TarHeader =>
  ({ path, type, mode, uid, gid, size: 0, mtime: T, ...extra });
const file = (path: string, mode: number, uid = 0, gid = 0, body = `${path}\n`, mtime = T): TarWriteEntry =>
  ({ header: h(path, 'file', mode, uid, gid, { size: Buffer.byteLength(body), mtime }), body: Buffer.from(body) });
const dir = (path: string, mode: number, uid = 0, gid = 0, mtime = T): TarWriteEntry => ({ header: h(path, 'dir', mode, uid, gid, { mtime }) });
const link = (path: string, target: string, uid = 0, gid = 0): TarWriteEntry => ({ header: h(path, 'symlink', 0o777, uid, gid, { linkname: target }) });

async function tar(entries: TarWriteEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tarChunks(entries)) parts.push(c);
  return Buffer.concat(parts);
}

/** [path, 'type mode uid:gid mtime'] as the extracted tree has them. */
type Want = Record<string, string>;

const cases: Array<{ name: string; entries: TarWriteEntry[]; want: Want; content?: Record<string, string> }> = [
  {
    name: 'plain modes owned by root',
    entries: [dir('d', 0o755), file('d/a', 0o644), file('d/x', 0o755), file('d/ro', 0o400), dir('d/private', 0o700)],
    want: { d: 'd 755 0:0', 'd/a': 'f 644 0:0', 'd/x': 'f 755 0:0', 'd/ro': 'f 400 0:0', 'd/private': 'd 700 0:0' },
  },
  {
    name: 'modes the umask 077 would narrow',
    entries: [dir('pub', 0o775), file('pub/shared', 0o666), file('pub/g', 0o664)],
    want: { pub: 'd 775 0:0', 'pub/shared': 'f 666 0:0', 'pub/g': 'f 664 0:0' },
  },
  {
    name: 'setuid, setgid and sticky bits',
    entries: [file('su', 0o4755), file('sg', 0o2755, 0, 50), dir('tmp', 0o1777), dir('sgd', 0o2775, 0, 50), file('sgd/child', 0o644), dir('sgd/sub', 0o755)],
    // Children of a setgid directory keep the group the layer gives them: the bit is set after them.
    want: { su: 'f 4755 0:0', sg: 'f 2755 0:50', tmp: 'd 1777 0:0', sgd: 'd 2775 0:50', 'sgd/child': 'f 644 0:0', 'sgd/sub': 'd 755 0:0' },
  },
  {
    name: 'other owners',
    entries: [dir('home', 0o755), dir('home/u', 0o750, 1000, 1000), file('home/u/f', 0o640, 1000, 1000), file('home/u/g', 0o644, 0, 1000), link('home/u/l', 'f', 1000, 1000), file('home/u/s', 0o4750, 1000, 1000)],
    want: { home: 'd 755 0:0', 'home/u': 'd 750 1000:1000', 'home/u/f': 'f 640 1000:1000', 'home/u/g': 'f 644 0:1000', 'home/u/l': 'l 1000:1000', 'home/u/s': 'f 4750 1000:1000' },
  },
  {
    name: 'directories without write permission still get their children',
    entries: [dir('ro', 0o555), file('ro/f', 0o444), dir('ro/sub', 0o500), file('ro/sub/g', 0o400), dir('none', 0o000), file('none/h', 0o600)],
    want: { ro: 'd 555 0:0', 'ro/f': 'f 444 0:0', 'ro/sub': 'd 500 0:0', 'ro/sub/g': 'f 400 0:0', none: 'd 0 0:0', 'none/h': 'f 600 0:0' },
  },
  {
    name: 'later entries replace earlier ones (file over file, symlink over file, file over symlink, dir entry again)',
    entries: [
      dir('r', 0o755), file('r/f', 0o600, 0, 0, 'old\n'), file('r/f', 0o644, 7, 7, 'new\n'),
      file('r/l', 0o644), link('r/l', 'f'),
      link('r/m', 'f'), file('r/m', 0o640, 0, 0, 'm\n'),
      dir('r/d', 0o700), file('r/d/keep', 0o644), dir('r/d', 0o755, 5, 5),
    ],
    want: { r: 'd 755 0:0', 'r/f': 'f 644 7:7', 'r/l': 'l 0:0', 'r/m': 'f 640 0:0', 'r/d': 'd 755 5:5', 'r/d/keep': 'f 644 0:0' },
    content: { 'r/f': 'new\n', 'r/m': 'm\n', 'r/l': '->f' },
  },
  {
    name: 'a file over a directory and a directory over a file',
    entries: [dir('x', 0o755), file('x/in', 0o644), file('x', 0o644, 0, 0, 'x\n'), file('y', 0o644), dir('y', 0o711)],
    want: { x: 'f 644 0:0', y: 'd 711 0:0' },
  },
  {
    name: 'parents that have no entry of their own, and mtimes',
    entries: [file('a/b/c', 0o644, 0, 0, 'c\n', 1_000_000_000), dir('a', 0o750, 0, 0, 1_100_000_000)],
    want: { a: 'd 750 0:0', 'a/b': 'd 755 0:0', 'a/b/c': 'f 644 0:0' },
  },
];

function describeEntry(p: string): string {
  const st = lstatSync(p);
  const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : '?';
  if (kind === 'l') return `l ${st.uid}:${st.gid}`;
  return `${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
}

describe('extracted entries get the owner, mode and mtime of their tar header', { skip: isRoot ? false : 'needs root (chown)' }, () => {
  for (const umask of [0o022, 0o077]) {
    for (const c of cases) {
      it(`${c.name} (umask ${umask.toString(8).padStart(3, '0')})`, async () => {
        const dest = join(scratch, `${c.name.replace(/\W+/g, '-')}-${umask.toString(8)}`);
        const old = process.umask(umask);
        try {
          await extractLayerFrom(await tar(c.entries), dest);
        } finally {
          process.umask(old);
        }
        for (const [rel, want] of Object.entries(c.want)) assert.equal(describeEntry(join(dest, rel)), want, rel);
        for (const [rel, want] of Object.entries(c.content ?? {})) {
          const p = join(dest, rel);
          assert.equal(want.startsWith('->') ? `->${readlinkSync(p)}` : readFileSync(p, 'utf8'), want, rel);
        }
        // Every entry's mtime is its header's (directories after their children were made).
        const lastHeader = new Map<string, TarHeader>();
        for (const e of c.entries) lastHeader.set(e.header.path, e.header);
        for (const [rel, hdr] of lastHeader) {
          if (!(rel in c.want)) continue;
          assert.equal(Math.floor(lstatSync(join(dest, rel)).mtimeMs / 1000), hdr.mtime, `${rel} mtime`);
        }
      });
    }
  }

  it('in a setgid destination, entries still get the group of their header', async () => {
    const dest = join(scratch, 'setgid-dest');
    mkdirSync(dest);
    chmodSync(dest, 0o2755);
    await extractLayerFrom(await tar([file('f', 0o644), dir('d', 0o755), file('d/g', 0o644), link('l', 'f')]), dest);
    for (const rel of ['f', 'd', 'd/g', 'l']) {
      const st = lstatSync(join(dest, rel));
      assert.equal(`${st.uid}:${st.gid}`, '0:0', rel);
    }
    assert.equal(lstatSync(join(dest, 'd')).mode & 0o7777, 0o755);
  });
});
