/**
 * The syscall helper that bin/stagecraft starts before node
 * (bin/syscall-helper-stub.pl): it serves its parent alone over
 * /run/stagecraft-helper/<pid>.sock, the socket is gone once it is taken, it
 * exits with its parent, and when it is missing or refuses, node spawns a
 * helper as before and the answer is the same. A build through the launcher
 * keeps the socket's path out of RUN steps' environment. A build connects to
 * it before its first request (warmSyscallHelper), with the same answers.
 * Needs root and perl.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../support/exec.js';
import { withRootfs } from '../support/oci-run.js';
import { buildSkipReason, openBuildEnv, type BuildEnv } from '../fixtures/build/fixtures.js';
import { findExecutable } from '../../src/util/find-executable.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const STUB = join(REPO, 'bin', 'syscall-helper-stub.pl');
const LAUNCHER = join(REPO, 'bin', 'stagecraft');
const DIR = '/run/stagecraft-helper';
const skip = process.getuid?.() !== 0 ? 'needs root (the stub serves root alone)' : !findExecutable('perl') ? 'needs perl' : undefined;

const TOTAL = 7;
let passed = 0;
after(() => console.log(`prestarted syscall helper: ${passed}/${TOTAL} passed`));

interface ChildReport {
  answers: Array<{ code: number; stdout: string; stderr: string } | null>;
  socketLeft: boolean;
  /** With warm: whether the stub had taken the connection (unlinked its socket) before the first request. */
  takenBeforeRequest?: boolean;
  children: string[][];
  stubPid?: number;
}

/** Whether the stub started for the process `parent` still runs (it names itself after its parent). */
function stubAlive(parent: number): boolean {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try { if (readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0+$/, '') === `stagecraft-helper ${parent}`) return true; } catch { /* gone */ }
  }
  return false;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await wait(20)) if (ok()) return;
  assert.fail(`timed out waiting until ${what}`);
}

