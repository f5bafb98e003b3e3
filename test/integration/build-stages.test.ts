/**
 * The stage graph, for real: unneeded stages are never resolved or run,
 * --target stops at a middle stage, and COPY --from reads stages by index and
 * name and images by reference. Needs root, runc, docker-registry and skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { existsIn, readStoredImage, runImage, withRootfs } from '../support/oci-run.js';
import {
  buildSkipReason, buildWithEvents, fixture, materialize, openBuildEnv, resolvedRefs, steps, Tally, type BuildEnv,
} from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build stages', 6);

/** A TCP listener on 127.0.0.1 that only counts who connects: a registry host that must never be asked. */
async function trapHost(): Promise<{ host: string; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((sock) => { n++; sock.destroy(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { host: `127.0.0.1:${port}`, connections: () => n, close: () => new Promise((r) => server.close(() => r())) };
}

describe('stage graph builds', { skip }, () => {
  let env: BuildEnv;

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('unused stages never run: a failing RUN and a base image nobody can pull do not stop the build, and that base is never asked for', async () => {
    const trap = await trapHost();
    try {
      const ghost = `${trap.host}/ghost:latest`;
      const { result, events } = await buildWithEvents({
        context: fixture('unused-stages'),
        tags: ['unused:1'],
        buildArgs: { REGISTRY: env.host, GHOST: ghost },
        root: env.root,
      });
      const start = events.find((e) => e.type === 'build-start');
      assert.ok(start?.type === 'build-start');
      assert.deepEqual([...start.stages].sort(), ['final', 'used']);
      assert.deepEqual(resolvedRefs(events).filter((r) => r.includes('ghost')), [], 'the ghost base is never resolved');
      assert.equal(trap.connections(), 0, 'nothing connected to the ghost registry');
      const ran = steps(events);
      assert.deepEqual(ran.filter((s) => s.stage === 'broken' || s.stage === 'ghost'), []);
      assert.ok(ran.some((s) => s.stage === 'used' && s.name === 'RUN echo used > /used'));
      const run = await runImage(env.root, result.tags[0]!);
      assert.equal(run.stdout, 'used\n', run.stderr);
    } finally {
      await trap.close();
    }
    tally.pass();
  });

  it('--target of a middle stage: the image is that stage (files and config), later stages never run', async () => {
    const { result, events } = await buildWithEvents({
      context: fixture('target-middle'),
      target: 'middle',
      tags: ['target:middle'],
      buildArgs: { REGISTRY: env.host },
      root: env.root,
    });
    const ran = steps(events);
    assert.deepEqual([...new Set(ran.map((s) => s.stage))].sort(), ['base', 'middle']);
    assert.deepEqual(result.stages.map((s) => s.name).sort(), ['base', 'middle']);
    const cfg = result.config.config ?? {};
    assert.deepEqual(cfg.Cmd, ['cat', '/middle']);
    assert.ok(cfg.Env?.includes('STAGE=middle'), `Env: ${JSON.stringify(cfg.Env)}`);
    assert.deepEqual(cfg.Labels, { stage: 'middle' });
    const stored = await readStoredImage(env.root, result.tags[0]!);
    assert.equal(stored.manifestDigest, result.manifestDigest);
    assert.deepEqual(stored.config.config?.Cmd, ['cat', '/middle']);
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal(await existsIn(fs, '/base'), true, 'middle is built on base');
      assert.equal(await existsIn(fs, '/middle'), true);
      assert.equal(await existsIn(fs, '/final'), false);
    });
    const run = await runImage(env.root, result.tags[0]!);
    assert.equal(run.stdout, 'middle\n', run.stderr);
    tally.pass();
  });

  it('COPY --from by stage index, by stage name and by image reference', async () => {
    const context = await materialize('copy-from', { REGISTRY: env.host });
    env.scratch.push(context);
    const { result, events } = await buildWithEvents({ context, tags: ['copy-from:1'], buildArgs: { REGISTRY: env.host }, root: env.root });
    // The image named in --from is resolved as an image (a stage named like it does not exist).
    assert.ok(resolvedRefs(events).includes(`${env.host}/busybox:latest`), `resolved: ${resolvedRefs(events).join(', ')}`);
    const copies = steps(events).filter((s) => s.name.startsWith('COPY --from='));
    assert.deepEqual(copies.map((s) => s.name), [
      'COPY --from=0 /msg /msg',
      'COPY --from=named /named /named',
      `COPY --from=${env.host}/busybox:latest /bin/busybox /busybox`,
    ]);
    // FROM scratch: the final image has only what was copied.
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      for (const p of ['/msg', '/named', '/busybox']) assert.equal(await existsIn(fs, p), true, p);
      assert.equal(await existsIn(fs, '/bin'), false, 'nothing but the copies');
    });
    const run = await runImage(env.root, result.tags[0]!);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout, 'from-stage-zero\nfrom-named\n');
    const bb = await runImage(env.root, result.tags[0]!, { args: ['/busybox', 'echo', 'busybox copied from an image runs'] });
    assert.equal(bb.stdout, 'busybox copied from an image runs\n');
    // One image, used as two bases and a COPY source, is resolved once.
    assert.equal(resolvedRefs(events).filter((r) => r === `${env.host}/busybox:latest`).length, 1);
    tally.pass();
  });

  it('FROM <stage> inherits ENV, WORKDIR, USER, SHELL and fires ONBUILD; COPY --from sources are from the stage root, destinations under WORKDIR', async () => {
    const { result, events } = await buildWithEvents({ context: fixture('inheritance'), tags: ['inherit:1'], buildArgs: { REGISTRY: env.host }, root: env.root });
    assert.ok(steps(events).some((s) => s.stage === 'child' && s.name.startsWith('ONBUILD RUN')), 'the trigger ran in the child stage');
    const run = await runImage(env.root, result.tags[0]!);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout, 'child hello-global yes /work/dir 1000\nonbuild-fired-as-1000\nbase-as-1000\n');
    // The final stage is busybox's: nothing of base's config.
    const c = result.config.config ?? {};
    assert.equal(c.User ?? '', '');
    assert.equal(c.WorkingDir, '/elsewhere');
    assert.ok(!(c.Env ?? []).some((e) => e.startsWith('FROM_BASE=')));
    assert.equal(c.OnBuild ?? null, null);
    tally.pass();
  });

  it('independent stages run at the same time (each RUN starts before the other finishes)', async () => {
    const { result, events } = await buildWithEvents({ context: fixture('parallel'), tags: ['parallel:1'], buildArgs: { REGISTRY: env.host }, root: env.root, jobs: 2 });
    const at = (type: 'step-start' | 'step-done', stage: string): number => {
      const id = steps(events).find((s) => s.stage === stage && s.name.startsWith('RUN'))?.id;
      const i = events.findIndex((e) => e.type === type && e.id === id);
      assert.ok(i >= 0, `${type} of ${stage}`);
      return i;
    };
    assert.ok(at('step-start', 'left') < at('step-done', 'right') && at('step-start', 'right') < at('step-done', 'left'),
      'the two sleeping RUN steps overlapped');
    const run = await runImage(env.root, result.tags[0]!);
    assert.equal(run.stdout, 'left\nright\n');
    tally.pass();
  });

  it('deletions in later layers (base file, hard-linked pair, replaced directory) hold in the image and after save + umoci; COPY --from --chown by name', async () => {
    const opts = { context: fixture('deletions'), buildArgs: { REGISTRY: env.host }, root: env.root };
    const builder = await buildWithEvents({ ...opts, target: 'builder', tags: ['deletions:builder'] });
    const final = await buildWithEvents({ ...opts, tags: ['deletions:1'] });
    const list = ['sh', '-c', 'find /data | sort; ls /bin/vi 2>&1 || true'];
    for (const via of ['overlay', 'umoci'] as const) {
      const b = await runImage(env.root, builder.result.tags[0]!, { via, args: list });
      assert.equal(b.stdout, '/data\n/data/a-link\n/data/keep\n/data/sub\n/data/sub/new\nls: /bin/vi: No such file or directory\n', `builder via ${via}: ${b.stderr}`);
      const f = await runImage(env.root, final.result.tags[0]!, { via });
      assert.equal(f.exitCode, 0, f.stderr);
      assert.equal(f.stdout, [
        '/data', '/data/a-link', '/data/keep', '/data/sub', '/data/sub/new',
        '1000:1000 /data', '1000:1000 /data/keep', '1000:1000 /data/sub/new', '',
      ].join('\n'), `final via ${via}`);
    }
    tally.pass();
  });
});
