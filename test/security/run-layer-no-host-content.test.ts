/**
 * Threat: a layer diff that follows symlinks or hardlinks out of the upper dir
 * would copy host files (e.g. /etc/shadow) into an image, or emit tar links
 * pointing at paths outside the layer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { detectRuntime } from '../../src/runtime/detect.js';
import { runStep } from '../../src/runtime/run-step.js';
import { assertNothingMounted, busyboxRootfs, layerOf, rootSkipReason, tempDir } from '../integration/runtime-fixtures.js';

const skip = rootSkipReason();
let passed = 0;
const TOTAL = 2;

describe('layer diff never takes content from outside the upper dir', { skip }, () => {
  let base: string;
  before(async () => { base = await tempDir('sec-diff'); });
  after(async () => {
    await assertNothingMounted(base);
    await fs.rm(base, { recursive: true, force: true });
    console.log(`run layer no host content: ${passed}/${TOTAL} passed`);
  });

  it('symlinks made by the step (to /, /etc, host paths) are emitted as symlinks only', async () => {
    const runtime = await detectRuntime();
    const busybox = path.join(base, 'busybox');
    await busyboxRootfs(busybox);
    const r = await runStep({
      runtime, lowerDirs: [busybox], snapshotDir: path.join(base, 'snap'),
      args: ['/bin/sh', '-c', 'ln -s /etc/shadow /leak && ln -s / /rootlink && mkdir /d && ln -s /etc /d/etc'],
      env: [], cwd: '/', user: { uid: 0, gid: 0 }, network: 'host',
    });
    assert.equal(r.exitCode, 0);
    const { items } = await layerOf(r.upperDir);
    assert.deepEqual(items.map((i) => [i.name, i.type]), [['d/', 'directory'], ['d/etc', 'symlink'], ['leak', 'symlink'], ['rootlink', 'symlink']]);
    assert.equal(items.reduce((n, i) => n + i.content.length, 0), 0, 'no file content at all');
    passed++;
  });

  it('a file hardlinked to a host file outside the upper is stored as a plain file, never as a link out', async () => {
    const secret = path.join(base, 'host-secret');
    await fs.writeFile(secret, 'host data');
    const upper = path.join(base, 'upper-hl');
    await fs.mkdir(path.join(upper, 'sub'), { recursive: true });
    await fs.link(secret, path.join(upper, 'sub/inner'));
    await fs.symlink(path.dirname(secret), path.join(upper, 'dirlink'));
    const { items } = await layerOf(upper);
    assert.deepEqual(items.map((i) => [i.name, i.type]), [['dirlink', 'symlink'], ['sub/', 'directory'], ['sub/inner', 'file']]);
    assert.ok(items.every((i) => i.type !== 'link'));
    passed++;
  });
});
