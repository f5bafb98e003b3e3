/**
 * The classic multi-stage Python builds, end to end: base images pulled from a
 * real registry, RUN steps in runc on overlayfs, and the result run with runc
 * from the store (test/support/oci-run.ts), independently of stagecraft's
 * runtime code. Needs root, runc, docker-registry, skopeo and umoci.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cliBuild } from '../support/cli.js';
import { existsIn, runImage, withRootfs } from '../support/oci-run.js';
import {
  buildSkipReason, buildWithEvents, fixture, MB, openBuildEnv, REPO, steps, Tally, type BuildEnv,
} from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build python', 2);
const EXAMPLE = join(REPO, 'examples', 'python-app');
const TRIPLE = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
/** What a C toolchain and Python headers leave in an image. */
const BUILD_ONLY_PATHS = ['/usr/bin/gcc', '/usr/bin/cc', `/usr/bin/${TRIPLE}-gcc-12`, '/usr/include/python3.11/Python.h', '/usr/lib/gcc'];

describe('multi-stage Python builds', { skip }, () => {
  let env: BuildEnv;

  before(async () => {
    env = await openBuildEnv(['python:3.11-build', 'python:3.11-slim']);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('classic: the app runs in the final image, which has no compiler or headers and is >100 MB smaller than the builder', async () => {
    const buildArgs = { REGISTRY: env.host };
    const { result, events } = await buildWithEvents({ context: EXAMPLE, tags: ['app-classic:1'], buildArgs, root: env.root });
    const tag = result.tags[0]!;
    assert.equal(tag, 'docker.io/library/app-classic:1');

    // The builder compiled the extension (a RUN that really ran).
    const pip = steps(events).find((s) => s.name.startsWith('RUN pip install'));
    assert.ok(pip, 'the pip install step ran');
    assert.equal(pip.stage, 'builder');
    assert.equal(pip.cached, false);
    const pipLog = events.flatMap((e) => (e.type === 'step-log' && e.id === pip.id ? [e.line] : [])).join('\n');
    assert.match(pipLog, /Successfully installed fastsum-1\.0\.0/);

    // The app runs in the final image, as the configured user.
    const run = await runImage(env.root, tag);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.deepEqual(run.args, ['python3', 'app.py']);
    assert.equal(run.stdout, 'fastsum 1.0.0: sum=5050\n');
    // Again through an independent reader: stagecraft save --format oci + umoci unpack.
    const viaUmoci = await runImage(env.root, tag, { via: 'umoci', args: ['python3', 'app.py', '2', '3', '37'] });
    assert.equal(viaUmoci.exitCode, 0, viaUmoci.stderr);
    assert.equal(viaUmoci.stdout, 'fastsum 1.0.0: sum=42\n');
    const id = await runImage(env.root, tag, { args: ['id', '-u'] });
    assert.equal(id.stdout.trim(), '1000');

    // The compiled module came from the builder: a native shared object.
    await withRootfs(env.root, tag, async (fs) => {
      for (const p of BUILD_ONLY_PATHS) assert.equal(await existsIn(fs, p), false, `${p} must not be in the final image`);
      assert.ok(await existsIn(fs, '/usr/bin/python3'));
      assert.ok(await existsIn(fs, '/app/app.py'));
      assert.equal(await existsIn(fs, '/src'), false, 'the sources the builder compiled stay there');
    });
    const so = await runImage(env.root, tag, { args: ['python3', '-c', 'import fastsum._native as n; print(n.__file__)'] });
    assert.match(so.stdout, /^\/usr\/local\/lib\/python3\.11\/dist-packages\/fastsum\/_native\.cpython-311-[^/]+\.so\n$/);

    // The builder stage does have them: the absence above is the multi-stage build's doing.
    const builder = await buildWithEvents({ context: EXAMPLE, target: 'builder', tags: ['app-classic:builder'], buildArgs, root: env.root });
    assert.ok(steps(builder.events).every((s) => s.cached === true), 'building --target builder again reuses every step');
    await withRootfs(env.root, builder.result.tags[0]!, async (fs) => {
      for (const p of BUILD_ONLY_PATHS) assert.equal(await existsIn(fs, p), true, `${p} is in the builder`);
    });

    // Sizes, from the build result.
    const byName = new Map(result.stages.map((s) => [s.name, s]));
    const b = byName.get('builder');
    const r = byName.get('runner');
    assert.ok(b && r, `stages: ${result.stages.map((s) => s.name).join(', ')}`);
    assert.equal(r.size, result.size);
    const saved = b.size - r.size;
    console.log(`build python classic: builder ${(b.size / MB).toFixed(1)} MB, runner ${(r.size / MB).toFixed(1)} MB, left behind ${(saved / MB).toFixed(1)} MB`);
    assert.ok(saved > 100 * MB, `builder (${b.size}) - runner (${r.size}) = ${saved} bytes, expected > 100 MB`);

    // The summary line, in the result and as the CLI prints it (a fully cached rebuild).
    const line = /^\s*builder (\d+(?:\.\d+)? [kMG]?B) -> runner (\d+(?:\.\d+)? [kMG]?B) \((\d+)% left behind; copied \d+(?:\.\d+)? [kMG]?B from builder\)$/;
    const fromResult = result.summary.find((l) => line.test(l));
    assert.ok(fromResult, `summary:\n${result.summary.join('\n')}`);
    const pct = Number(line.exec(fromResult)![3]);
    assert.equal(pct, Math.round((1 - r.size / b.size) * 100));
    const cli = await cliBuild(EXAMPLE, ['-t', 'app-classic:1', '--build-arg', `REGISTRY=${env.host}`], { root: env.root });
    assert.equal(cli.code, 0, cli.stderr);
    const printed = (cli.stdout + cli.stderr).split('\n').find((l) => line.test(l));
    assert.ok(printed, `the CLI printed no size line:\n${cli.stderr}`);
    assert.equal(printed.trim(), fromResult.trim());
    // Nothing changed: same image, byte for byte.
    assert.equal(cli.stdout.trim().split('\n').at(-1), result.configDigest);
    tally.pass();
  });

  it('wheels: pip wheel in the builder, the runner installs the wheel through RUN --mount=from=builder; the app runs, the wheel file is not in the image', async () => {
    const { result, events } = await buildWithEvents({
      context: EXAMPLE,
      dockerfile: fixture('python-wheels', 'Dockerfile'),
      tags: ['app-wheels:1'],
      buildArgs: { REGISTRY: env.host },
      root: env.root,
    });
    const wheel = events.flatMap((e) => (e.type === 'step-log' ? [e.line] : [])).join('\n');
    assert.match(wheel, /Created wheel for fastsum: filename=fastsum-1\.0\.0-cp311-cp311-linux_\w+\.whl/);
    const tag = result.tags[0]!;
    const run = await runImage(env.root, tag);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout, 'fastsum 1.0.0: sum=5050\n');
    // Installed as a distribution: its metadata is there, as pip would leave it.
    const meta = await runImage(env.root, tag, { args: ['python3', '-c', 'import importlib.metadata as m; print(m.version("fastsum"))'] });
    assert.equal(meta.stdout, '1.0.0\n', meta.stderr);
    await withRootfs(env.root, tag, async (fs) => {
      for (const p of BUILD_ONLY_PATHS) assert.equal(await existsIn(fs, p), false, `${p} must not be in the final image`);
      assert.equal(await existsIn(fs, '/usr/lib/python3/dist-packages/pip'), false, 'the runner has no pip');
      assert.equal(await existsIn(fs, '/wheels'), false, 'the wheel was read through a mount, not copied');
    });
    // The runner's install step read the builder's wheel: the runner waited for the builder.
    const all = steps(events);
    const wheelId = all.find((s) => s.name.startsWith('RUN pip wheel'))?.id;
    const mountId = all.find((s) => s.name.startsWith('RUN --mount=type=bind,from=builder'))?.id;
    const wheelDone = events.findIndex((e) => e.type === 'step-done' && e.id === wheelId);
    const mountStart = events.findIndex((e) => e.type === 'step-start' && e.id === mountId);
    assert.ok(wheelDone >= 0 && mountStart > wheelDone, 'the install started after the wheel was built');
    const b = result.stages.find((s) => s.name === 'builder')!;
    const r = result.stages.find((s) => s.name === 'runner')!;
    console.log(`build python wheels: builder ${(b.size / MB).toFixed(1)} MB, runner ${(r.size / MB).toFixed(1)} MB`);
    assert.ok(b.size - r.size > 100 * MB);
    tally.pass();
  });
});
