/**
 * Threat: a RUN step replaces a stub's parent directory with a symlink to a
 * host path, so that stub cleanup (which runs on the host, as root) deletes
 * host files. Also: an image whose /etc/hosts or /etc/resolv.conf are symlinks
 * pointing out of the rootfs must not make the runtime or the cleanup touch
 * host paths.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { cleanUpper } from '../../src/fs/overlay-stubs.js';
import { detectRuntime, type OciRuntime } from '../../src/runtime/detect.js';
import { runStep } from '../../src/runtime/run-step.js';
import { assertNothingMounted, busyboxRootfs, layerOf, mknodWhiteout, rootSkipReason, tempDir } from '../integration/runtime-fixtures.js';

const skip = rootSkipReason();
let passed = 0;
const TOTAL = 3;

describe('stub cleanup never follows symlinks out of the upper dir', { skip }, () => {
  let base: string;
  let busybox: string;
  let runtime: OciRuntime;
  before(async () => {
    runtime = await detectRuntime();
    base = await tempDir('sec-stub');
    busybox = path.join(base, 'busybox');
    await busyboxRootfs(busybox);
  });
  after(async () => {
    await assertNothingMounted(base);
    await fs.rm(base, { recursive: true, force: true });
    console.log(`run stub symlink escape: ${passed}/${TOTAL} passed`);
  });

  it('cleanUpper leaves a host file alone when a stub parent became a symlink to the host', async () => {
    const host = path.join(base, 'host-a');
    await fs.mkdir(path.join(host, 'proc'), { recursive: true });
    await fs.writeFile(path.join(host, 'hosts'), '');
    const upper = path.join(base, 'upper-a');
    await fs.mkdir(upper);
    await fs.symlink(host, path.join(upper, 'etc'));
    const removed = await cleanUpper(upper, { created: ['etc/hosts', 'etc/proc', 'etc'], parents: [] });
    assert.deepEqual(removed, []);
    assert.ok(existsSync(path.join(host, 'hosts')), 'host file still there');
    assert.ok(existsSync(path.join(host, 'proc')), 'host dir still there');
    passed++;
  });

  it('a real step that swaps /etc for a symlink to a host dir cannot make cleanup delete host files', async () => {
    const host = path.join(base, 'host-b');
    await fs.mkdir(host);
    await fs.writeFile(path.join(host, 'hosts'), '');
    await fs.writeFile(path.join(host, 'resolv.conf'), '');
    // A layer that deletes /etc, so the runtime creates /etc (and its stubs) in the upper only.
    const noEtc = path.join(base, 'no-etc');
    await fs.mkdir(noEtc);
    mknodWhiteout(path.join(noEtc, 'etc'));
    const r = await runStep({
      runtime, lowerDirs: [noEtc, busybox], snapshotDir: path.join(base, 'snap-b'),
      args: ['/bin/sh', '-c', `mv /etc /etc-old && ln -s ${host} /etc && ls -la /etc-old >/dev/null`],
      env: [], cwd: '/', user: { uid: 0, gid: 0 }, network: 'host',
    });
    assert.equal(r.exitCode, 0, 'the swap happened, so the threat was exercised');
    assert.ok(existsSync(path.join(host, 'hosts')), 'host hosts file survives');
    assert.ok(existsSync(path.join(host, 'resolv.conf')), 'host resolv.conf survives');
    const { items } = await layerOf(r.upperDir);
    const etc = items.find((i) => i.name === 'etc');
    assert.equal(etc?.type, 'symlink');
    assert.equal(etc?.linkname, host);
    passed++;
  });

  it('image symlinks for /etc/hosts and /etc/resolv.conf pointing out of the rootfs stay inside it', async () => {
    const outside = path.join(base, 'outside');
    const evil = path.join(base, 'evil-layer');
    await fs.mkdir(path.join(evil, 'etc'), { recursive: true });
    await fs.symlink(`../../../../../../../..${outside}/resolv.conf`, path.join(evil, 'etc/resolv.conf'));
    await fs.symlink(`${outside}/hosts`, path.join(evil, 'etc/hosts'));
    const r = await runStep({
      runtime, lowerDirs: [evil, busybox], snapshotDir: path.join(base, 'snap-c'),
      args: ['/bin/sh', '-c', 'cat /etc/hosts; test -s /etc/resolv.conf'],
      env: [], cwd: '/', user: { uid: 0, gid: 0 }, network: 'host', hostname: 'inside',
      onOutput: () => undefined,
    });
    assert.equal(r.exitCode, 0);
    assert.ok(!existsSync(outside), 'nothing was created on the host outside the rootfs');
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items.map((i) => i.name), [], `stubs created inside the rootfs were cleaned: ${r.removedStubs.join(', ')}`);
    assert.ok(r.removedStubs.some((p) => p.endsWith('outside/resolv.conf')), 'the symlink was resolved inside the rootfs');
    passed++;
  });
});