describe('prestarted syscall helper', { skip }, () => {
  let work: string;
  let childScript: string;
  let file: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-prestart-'));
    file = join(work, 'file');
    await writeFile(file, 'x');
    const set = await runCommand('setfattr', ['-h', '-n', 'user.prestart', '-v', '0x6869', file]);
    assert.equal(set.code, 0, set.stderr);
    // A node process that is offered a helper socket (its own stub's, or one it is given) and asks
    // the same question twice, then says what answered and which processes it started.
    childScript = join(work, 'child.mts');
    await writeFile(childScript, `
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { trySyscall, warmSyscallHelper } from ${JSON.stringify(join(REPO, 'src/util/syscall-helper.ts'))};
const [mode, file, given, warm] = process.argv.slice(2);
let sock = given === '-' ? undefined : given;
let stubPid;
if (mode === 'own') {
  const stub = spawn('perl', [${JSON.stringify(STUB)}, String(process.pid)], { stdio: 'ignore' });
  stub.unref();
  stubPid = stub.pid;
  sock = '${DIR}/' + process.pid + '.sock';
  for (let i = 0; i < 300 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
}
globalThis[Symbol.for('stagecraft.helperSocket')] = sock;
let takenBeforeRequest;
if (warm === 'warm') {
  warmSyscallHelper();
  warmSyscallHelper(); // a second call connects nothing more
  for (let i = 0; i < 300 && existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
  takenBeforeRequest = !existsSync(sock);
}
const args = ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', file];
const answers = [];
for (let i = 0; i < 2; i++) {
  const r = await trySyscall('getfattr', args);
  answers.push(r ? { code: r.code, stdout: r.stdout.toString('latin1'), stderr: r.stderr } : null);
}
const kids = readFileSync('/proc/self/task/' + process.pid + '/children', 'utf8').trim().split(/\\s+/).filter(Boolean);
const children = kids.map((pid) => { try { return readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0').filter(Boolean); } catch { return []; } });
console.log(JSON.stringify({ answers, socketLeft: existsSync(sock), takenBeforeRequest, children, stubPid }));
process.exit(0);
`);
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function child(mode: 'own' | 'given', sock?: string, warm = false): Promise<ChildReport> {
    const r = await runCommand(process.execPath, ['--import', 'tsx', childScript, mode, file, sock ?? '-', warm ? 'warm' : 'cold'], { cwd: REPO });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildReport;
  }

  function assertAnswers(rep: ChildReport): void {
    const want = `# file: ${file}\nuser.prestart=0x6869\n\n`;
    assert.equal(rep.answers.length, 2);
    for (const a of rep.answers) assert.deepEqual(a, { code: 0, stdout: want, stderr: '' });
  }

  const spawnedHelpers = (rep: ChildReport) => rep.children.filter((c) => c[0]?.endsWith('perl') && c[1] === '-e');

  it('serves its parent over the socket, which is gone once taken, and exits with the parent', async () => {
    const rep = await child('own');
    assertAnswers(rep);
    assert.equal(rep.socketLeft, false, 'the socket is unlinked as soon as the parent connects');
    assert.deepEqual(spawnedHelpers(rep), [], 'no helper was spawned: the prestarted one answered both requests');
    assert.equal(rep.children.length, 1);
    assert.match(rep.children[0]!.join(' '), /^stagecraft-helper \d+$/);
    assert.ok(rep.stubPid);
    await until('the stub exits after its parent', () => !existsSync(`/proc/${rep.stubPid}`));
    passed++;
  });

  it('warmed before any request, it takes the connection at once and answers as before', async () => {
    const rep = await child('own', undefined, true);
    assertAnswers(rep);
    assert.equal(rep.takenBeforeRequest, true, 'the warm-up connected before the first request');
    assert.deepEqual(spawnedHelpers(rep), [], 'the warmed prestarted helper answered both requests');
    assert.equal(rep.children.length, 1, 'two warm-up calls made one connection');
    assert.ok(rep.stubPid);
    await until('the stub exits after its parent', () => !existsSync(`/proc/${rep.stubPid}`));
    passed++;
  });

  it('warmed with a missing socket: node spawns a helper for the first request and gives the same answers', async () => {
    const rep = await child('given', `${DIR}/missing-warm-${process.pid}.sock`, true);
    assertAnswers(rep);
    assert.equal(spawnedHelpers(rep).length, 1);
    passed++;
  });

  it('a missing socket: node spawns a helper and gives the same answers', async () => {
    const rep = await child('given', `${DIR}/missing-${process.pid}.sock`);
    assertAnswers(rep);
    assert.equal(spawnedHelpers(rep).length, 1);
    passed++;
  });

  it('refuses any process but its parent, which then spawns its own helper', async () => {
    // This test process is the stub's parent; the child that connects is not.
    const stub = spawn('perl', [STUB, String(process.pid)], { stdio: 'ignore' });
    const sock = `${DIR}/${process.pid}.sock`;
    try {
      await until('the stub listens', () => existsSync(sock));
      const rep = await child('given', sock);
      assertAnswers(rep);
      assert.equal(spawnedHelpers(rep).length, 1, 'refused, the child spawned a helper');
      assert.equal(existsSync(sock), true, 'the stub still waits for its own parent');
      assert.equal(stub.exitCode, null);
    } finally {
      stub.kill('SIGKILL');
      await rm(sock, { force: true });
    }
    passed++;
  });

  it('started with a pid that is not its parent\'s, it exits at once and listens nowhere', async () => {
    const r = await runCommand('perl', [STUB, '1']);
    assert.equal(r.code, 0);
    assert.equal(existsSync(`${DIR}/1.sock`), false);
    const bad = await runCommand('perl', [STUB, 'x; rm -rf /']);
    assert.equal(bad.code, 0);
    passed++;
  });

  describe('through bin/stagecraft', { skip: buildSkipReason() }, () => {
    let env: BuildEnv;
    before(async () => { env = await openBuildEnv(['busybox:latest']); });
    after(async () => { await env?.close(); });

    it('a build uses it, RUN steps never see its socket, and nothing is left behind', async () => {
      const ctx = join(work, 'ctx');
      await mkdir(ctx);
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${env.host}/busybox:latest\nRUN env > /env.txt\n`);
      const e: NodeJS.ProcessEnv = { ...process.env, STAGECRAFT_FROM_SOURCE: '1' };
      delete e.STAGECRAFT_NO_SYSCALL_HELPER;
      const child = spawn(LAUNCHER, ['--root', env.root, 'build', '--progress', 'plain', '-t', 'prestart/env:1', ctx], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      const pid = child.pid!;
      const code = await new Promise<number | null>((r) => child.on('close', r));
      assert.equal(code, 0, stderr);
      await withRootfs(env.root, 'docker.io/prestart/env:1', async (fs) => {
        const vars = await readFile(join(fs, 'env.txt'), 'utf8');
        assert.match(vars, /^PATH=/m, vars);
        assert.doesNotMatch(vars, /STAGECRAFT/, 'a launcher variable reached a RUN step');
      });
      assert.equal(existsSync(`${DIR}/${pid}.sock`), false, 'the socket is not left behind');
      await until('the stub has gone', () => !stubAlive(pid));
      passed++;
    });
  });
});
