/**
 * `stagecraft prune`'s sweep of RUN-step leftovers (src/runtime/sweep.ts),
 * with real runc containers: a container whose init process was SIGKILLed
 * after `runc create` leaves a state record, as a killed `runc run` does;
 * the sweep deletes it through runc and keeps a container that still runs,
 * a record a live process names, and a fresh record without state.json;
 * bundles go when old and not named by a kept record. Also the pure parts:
 * state.json and /proc/<pid>/stat parsing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseState, startTimeOf, sweepRuntimeLeftovers } from '../../src/runtime/sweep.js';
import { busyboxRootfs, rootSkipReason, tempDir } from './runtime-fixtures.js';

const skip = rootSkipReason();
let passed = 0;
after(() => console.log(`runtime sweep: ${passed}/2 passed`));

const newId = (): string => `stagecraft-${randomBytes(8).toString('hex')}`;
const runc = (root: string, args: string[]): string => execFileSync('runc', ['--root', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** `runc create`: the container's stdio is runc's, so it gets none (a pipe would stay open while it runs). */
const create = (root: string, bundleDir: string, id: string): void => {
  const r = spawnSync('runc', ['--root', root, 'create', '--bundle', bundleDir, id], { stdio: 'ignore', timeout: 30_000 });
  assert.equal(r.status, 0, `runc create ${id}`);
};

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // Gone, or a zombie nobody has reaped yet: either way no longer running.
    if (stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')')))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pid ${pid} still runs`);
}

describe('sweep: the pure parts', () => {
  it('reads runc\'s state.json and /proc/<pid>/stat start times', () => {
    const state = JSON.stringify({ id: 'x', init_process_pid: 4242, init_process_start: 2111251, config: { labels: ['bundle=/tmp/stagecraft-bundle-Ab'] } });
    assert.deepEqual(parseState(state), { pid: 4242, start: 2111251, bundle: '/tmp/stagecraft-bundle-Ab' });
    assert.deepEqual(parseState(JSON.stringify({ init_process_pid: 7 })), { pid: 7, start: undefined, bundle: undefined });
    for (const bad of ['', '{', 'null', '[]', JSON.stringify({ init_process_pid: -1 }), JSON.stringify({ init_process_pid: 'x' })]) {
      assert.equal(parseState(bad), undefined, bad);
    }
    // The command name may hold spaces and ')': fields count from the last ')'.
    const fields = (name: string): string => `123 (${name}) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615`;
    assert.equal(startTimeOf(fields('sleep')), 987654);
    assert.equal(startTimeOf(fields('a b) c')), 987654);
    assert.equal(startTimeOf('garbage'), undefined);
    passed++;
  });
});

describe('sweep: runc leftovers', { skip }, () => {
  it('removes a killed container\'s record through runc and keeps a running one, one a live process names, and a fresh broken one', async () => {
    const work = await tempDir('sweep');
    const stateRoot = path.join(work, 'state');
    const tmp = path.join(work, 'tmp');
    await fs.mkdir(tmp);
    const rootfs = path.join(work, 'rootfs');
    await busyboxRootfs(rootfs);
    const bundle = async (name: string): Promise<string> => {
      const dir = path.join(tmp, name);
      await fs.mkdir(dir);
      execFileSync('runc', ['spec', '--bundle', dir]);
      const spec = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; root: { path: string; readonly: boolean } };
      spec.process.terminal = false;
      spec.process.args = ['/bin/busybox', 'sleep', '300'];
      spec.root = { path: rootfs, readonly: true };
      await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(spec));
      return dir;
    };
    const killed = newId();
    const live = newId();
    const named = newId();
    const reused = newId();
    const brokenOld = newId();
    const brokenNew = newId();
    let holder: ReturnType<typeof spawn> | undefined;
    try {
      create(stateRoot, await bundle('stagecraft-bundle-killed'), killed);
      create(stateRoot, await bundle('stagecraft-bundle-live'), live);
      const killedState = parseState(await fs.readFile(path.join(stateRoot, killed, 'state.json'), 'utf8'))!;
      assert.ok(killedState.pid > 0 && killedState.start !== undefined, 'runc records the init pid and its start time');
      assert.equal(killedState.bundle, path.join(tmp, 'stagecraft-bundle-killed'));
      process.kill(killedState.pid, 'SIGKILL');
      await waitGone(killedState.pid);
      assert.match(runc(stateRoot, ['state', killed]), /"status": "stopped"/, 'runc still has the record of the dead container');

      // A record whose init pid is dead but which a live process names (a runtime still at work on it).
      await fs.mkdir(path.join(stateRoot, named));
      await fs.writeFile(path.join(stateRoot, named, 'state.json'), JSON.stringify({ init_process_pid: 0 }));
      holder = spawn('sh', ['-c', 'sleep 300', named], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 200));
      // A pid that now belongs to another process (this one): the recorded start time differs.
      await fs.mkdir(path.join(stateRoot, reused));
      await fs.writeFile(path.join(stateRoot, reused, 'state.json'), JSON.stringify({ init_process_pid: process.pid, init_process_start: 1 }));
      // Records without a state.json: an old one is debris, a new one may be being written.
      await fs.mkdir(path.join(stateRoot, brokenOld));
      await fs.mkdir(path.join(stateRoot, brokenNew));
      const hoursAgo = new Date(Date.now() - 2 * 3600_000);
      await fs.utimes(path.join(stateRoot, brokenOld), hoursAgo, hoursAgo);
      // Bundles: an old one with no record goes; the live container's stays however old; a new one stays.
      await fs.mkdir(path.join(tmp, 'stagecraft-bundle-orphan'));
      await fs.mkdir(path.join(tmp, 'stagecraft-bundle-new'));
      await fs.mkdir(path.join(tmp, 'not-ours-bundle'));
      for (const b of ['stagecraft-bundle-orphan', 'stagecraft-bundle-live', 'not-ours-bundle']) await fs.utimes(path.join(tmp, b), hoursAgo, hoursAgo);
      // Someone else's container in the same state root is never ours to remove.
      await fs.mkdir(path.join(stateRoot, 'other-container'));

      const r = await sweepRuntimeLeftovers(stateRoot, { runtimePath: 'runc', tmpDir: tmp });
      assert.deepEqual(r, { containers: 3, bundles: 1 }, 'the killed, reused and old broken records; the old orphan bundle');
      const left = (await fs.readdir(stateRoot)).sort();
      assert.deepEqual(left, [live, named, brokenNew, 'other-container'].sort());
      assert.match(runc(stateRoot, ['state', live]), /"status": "created"/, 'the running container is untouched');
      const bundles = (await fs.readdir(tmp)).sort();
      // The killed container's bundle is younger than an hour: a later prune takes it.
      assert.deepEqual(bundles, ['not-ours-bundle', 'stagecraft-bundle-killed', 'stagecraft-bundle-live', 'stagecraft-bundle-new'].sort());
      // A second sweep finds nothing more.
      assert.deepEqual(await sweepRuntimeLeftovers(stateRoot, { runtimePath: 'runc', tmpDir: tmp }), { containers: 0, bundles: 0 });
      passed++;
    } finally {
      holder?.kill('SIGKILL');
      spawnSync('runc', ['--root', stateRoot, 'delete', '-f', live]);
      spawnSync('runc', ['--root', stateRoot, 'delete', '-f', killed]);
      await fs.rm(work, { recursive: true, force: true });
    }
  });
});
