/**
 * RUN steps for real: overlay over a busybox rootfs, runc, stub cleanup, and
 * the layer tar from the upper dir. Needs root, runc and busybox-static.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { writeLayerFromUpper } from '../../src/fs/upper-diff.js';
import { detectRuntime, run as runTool, type OciRuntime } from '../../src/runtime/detect.js';
import { runStep, type RunStepOptions } from '../../src/runtime/run-step.js';
import { isStagecraftError } from '../../src/errors.js';
import {
  assertNothingMounted, busyboxRootfs, layerOf, mknodWhiteout, rootSkipReason, tempDir,
} from './runtime-fixtures.js';

const skip = rootSkipReason();
let passed = 0;
const TOTAL = 18;

describe('RUN step with runc on overlay', { skip }, () => {
  let base: string;
  let busybox: string;
  let withDir: string;
  let runtime: OciRuntime;
  let n = 0;

  before(async () => {
    // A private state root: the default one is shared with every other
    // stagecraft process on the machine (a killed build leaves its stopped
    // container record there), and these tests assert on what is in it.
    runtime = await detectRuntime('runc', { stateRoot: `/run/stagecraft-test-runtime-${process.pid}` });
    base = await tempDir('run');
    busybox = path.join(base, 'layer-busybox');
    await busyboxRootfs(busybox);
    // A second layer on top: /dir with two files, and /etc/hosts present (so it is not a stub).
    withDir = path.join(base, 'layer-dir');
    await fs.mkdir(path.join(withDir, 'dir'), { recursive: true });
    await fs.writeFile(path.join(withDir, 'dir/a'), 'a');
    await fs.writeFile(path.join(withDir, 'dir/b'), 'b');
  });

  after(async () => {
    await assertNothingMounted(base);
    const list = await runTool(runtime.path, ['--root', runtime.stateRoot, 'list', '-q']);
    assert.equal(list.stdout.trim(), '', `containers left behind: ${list.stdout}`);
    await fs.rm(base, { recursive: true, force: true });
    await fs.rm(runtime.stateRoot, { recursive: true, force: true });
    await fs.rm(`${runtime.stateRoot}-probe`, { recursive: true, force: true });
    console.log(`runtime run: ${passed}/${TOTAL} passed`);
  });

  async function step(script: string, extra: Partial<RunStepOptions> = {}) {
    const out: { stream: string; text: string }[] = [];
    const snapshotDir = path.join(base, `snap-${n++}`);
    const r = await runStep({
      runtime,
      lowerDirs: [busybox],
      snapshotDir,
      args: ['/bin/sh', '-c', script],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      network: 'host',
      onOutput: (stream, chunk) => out.push({ stream, text: chunk.toString() }),
      ...extra,
    });
    const stdout = out.filter((o) => o.stream === 'stdout').map((o) => o.text).join('');
    const stderr = out.filter((o) => o.stream === 'stderr').map((o) => o.text).join('');
    return { ...r, stdout, stderr, out };
  }

  it('runs a command: output, exit code, new file and whiteout in the upper and the layer', async () => {
    const r = await step('echo hi; mkdir /x; echo a > /x/f; rm /bin/ls');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    assert.equal(await fs.readFile(path.join(r.upperDir, 'x/f'), 'utf8'), 'a\n');
    const wh = await fs.lstat(path.join(r.upperDir, 'bin/ls'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'bin/ls is an overlay whiteout in the upper');
    const { items, info } = await layerOf(r.upperDir);
    const names = items.map((i) => i.name);
    assert.deepEqual(names, ['bin/', 'bin/.wh.ls', 'x/', 'x/f']);
    assert.equal(items.find((i) => i.name === 'x/f')!.content.toString(), 'a\n');
    assert.match(info.diffId, /^sha256:[0-9a-f]{64}$/);
    assert.equal(info.entries, 4);
    passed++;
  });

  it('keeps mount-point stubs (/proc /dev /sys /etc/hosts /etc/resolv.conf) and the copied-up /etc out of the layer', async () => {
    const r = await step('test -e /proc/self && test -e /dev/null && test -e /sys/kernel && test -s /etc/resolv.conf && grep -q localhost /etc/hosts');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual([...r.removedStubs].sort(), ['dev', 'etc', 'etc/hosts', 'etc/resolv.conf', 'proc', 'sys']);
    assert.deepEqual(await fs.readdir(r.upperDir), [], 'upper is empty after stub cleanup');
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items, []);
    passed++;
  });

  it('keeps /etc when the command wrote into it, and existing /etc/hosts is never a stub', async () => {
    const hostsLayer = path.join(base, 'layer-hosts');
    await fs.mkdir(path.join(hostsLayer, 'etc'), { recursive: true });
    await fs.writeFile(path.join(hostsLayer, 'etc/hosts'), '10.0.0.1 image-host\n');
    const r = await step('echo x > /etc/new', { lowerDirs: [hostsLayer, busybox] });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(!r.removedStubs.includes('etc/hosts'));
    assert.ok(!r.removedStubs.includes('etc'));
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items.map((i) => i.name), ['etc/', 'etc/new']);
    assert.equal(await fs.readFile(path.join(hostsLayer, 'etc/hosts'), 'utf8'), '10.0.0.1 image-host\n', 'lower layer untouched');
    passed++;
  });

  it('turns rm -rf + mkdir of a lower directory into an opaque whiteout', async () => {
    const r = await step('rm -rf /dir && mkdir /dir && echo n > /dir/new', { lowerDirs: [withDir, busybox] });
    assert.equal(r.exitCode, 0, r.stderr);
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items.map((i) => i.name), ['dir/', 'dir/.wh..wh..opq', 'dir/new']);
    passed++;
  });

  it('deleting a lower directory gives a .wh.<dir> entry', async () => {
    const r = await step('rm -rf /dir', { lowerDirs: [withDir, busybox] });
    assert.equal(r.exitCode, 0, r.stderr);
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items.map((i) => i.name), ['.wh.dir']);
    passed++;
  });

  it('mv of a lower directory shows up as a full copy plus a whiteout (redirect_dir off)', async () => {
    const r = await step('mv /dir /dir2', { lowerDirs: [withDir, busybox] });
    assert.equal(r.exitCode, 0, r.stderr);
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items.map((i) => i.name), ['.wh.dir', 'dir2/', 'dir2/a', 'dir2/b']);
    assert.equal(items.find((i) => i.name === 'dir2/b')!.content.toString(), 'b');
    passed++;
  });

  it('runs as the given uid/gid/additional gids and the layer records the owner', async () => {
    const r = await step('id -u; id -g; id -G; touch /tmp/owned', { user: { uid: 1000, gid: 1000, additionalGids: [5] } });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, '1000\n1000\n1000 5\n');
    const { items } = await layerOf(r.upperDir);
    const owned = items.find((i) => i.name === 'tmp/owned');
    assert.ok(owned);
    assert.equal(owned.uid, 1000);
    assert.equal(owned.gid, 1000);
    const tmp = items.find((i) => i.name === 'tmp/');
    assert.equal(tmp?.mode, 0o1777, 'sticky bit of the copied-up /tmp is kept');
    passed++;
  });

  it('reports non-zero exit codes and signals', async () => {
    const r3 = await step('echo bad >&2; exit 3');
    assert.equal(r3.exitCode, 3);
    assert.equal(r3.signal, undefined);
    assert.equal(r3.stderr, 'bad\n');
    // PID 1 ignores signals it has no handler for, so a child gets killed and the shell passes on 128+9.
    const rk = await step('sh -c \'kill -9 $$\'; exit $?');
    assert.equal(rk.exitCode, 137);
    assert.equal(rk.signal, 'SIGKILL');
    passed++;
  });

  it('gives the process its own pid namespace (PID 1), hostname, /etc/hosts and env', async () => {
    const r = await step('echo $$; hostname; cat /etc/hosts; echo "$FOO|$PATH"; pwd', {
      hostname: 'sc-test-host', env: ['FOO=bar'], cwd: '/tmp',
    });
    assert.equal(r.exitCode, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], '1');
    assert.equal(lines[1], 'sc-test-host');
    assert.match(r.stdout, /127\.0\.0\.1\tlocalhost sc-test-host\n/);
    assert.match(r.stdout, /bar\|\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin\n/);
    assert.match(r.stdout, /\/tmp\n$/);
    passed++;
  });

  it("network 'none' gets a private namespace with only lo; 'host' sees the host's interfaces", async () => {
    const none = await step('ls /sys/class/net', { network: 'none' });
    assert.equal(none.exitCode, 0, none.stderr);
    assert.equal(none.stdout.trim(), 'lo');
    const hostIfaces = (await fs.readdir('/sys/class/net')).sort();
    const host = await step('ls /sys/class/net');
    assert.deepEqual(host.stdout.trim().split(/\s+/).sort(), hostIfaces);
    passed++;
  });

  it('masks /proc paths and mounts /sys read-only, like Docker', async () => {
    const r = await step('test ! -s /proc/kcore && ! touch /sys/x 2>/dev/null && ! echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo ok');
    assert.equal(r.stdout, 'ok\n', r.stderr);
    passed++;
  });

  it('fails with a RUNTIME error when the executable does not exist', async () => {
    await assert.rejects(
      step('', { args: ['/no/such/binary'] }),
      (e: unknown) => isStagecraftError(e) && e.code === 'RUNTIME' && /no\/such\/binary/.test(e.message),
    );
    await assertNothingMounted(base);
    passed++;
  });

  it('abort kills the container, unmounts, and leaves no container behind', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error('stop')), 300);
    await assert.rejects(step('echo started; sleep 30', { signal: ac.signal }), /stop/);
    assert.ok(Date.now() - t0 < 10_000, 'aborted promptly');
    await assertNothingMounted(base);
    const list = await runTool(runtime.path, ['--root', runtime.stateRoot, 'list', '-q']);
    assert.equal(list.stdout.trim(), '');
    passed++;
  });

  it('an already-aborted signal runs nothing and leaves nothing mounted', async () => {
    await assert.rejects(step('touch /should-not-exist', { signal: AbortSignal.abort(new Error('pre-aborted')) }), /pre-aborted/);
    await assertNothingMounted(base);
    passed++;
  });

  it('removes stubs for extra mounts (tmpfs and bind) whose targets did not exist', async () => {
    const hostDir = path.join(base, 'host-data');
    await fs.mkdir(hostDir, { recursive: true });
    await fs.writeFile(path.join(hostDir, 'in'), 'from host\n');
    const r = await step('cat /mnt/data/in; echo c > /cache/x; ls /cache', {
      extraMounts: [
        { destination: '/cache', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] },
        { destination: '/mnt/data', type: 'bind', source: hostDir, options: ['rbind', 'ro'] },
      ],
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'from host\nx\n');
    for (const p of ['cache', 'mnt', 'mnt/data']) assert.ok(r.removedStubs.includes(p), `${p} removed`);
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items, []);
    passed++;
  });

  it('runs steps in parallel, each in its own snapshot and container', async () => {
    const rs = await Promise.all([0, 1, 2].map((i) => step(`echo ${i} > /p${i}; echo out${i}`)));
    for (const [i, r] of rs.entries()) {
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, `out${i}\n`);
      const { items } = await layerOf(r.upperDir);
      assert.deepEqual(items.map((x) => x.name), [`p${i}`]);
    }
    passed++;
  });

  it('a missing working directory is created by the runtime and kept in the layer (like BuildKit)', async () => {
    const r = await step('pwd', { cwd: '/work/dir' });
    assert.equal(r.stdout, '/work/dir\n');
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items.map((x) => x.name), ['work/', 'work/dir/']);
    passed++;
  });

  it('diffs 10k created files in time proportional to them (printed, not asserted)', async () => {
    const make = (count: number) => `mkdir /many && cd /many && i=0; while [ $i -lt ${count} ]; do echo $i > f$i; i=$((i+1)); done`;
    const timings: string[] = [];
    for (const count of [1000, 10000]) {
      const r = await step(make(count));
      assert.equal(r.exitCode, 0, r.stderr);
      const t0 = process.hrtime.bigint();
      const discard = new Writable({ write(_c, _e, cb) { cb(); } });
      const timed = await writeLayerFromUpper(r.upperDir, discard);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const { info, items } = await layerOf(r.upperDir);
      assert.equal(timed.diffId, info.diffId, 'same upper, same diffId');
      assert.equal(info.entries, count + 1);
      assert.equal(items.length, count + 1);
      timings.push(`${count} files: ${ms.toFixed(0)} ms (${(ms / count * 1000).toFixed(1)} us/file), ${info.size} bytes`);
      await fs.rm(path.join(base, `snap-${n - 1}`), { recursive: true, force: true });
    }
    console.log(`upper diff timing: ${timings.join('; ')}`);
    passed++;
  });
});

// Whiteouts made by hand must look the same as the ones overlay makes (used by the fixtures).
describe('fixture sanity', { skip }, () => {
  it('mknod c 0 0 makes a whiteout-shaped node', async () => {
    const d = await tempDir('wh');
    mknodWhiteout(path.join(d, 'w'));
    const st = await fs.lstat(path.join(d, 'w'));
    assert.ok(st.isCharacterDevice() && st.rdev === 0);
    await fs.rm(d, { recursive: true });
  });
});
