/**
 * What a user sees when a build fails: the CLI exits non-zero and prints one
 * `error:` line that names the file and line, the cause, and what to do. A
 * failed build changes nothing in the store. Needs root, runc,
 * docker-registry and skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { isStagecraftError } from '../../src/errors.js';
import { CLI, cliBuild, errorLines, runCli, type CliResult } from '../support/cli.js';
import { readStoredImage } from '../support/oci-run.js';
import { buildFailure, buildSkipReason, fixture, mountsUnder, openBuildEnv, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build errors', 11);
const errors = (name: string): string => fixture('errors', name);

/** The single error line, asserting there is exactly one and the exit code is not 0. */
function oneError(r: CliResult): string {
  assert.notEqual(r.code, 0, `expected failure; stdout: ${r.stdout}`);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, `expected one error line, got:\n${r.stderr}`);
  return lines[0]!;
}

/** Runs the CLI in a private mount namespace where runc and crun are hidden (bind-mounted over by /dev/null): as if neither were installed. */
function cliWithoutRuntimes(args: string[], root: string): Promise<CliResult> {
  const hide = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc', '/usr/bin/crun', '/usr/sbin/crun', '/usr/local/bin/crun']
    .map((p) => `[ ! -e ${p} ] || mount --bind /dev/null ${p} || exit 99`).join('; ');
  const script = `${hide}; exec "$0" "$@"`;
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-m', 'sh', '-c', script, process.execPath, CLI, ...args], {
      env: { ...process.env, STAGECRAFT_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function sha256File(path: string): Promise<string> {
  return `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`;
}

describe('build errors', { skip }, () => {
  let env: BuildEnv;
  let reg: string[];

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    reg = ['--build-arg', `REGISTRY=${env.host}`];
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('no Dockerfile: names the path it looked for and suggests -f', async () => {
    const line = oneError(await cliBuild(errors('no-dockerfile'), [], { root: env.root }));
    assert.ok(line.includes(`no Dockerfile at ${join(errors('no-dockerfile'), 'Dockerfile')}`), line);
    assert.match(line, /-f\b/);
    tally.pass();
  });

  it('unknown instruction: Dockerfile:3 and the instruction; a near miss gets "did you mean"', async () => {
    const line = oneError(await cliBuild(errors('unknown-instruction'), [], { root: env.root }));
    assert.match(line, /^error: Dockerfile:3: unknown instruction: FOO\b/);
    const typo = join(env.root, '..', `typo-${process.pid}.Dockerfile`);
    env.scratch.push(typo);
    await writeFile(typo, 'FROM scratch\nCOPY README /\nFRM scratch\n');
    const near = oneError(await cliBuild(errors('unknown-instruction'), ['-f', typo], { root: env.root }));
    // Named by the file given with -f, as RUN errors are.
    assert.equal(near, `error: ${typo}:3: unknown instruction: FRM (did you mean FROM?)`);
    tally.pass();
  });

  it('base image not found: the FROM line, the reference and the registry', async () => {
    const line = oneError(await cliBuild(errors('missing-base'), reg, { root: env.root }));
    const ref = `${env.host}/no-such-image:1.0`;
    assert.ok(line.includes(ref), `names ${ref}: ${line}`);
    assert.ok(line.includes(`registry ${env.host}`), `names the registry: ${line}`);
    assert.match(line, /not found/);
    // The FROM instruction is line 2 (not the whole stage, lines 2-3).
    assert.match(line, /^error: Dockerfile:2: /);
    tally.pass();
  });

  it('RUN exits non-zero: the instruction, its exit code and the last lines of its output', async () => {
    const r = await cliBuild(errors('run-fails'), reg, { root: env.root });
    const line = oneError(r);
    assert.match(line, /^error: Dockerfile:3: RUN echo first line; echo second line; echo to stderr >&2; exit 3 .*\bcode:? 3\b/);
    // The tail of the output, stdout and stderr together, before the error line.
    const before = r.stderr.slice(0, r.stderr.indexOf(line));
    for (const l of ['first line', 'second line', 'to stderr']) assert.match(before, new RegExp(`^\\s+${l}$`, 'm'));
    tally.pass();
  });

  it('COPY source missing from the context: names the path and the context, suggests hello.txt', async () => {
    const line = oneError(await cliBuild(errors('copy-missing'), [], { root: env.root }));
    assert.match(line, /^error: Dockerfile:2: /);
    assert.match(line, /"\/?hello\.tx": not found in build context/);
    assert.match(line, /did you mean "\/?hello\.txt"\?/);
    tally.pass();
  });

  it('COPY --from source missing from a stage: names the stage and the path, suggests the near match', async () => {
    const line = oneError(await cliBuild(errors('copy-missing-from-stage'), reg, { root: env.root }));
    assert.match(line, /^error: Dockerfile:6: /);
    assert.match(line, /"\/out\/hello\.tx": not found in stage builder/);
    // The suggestion in the same form as the path the user wrote.
    assert.match(line, /did you mean "\/out\/hello\.txt"\?/);
    tally.pass();
  });

  it('no OCI runtime installed: the error names the packages that provide one', async () => {
    const r = await cliWithoutRuntimes(['build', '--progress', 'plain', ...reg, '--no-cache', errors('needs-runtime')], env.root);
    assert.notEqual(r.code, 99, `could not hide the runtimes: ${r.stderr}`);
    const line = oneError(r);
    assert.match(line, /no working OCI runtime/);
    assert.match(line, /runc is not installed/);
    assert.match(line, /apt-get install runc/);
    assert.match(line, /crun/);
    tally.pass();
  });

  it('the same build with runc present succeeds (the runtime test above failed for the runtime alone)', async () => {
    const r = await cliBuild(errors('needs-runtime'), [...reg, '--no-cache'], { root: env.root });
    assert.equal(r.code, 0, r.stderr);
    tally.pass();
  });

  it('library: build() rejects with a StagecraftError carrying a code and the Dockerfile location', async () => {
    const cases: Array<[string, string, number]> = [
      ['run-fails', 'RUN_FAILED', 3],
      ['copy-missing', 'COPY', 2],
      ['copy-missing-from-stage', 'COPY', 6],
      ['unknown-instruction', 'INSTRUCTION', 3],
    ];
    for (const [name, code, line] of cases) {
      const { error } = await buildFailure({ context: errors(name), buildArgs: { REGISTRY: env.host }, root: env.root });
      assert.ok(isStagecraftError(error), `${name}: ${String(error)}`);
      assert.equal(error.code, code, `${name}: ${error.message}`);
      assert.equal(error.location?.startLine, line, name);
    }
    tally.pass();
  });

  it('interrupting a build (SIGINT) stops the running step: the CLI exits non-zero soon, no mounts or processes are left', async () => {
    // A line the step printed (plain progress: `#3 0.123 text`), not the instruction's echo.
    const OUTPUT = (text: string): RegExp => new RegExp(`^#\\d+ \\d+\\.\\d+ ${text}$`, 'm');
    const child = spawn(process.execPath, [CLI, 'build', '--progress', 'plain', '--no-cache', ...reg, errors('interrupted')], {
      env: { ...process.env, STAGECRAFT_ROOT: env.root }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stdout.resume();
    const started = new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (OUTPUT('started-long-step').test(stderr)) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await Promise.race([started, exited]);
    assert.match(stderr, OUTPUT('started-long-step'), 'the step started');
    const t0 = Date.now();
    child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(killer);
    assert.notEqual(code, 0);
    assert.notEqual(code, null, 'the CLI had to be killed');
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms to stop`);
    assert.doesNotMatch(stderr, OUTPUT('never-finished'));
    assert.equal(errorLines(stderr).length, 1, stderr);
    assert.deepEqual(mountsUnder(env.root), [], 'no overlay mounts left');
    const sleepers = spawnSync('pgrep', ['-f', '^sleep 187$'], { encoding: 'utf8' });
    assert.equal(sleepers.stdout.trim(), '', 'the container process is gone');
    tally.pass();
  });

  it('a failed build leaves existing tags and blobs untouched', async () => {
    const ok = await cliBuild(errors('needs-runtime'), [...reg, '-t', 'keep:1'], { root: env.root });
    assert.equal(ok.code, 0, ok.stderr);
    const before = await readStoredImage(env.root, 'docker.io/library/keep:1');
    assert.equal(ok.stdout.trim().split('\n').at(-1), before.configDigest);
    const blobsDir = join(env.root, 'blobs', 'sha256');
    const blobsBefore = (await readdir(blobsDir)).sort();
    const layersBefore = (await readdir(join(env.root, 'layers'))).sort();

    const failed = await cliBuild(errors('run-fails'), [...reg, '-t', 'keep:1'], { root: env.root });
    oneError(failed);

    const after = await readStoredImage(env.root, 'docker.io/library/keep:1');
    assert.equal(after.manifestDigest, before.manifestDigest, 'keep:1 still points to the old image');
    const index = JSON.parse(await readFile(join(env.root, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
    assert.equal(index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'docker.io/library/keep:1').length, 1);
    const blobsAfter = new Set(await readdir(blobsDir));
    for (const b of blobsBefore) assert.ok(blobsAfter.has(b), `blob ${b} was removed`);
    const layersAfter = new Set(await readdir(join(env.root, 'layers')));
    for (const l of layersBefore) assert.ok(layersAfter.has(l), `layer ${l} was removed`);
    // The old image is intact: manifest and config match their digests, every
    // layer is still unpacked, and layer blobs that were stored still match theirs.
    for (const d of [before.manifestDigest, before.configDigest]) assert.equal(await sha256File(join(blobsDir, d.slice(7))), d);
    for (const diffId of before.config.rootfs.diff_ids) assert.ok(layersAfter.has(diffId.slice(7)), `layer dir for ${diffId}`);
    for (const l of before.manifest.layers) {
      if (blobsBefore.includes(l.digest.slice(7))) assert.equal(await sha256File(join(blobsDir, l.digest.slice(7))), l.digest);
    }
    const listed = await runCli(['images', '--format', 'json'], { root: env.root });
    const images = JSON.parse(listed.stdout) as Array<{ ref: string; manifestDigest: string }>;
    assert.deepEqual(images.filter((i) => i.ref === 'docker.io/library/keep:1').map((i) => i.manifestDigest), [before.manifestDigest]);
    tally.pass();
  });
});
