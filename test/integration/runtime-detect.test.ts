/**
 * Runtime detection against the real binaries on this host: runc is found and
 * passes the probe; crun, when installed, is probed with a trivial container
 * and we fall back to runc with a note when it cannot start one (crun 1.8 on
 * hybrid cgroups).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { detectRuntime, probeRuntime } from '../../src/runtime/detect.js';
import { rootSkipReason } from './runtime-fixtures.js';

const skip = rootSkipReason();
let passed = 0;
const TOTAL = 3;
const crunPath = ['/usr/bin/crun', '/usr/sbin/crun', '/usr/local/bin/crun'].find((p) => existsSync(p));

describe('detectRuntime on this host', { skip }, () => {
  after(() => console.log(`runtime detect: ${passed}/${TOTAL} passed${crunPath ? '' : ' (crun case: not installed, see SKIP)'}`));

  it('runc is the default and reports its version', async () => {
    const rt = await detectRuntime();
    assert.equal(rt.name, 'runc');
    assert.match(rt.version, /^runc version \d+\.\d+/);
    assert.equal(rt.note, undefined);
    passed++;
  });

  it('the probe starts a trivial container with runc (so a failing crun probe means crun, not the probe)', async () => {
    const rt = await detectRuntime();
    assert.deepEqual(await probeRuntime(rt.path, '/run/stagecraft/probe-test'), { ok: true });
    passed++;
  });

  it('preferring crun: crun when it works, otherwise runc with a note saying why', { skip: crunPath ? false : 'crun is not installed (apt-get install crun)' }, async () => {
    const rt = await detectRuntime('crun');
    const probe = await probeRuntime(crunPath!, '/run/stagecraft/probe-test');
    if (probe.ok) {
      assert.equal(rt.name, 'crun');
    } else {
      assert.equal(rt.name, 'runc');
      assert.match(rt.note ?? '', /crun cannot start containers here/);
      console.log(`crun fallback note: ${rt.note}`);
    }
    passed++;
  });
});
