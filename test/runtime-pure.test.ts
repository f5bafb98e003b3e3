/**
 * Pure pieces of the runtime and the layer diff: OCI spec generation, the
 * /etc files, getfattr parsing, dev_t splitting, line splitting.
 * No root, no runtime.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS, generateSpec, mountTargets, type SpecOptions,
} from '../src/runtime/spec.js';
import { hostsFile, resolvConf } from '../src/runtime/etc-files.js';
import { LineSplitter } from '../src/runtime/line-splitter.js';
import { detectRuntime } from '../src/runtime/detect.js';
import { isOpaqueDir, isOverlayXattr, parseGetfattr, unquoteGetfattr } from '../src/fs/overlay-xattr.js';
import { splitDev } from '../src/fs/upper-diff.js';
import { isStagecraftError } from '../src/errors.js';

let passed = 0;
const TOTAL = 10;
after(() => console.log(`runtime pure: ${passed}/${TOTAL} passed`));

const baseSpec: SpecOptions = {
  rootfs: '/snap/merged', args: ['/bin/sh', '-c', 'true'], env: ['A=1'], cwd: '/work', user: { uid: 0, gid: 0 },
  hostname: 'h', network: 'host', hostsPath: '/b/hosts', resolvConfPath: '/b/resolv.conf',
};

describe('generateSpec', () => {
  it('has Docker default capabilities, masked/readonly paths, no TTY, writable root', () => {
    const s = generateSpec(baseSpec);
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
    for (const set of ['bounding', 'effective', 'permitted'] as const) assert.deepEqual(s.process.capabilities[set], [...DEFAULT_CAPABILITIES]);
    assert.ok(!s.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.equal(s.process.terminal, false);
    assert.equal(s.process.noNewPrivileges, false);
    assert.deepEqual(s.root, { path: '/snap/merged', readonly: false });
    assert.deepEqual(s.linux.maskedPaths, [...MASKED_PATHS]);
    assert.deepEqual(s.linux.readonlyPaths, [...READONLY_PATHS]);
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }]);
    assert.equal(s.linux.cgroupsPath, undefined);
    passed++;
  });

  it('namespaces: host network by default, a network namespace only for none', () => {
    const types = (n: 'host' | 'none') => generateSpec({ ...baseSpec, network: n }).linux.namespaces.map((x) => x.type);
    assert.deepEqual(types('host'), ['mount', 'pid', 'ipc', 'uts']);
    assert.deepEqual(types('none'), ['mount', 'pid', 'ipc', 'uts', 'network']);
    passed++;
  });

  it('env gets the default PATH only when missing; cwd, user and extra mounts pass through', () => {
    assert.deepEqual(generateSpec(baseSpec).process.env, [DEFAULT_PATH, 'A=1']);
    assert.deepEqual(generateSpec({ ...baseSpec, env: ['PATH=/x'] }).process.env, ['PATH=/x']);
    const s = generateSpec({
      ...baseSpec, cwd: 'rel', user: { uid: 5, gid: 6, additionalGids: [7, 8] }, cgroupsPath: '/sc/x',
      extraMounts: [{ destination: '/cache', type: 'tmpfs', source: 'tmpfs', options: [] }],
    });
    assert.equal(s.process.cwd, '/rel');
    assert.deepEqual(s.process.user, { uid: 5, gid: 6, additionalGids: [7, 8] });
    assert.equal(s.linux.cgroupsPath, '/sc/x');
    assert.deepEqual(mountTargets(s), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hosts', '/etc/resolv.conf', '/cache']);
    const hosts = s.mounts.find((m) => m.destination === '/etc/hosts')!;
    assert.equal(hosts.source, '/b/hosts');
    assert.ok(hosts.options.includes('ro'));
    passed++;
  });
});

describe('etc files', () => {
  it('hosts: localhost lines with the hostname, then extra hosts', () => {
    assert.equal(hostsFile('box', [{ host: 'db', ip: '10.0.0.2' }]),
      '127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.2\tdb\n');
    passed++;
  });

  it('resolv.conf: loopback nameservers dropped only with a private network namespace', () => {
    const host = 'nameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.1\nsearch example.com\noptions edns0\n';
    assert.equal(resolvConf(host, 'host'), host);
    assert.equal(resolvConf(host, 'none'), 'nameserver 10.0.0.1\nsearch example.com\noptions edns0\n');
    passed++;
  });
});

describe('detectRuntime', () => {
  it('no runtime at all: RUNTIME error naming the Debian packages', async () => {
    await assert.rejects(detectRuntime('runc', { searchPath: ['/nonexistent-dir'] }), (e: unknown) =>
      isStagecraftError(e) && e.code === 'RUNTIME' && /runc/.test(e.hint ?? '') && /crun/.test(e.hint ?? ''));
    passed++;
  });
});

describe('getfattr output', () => {
  it('unquotes octal escapes (newline, backslash) and parses hex values', () => {
    assert.equal(unquoteGetfattr('a\\012b'), 'a\nb');
    assert.equal(unquoteGetfattr('back\\134slash'), 'back\\slash');
    assert.equal(unquoteGetfattr('plain é'), 'plain é');
    const m = parseGetfattr('# file: /u/a\\012b\nuser.t=0x00ff\n\n# file: /u/d\ntrusted.overlay.opaque=0x79\nuser.s=0sAQI=\n\n', '/u');
    assert.deepEqual([...m.keys()], ['a\nb', 'd']);
    assert.deepEqual(m.get('a\nb')!.get('user.t'), Buffer.from([0, 255]));
    assert.deepEqual(m.get('d')!.get('user.s'), Buffer.from([1, 2]));
    assert.ok(isOpaqueDir(m.get('d')));
    assert.ok(!isOpaqueDir(m.get('a\nb')));
    assert.ok(!isOpaqueDir(new Map([['trusted.overlay.opaque', Buffer.from('x')]])));
    assert.ok(isOverlayXattr('trusted.overlay.origin') && isOverlayXattr('user.overlay.opaque') && !isOverlayXattr('user.overlayish'));
    passed++;
  });
});

describe('splitDev', () => {
  it('decodes Linux dev_t (old and large majors/minors)', () => {
    const enc = (maj: number, min: number) => (BigInt(min & 0xff) | (BigInt(maj & 0xfff) << 8n) | (BigInt(min & ~0xff) << 12n) | (BigInt(maj & ~0xfff) << 32n));
    const table: [number, number][] = [[0, 0], [1, 3], [8, 1], [259, 70000], [4095, 1048575], [1 << 20, 5]];
    for (const [maj, min] of table) assert.deepEqual(splitDev(enc(maj, min)), { major: maj, minor: min });
    passed++;
  });
});

describe('LineSplitter', () => {
  it('table: splits at newlines and flushes the tail', () => {
    const got: string[] = [];
    const s = new LineSplitter((c) => got.push(c.toString()));
    s.push(Buffer.from('a\nb'));
    s.push(Buffer.from('c\n\nd'));
    s.flush();
    assert.deepEqual(got, ['a\n', 'bc\n', '\n', 'd']);
    passed++;
  });

  it('property: output concatenates to the input; every piece but the last is a line or maxLine long', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a.map((b) => (b % 5 === 0 ? 10 : b))))), (chunks) => {
      const got: Buffer[] = [];
      const s = new LineSplitter((c) => got.push(c), 16);
      for (const c of chunks) s.push(c);
      s.flush();
      assert.ok(Buffer.concat(got).equals(Buffer.concat(chunks)));
      got.slice(0, -1).forEach((p) => assert.ok(p[p.length - 1] === 10 || p.length >= 16));
    }), { numRuns: 300 });
    passed++;
  });
});
