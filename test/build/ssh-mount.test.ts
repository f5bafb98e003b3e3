/**
 * The SSH agent proxy behind RUN --mount=type=ssh, against a real ssh-agent:
 * `ssh-add -l` through the proxy reaches the agent (exit 1, "no identities",
 * rather than 2, "cannot connect"); with the first agent path dead the next
 * one is used; the socket carries the requested mode; close() stops it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgentProxy, startKeyAgent } from '../../src/build/ssh-forward.js';

const noAgent = spawnSync('ssh-agent', ['-h']).error ? 'ssh-agent is not installed (apt-get install openssh-client)' : undefined;
let passed = 0;
const TOTAL = 3;

function sshAddList(sock: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', (code) => resolve({ code, out }));
  });
}

describe('ssh agent proxy', { skip: noAgent }, () => {
  it('forwards to the agent (the first live one), with the socket mode asked for; closed, it refuses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-ssh-proxy-'));
    const sock = join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !(await lstat(sock).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 100));
      const proxy = await startAgentProxy(join(dir, 'proxy.sock'), [join(dir, 'dead.sock'), sock], { uid: 0, gid: 0, mode: 0o640 });
      assert.equal((await lstat(proxy.path)).mode & 0o777, 0o640);
      const through = await sshAddList(proxy.path);
      assert.equal(through.code, 1, through.out);
      assert.match(through.out, /no identities/i);
      await proxy.close();
      const closed = await sshAddList(proxy.path);
      assert.equal(closed.code, 2, `a closed proxy cannot be reached: ${closed.out}`);
      passed++;
    } finally {
      agent.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a proxy whose agents are all gone closes each connection instead of hanging', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-ssh-proxy-'));
    try {
      const proxy = await startAgentProxy(join(dir, 'proxy.sock'), [join(dir, 'none.sock')], { uid: 0, gid: 0, mode: 0o600 });
      const r = await sshAddList(proxy.path);
      assert.notEqual(r.code, 0, r.out);
      assert.doesNotMatch(r.out, /no identities/i, `no agent answered, so none can report identities: ${r.out}`);
      await proxy.close();
      passed++;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('key files: a private agent holds an unencrypted key (ssh-add -l through the proxy lists it) and is gone after close(); an encrypted key is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-ssh-key-'));
    try {
      const key = join(dir, 'id_ed25519');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stagecraft-test', '-f', key]);
      const fingerprint = execFileSync('ssh-keygen', ['-lf', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
      const agent = await startKeyAgent(join(dir, 'keys.sock'), [key]);
      const proxy = await startAgentProxy(join(dir, 'proxy.sock'), [agent.path], { uid: 0, gid: 0, mode: 0o600 });
      const listed = await sshAddList(proxy.path);
      assert.equal(listed.code, 0, listed.out);
      assert.ok(listed.out.includes(fingerprint), listed.out);
      await proxy.close();
      await agent.close();
      const after = await sshAddList(agent.path);
      assert.notEqual(after.code, 0, 'the agent is gone');
      const locked = join(dir, 'locked');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'passphrase', '-f', locked]);
      await assert.rejects(startKeyAgent(join(dir, 'locked.sock'), [locked]), /cannot load key/);
      passed++;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('summary', () => {
    console.log(`ssh agent proxy: ${passed}/${TOTAL} passed`);
    assert.equal(passed, TOTAL);
  });
});
