/**
 * The system-call helper (src/util/syscall-helper.ts) stands in for mount,
 * umount and getfattr: it must serve exactly the argument forms stagecraft
 * uses, leave every other form to the real tool, and give the same results as
 * the real tools (mount table, error classes, getfattr's dump) on real
 * overlay mounts and real xattrs. Needs root, perl, util-linux and attr.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { fastRequest, trySyscall } from '../src/util/syscall-helper.js';
import { spawnDirect } from '../src/util/helper-shell.js';
import { parseGetfattrDump } from '../src/tar/xattrs.js';

const TOTAL = 7;
let passed = 0;
after(() => console.log(`syscall helper: ${passed}/${TOTAL} passed`));

const isRoot = process.getuid?.() === 0;

function mountedAt(target: string): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === target) return f[5];
  }
  return undefined;
}

describe('syscall helper', () => {
  it('serves only the forms stagecraft uses (table)', () => {
    const served: Array<[string, string[], string | undefined, object]> = [
      ['/usr/bin/mount', ['-t', 'overlay', 'overlay', '-o', 'lowerdir=0,upperdir=u,workdir=w', '/m'], '/links',
        { op: 'mount', cwd: '/links', source: 'overlay', target: '/m', fstype: 'overlay', flags: 0, data: 'lowerdir=0,upperdir=u,workdir=w' }],
      ['mount', ['-r', '-t', 'overlay', 'overlay', '-o', 'lowerdir=0:1', '/m'], undefined,
        { op: 'mount', cwd: '/', source: 'overlay', target: '/m', fstype: 'overlay', flags: 1, data: 'lowerdir=0:1' }],
      ['umount', ['/m'], undefined, { op: 'umount', target: '/m', flags: 0 }],
      ['/bin/umount', ['-l', '/m'], undefined, { op: 'umount', target: '/m', flags: 2 }],
      ['getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', '/a'], undefined, { op: 'xattrs', recursive: true, paths: ['/a'] }],
      ['getfattr', ['-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', '/a', '/b c'], undefined, { op: 'xattrs', recursive: false, paths: ['/a', '/b c'] }],
      ['getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', '/a'], undefined, { op: 'xattrs', recursive: false, paths: ['/a'] }],
      ['/bin/sync', ['-f', '/var/lib/stagecraft'], undefined, { op: 'syncfs', path: '/var/lib/stagecraft' }],
    ];
    for (const [cmd, args, cwd, want] of served) assert.deepEqual(fastRequest(cmd, args, cwd), want, `${cmd} ${args.join(' ')}`);
    const notServed: Array<[string, string[]]> = [
      ['mount', ['-t', 'overlay', 'overlay', '/m']],
      ['mount', ['-t', 'overlay', 'overlay', '-o', 'x', 'relative']],
      ['mount', ['--bind', '/a', '/b']],
      ['umount', ['-f', '/m']],
      ['umount', ['relative']],
      ['getfattr', ['-d', '/a']],
      ['getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', '/a']], // -R without -P follows symlinks
      ['getfattr', ['-h', '-d', '-m', 'user', '-e', 'hex', '--absolute-names', '--', '/a']],
      ['getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', 'rel']],
      ['getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--']],
      ['setfattr', ['-h', '--restore=-']],
      ['sync', []],
      ['sync', ['-f', 'relative']],
      ['runc', ['delete', '-f', 'x']],
    ];
    for (const [cmd, args] of notServed) assert.equal(fastRequest(cmd, args, undefined), undefined, `${cmd} ${args.join(' ')}`);
    passed++;
  });

  it('syncs a filesystem (sync -f), and fails on a missing path as sync does', { skip: !isRoot && 'needs root' }, async () => {
    const ok = await trySyscall('sync', ['-f', tmpdir()]);
    assert.deepEqual(ok && { code: ok.code, stderr: ok.stderr }, { code: 0, stderr: '' });
    const bad = await trySyscall('sync', ['-f', '/nonexistent-stagecraft-path']);
    const real = await spawnDirect('sync', ['-f', '/nonexistent-stagecraft-path']);
    assert.notEqual(bad?.code, 0);
    assert.notEqual(real.code, 0);
    assert.match(bad!.stderr, /No such file or directory/);
    passed++;
  });

  it('leaves unserved commands to the caller', { skip: !isRoot && 'needs root' }, () => {
    assert.equal(trySyscall('printf', ['x']), undefined);
    assert.equal(trySyscall('umount', ['-f', '/nowhere']), undefined);
    passed++;
  });

  it('mounts and unmounts an overlay (writable and read-only) as mount(8) does', { skip: !isRoot && 'needs root' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sc-syscall-'));
    try {
      for (const d of ['l1', 'l2', 'u', 'w', 'm', 'links']) mkdirSync(join(dir, d));
      writeFileSync(join(dir, 'l1', 'a'), 'from l1');
      writeFileSync(join(dir, 'l2', 'b'), 'from l2');
      symlinkSync(join(dir, 'l1'), join(dir, 'links', '0'));
      symlinkSync(join(dir, 'l2'), join(dir, 'links', '1'));
      symlinkSync(join(dir, 'u'), join(dir, 'links', 'u'));
      symlinkSync(join(dir, 'w'), join(dir, 'links', 'w'));
      const target = join(dir, 'm');
      // Relative lower names resolve against the cwd given, as overlay.ts relies on.
      const rw = await trySyscall('mount', ['-t', 'overlay', 'overlay', '-o', 'lowerdir=0:1,upperdir=u,workdir=w,index=off', target], join(dir, 'links'));
      assert.ok(rw, 'served');
      assert.equal(rw.code, 0, rw.stderr);
      assert.equal(mountedAt(target), 'rw,relatime');
      assert.equal(readFileSync(join(target, 'a'), 'utf8'), 'from l1');
      assert.equal(readFileSync(join(target, 'b'), 'utf8'), 'from l2');
      writeFileSync(join(target, 'c'), 'new');
      const un = await trySyscall('umount', [target]);
      assert.equal(un?.code, 0, un?.stderr);
      assert.equal(mountedAt(target), undefined);
      assert.equal(readFileSync(join(dir, 'u', 'c'), 'utf8'), 'new');

      const ro = await trySyscall('mount', ['-r', '-t', 'overlay', 'overlay', '-o', 'lowerdir=0:1', target], join(dir, 'links'));
      assert.equal(ro?.code, 0, ro?.stderr);
      assert.match(mountedAt(target) ?? '', /^ro\b/);
      const lazy = await trySyscall('umount', ['-l', target]);
      assert.equal(lazy?.code, 0, lazy?.stderr);
      assert.equal(mountedAt(target), undefined);
      passed++;
    } finally {
      await spawnDirect('umount', ['-l', join(dir, 'm')]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails the way the callers recognise, as the real tools do', { skip: !isRoot && 'needs root' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sc-syscall-'));
    try {
      const target = join(dir, 'm');
      mkdirSync(target);
      const cases: Array<[string, string[], RegExp]> = [
        ['umount', [target], /not mounted/i],
        // mount(8) says "wrong fs type" here; overlay.ts then looks in /proc/filesystems either way.
        ['mount', ['-t', 'no-such-fs', 'overlay', '-o', 'lowerdir=x', target], /unknown filesystem type|wrong fs type/i],
        ['mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${join(dir, 'missing')}`, target], /./],
      ];
      for (const [cmd, args, pattern] of cases) {
        const fast = await trySyscall(cmd, args, dir);
        const real = await spawnDirect(cmd, args, { cwd: dir });
        assert.ok(fast, `${cmd} served`);
        assert.notEqual(fast.code, 0);
        assert.notEqual(real.code, 0);
        assert.match(fast.stderr, pattern, `syscall ${cmd}: ${fast.stderr}`);
        assert.match(real.stderr, pattern, `real ${cmd}: ${real.stderr}`);
      }
      passed++;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a tree of xattrs exactly as getfattr -R does (property)', { skip: !isRoot && 'needs root' }, async () => {
    const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => !s.includes('/') && !s.includes('\0') && s !== '.' && s !== '..' && Buffer.byteLength(s) <= 200);
    const value = fc.uint8Array({ maxLength: 40 });
    const attrs = fc.dictionary(fc.constantFrom('user.a', 'user.b b', 'trusted.overlay.opaque', 'trusted.x', 'user.\u00e9'), value, { maxKeys: 3 });
    const entry = fc.record({ name, dir: fc.boolean(), attrs, sub: fc.array(fc.record({ name, attrs }), { maxLength: 3 }) });
    await fc.assert(fc.asyncProperty(fc.uniqueArray(entry, { selector: (e) => e.name, maxLength: 6 }), async (entries) => {
      const root = mkdtempSync(join(tmpdir(), 'sc-xattr-'));
      try {
        const set: Array<[string, string, Uint8Array]> = [];
        for (const e of entries) {
          const p = join(root, e.name);
          if (e.dir) {
            mkdirSync(p);
            const seen = new Set<string>();
            for (const s of e.sub) {
              if (seen.has(s.name)) continue;
              seen.add(s.name);
              writeFileSync(join(p, s.name), 'x');
              for (const [k, v] of Object.entries(s.attrs)) set.push([join(p, s.name), k, v]);
            }
          } else {
            writeFileSync(p, 'x');
          }
          for (const [k, v] of Object.entries(e.attrs)) set.push([p, k, v]);
        }
        for (const [p, k, v] of set) {
          const r = await spawnDirect('setfattr', ['-h', '-n', k, '-v', `0x${Buffer.from(v).toString('hex')}`, p]);
          assert.equal(r.code, 0, r.stderr);
        }
        const args = ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', root];
        const fast = await trySyscall('getfattr', args);
        const real = await spawnDirect('getfattr', args, { stdout: true, env: { LC_ALL: 'C' } });
        assert.ok(fast);
        assert.equal(fast.code, real.code, fast.stderr);
        const a = parseGetfattrDump(fast.stdout.toString('latin1'));
        const b = parseGetfattrDump(real.stdout.toString('latin1'));
        assert.deepEqual(new Map([...a].sort()), new Map([...b].sort()));
        // Not recursive, one path per entry: the same again, and a missing path fails as getfattr does.
        const paths = entries.map((e) => join(root, e.name));
        const flat = ['-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', ...paths, join(root, 'missing \\ path')];
        const fast2 = await trySyscall('getfattr', flat);
        const real2 = await spawnDirect('getfattr', flat, { stdout: true, env: { LC_ALL: 'C' } });
        assert.equal(fast2?.code, real2.code);
        assert.match(fast2!.stderr, /No such file or directory/);
        assert.deepEqual(new Map([...parseGetfattrDump(fast2!.stdout.toString('latin1'))].sort()), new Map([...parseGetfattrDump(real2.stdout.toString('latin1'))].sort()));
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }), { numRuns: 40 });
    passed++;
  });

  it('reads the xattrs of a large tree in one request', { skip: !isRoot && 'needs root' }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'sc-xattr-big-'));
    try {
      for (let d = 0; d < 20; d++) {
        mkdirSync(join(root, `d${d}`));
        for (let f = 0; f < 100; f++) writeFileSync(join(root, `d${d}`, `f${f}`), '');
      }
      await spawnDirect('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', join(root, 'd7')]);
      await spawnDirect('setfattr', ['-h', '-n', 'user.k', '-v', '0x00ff', join(root, 'd3', 'f42')]);
      const r = await trySyscall('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', root]);
      assert.equal(r?.code, 0);
      const m = parseGetfattrDump(r!.stdout.toString('latin1'));
      assert.deepEqual([...m.keys()].sort(), [join(root, 'd3', 'f42'), join(root, 'd7')]);
      assert.deepEqual(m.get(join(root, 'd3', 'f42')), { 'user.k': Buffer.from([0, 255]) });
      passed++;
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
