/**
 * The build cache, end to end: a rebuild with nothing changed reuses every
 * step and gives the same image; a changed context file re-runs exactly the
 * steps that depend on it, across stages. Needs root, runc, docker-registry
 * and skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBuild, errorLines, runCli } from '../support/cli.js';
import { runImage } from '../support/oci-run.js';
import { buildSkipReason, buildWithEvents, fixture, materialize, openBuildEnv, resolvedRefs, steps, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';
import type { BuildEvent } from '../../src/build/events.js';

const skip = buildSkipReason();
const tally = new Tally('build cache', 9);

/** Every step of the fixture, as `stage: instruction`. */
const ALL = [
  'deps: COPY deps.txt /deps.txt',
  "deps: RUN sed 's/^/deps: /' /deps.txt > /deps.out",
  'tools: COPY tools.txt /tools.txt',
  "tools: RUN sed 's/^/tools: /' /tools.txt > /tools.out",
  'stage-2: COPY --from=tools /tools.out /tools.out',
  'stage-2: COPY --from=deps /deps.out /deps.out',
  'stage-2: COPY app.txt /app.txt',
  'stage-2: RUN cat /tools.out /deps.out /app.txt > /all',
];

/** The steps that ran (not cached), as `stage: instruction`, in the fixture's order; asserts every step reported. */
function reran(events: BuildEvent[]): string[] {
  const s = steps(events);
  const seen = s.map((x) => `${x.stage}: ${x.name}`).sort();
  assert.deepEqual(seen, [...ALL].sort(), 'every step is reported once');
  for (const x of s) assert.notEqual(x.cached, undefined, `${x.name} finished`);
  const ran = new Set(s.filter((x) => x.cached === false).map((x) => `${x.stage}: ${x.name}`));
  return ALL.filter((n) => ran.has(n));
}

describe('build cache', { skip }, () => {
  let env: BuildEnv;
  let context: string;
  let first: { manifestDigest: string };
  const opts = () => ({ context, tags: ['cache:1'], buildArgs: { REGISTRY: env.host }, root: env.root });

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    context = await materialize('cache');
    env.scratch.push(context);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('first build runs every step; a rebuild with nothing changed reuses every step and gives the same manifest digest', async () => {
    const a = await buildWithEvents(opts());
    assert.deepEqual(reran(a.events), ALL);
    first = a.result;
    const b = await buildWithEvents(opts());
    assert.deepEqual(reran(b.events), []);
    assert.equal(b.result.manifestDigest, a.result.manifestDigest);
    assert.equal(b.result.configDigest, a.result.configDigest);
    // The CLI says so too: every step line is CACHED, and it prints the same digest.
    const cli = await cliBuild(context, ['-t', 'cache:1', '--build-arg', `REGISTRY=${env.host}`], { root: env.root });
    assert.equal(cli.code, 0, cli.stderr);
    const stepIds = [...cli.stderr.matchAll(/^#(\d+) \[[^\]]+\] /gm)].map((m) => m[1]);
    assert.equal(stepIds.length, ALL.length, cli.stderr);
    for (const id of stepIds) assert.match(cli.stderr, new RegExp(`^#${id} CACHED$`, 'm'));
    assert.equal(cli.stdout.trim().split('\n').at(-1), a.result.configDigest);
    const run = await runImage(env.root, a.result.tags[0]!);
    assert.equal(run.stdout, 'tools: tools v1\ndeps: deps v1\napp v1\n');
    tally.pass();
  });

  it('a changed file that no COPY reads invalidates nothing', async () => {
    await writeFile(join(context, 'unrelated.txt'), 'changed, but never copied\n');
    const r = await buildWithEvents(opts());
    assert.deepEqual(reran(r.events), []);
    assert.equal(r.result.manifestDigest, first.manifestDigest);
    tally.pass();
  });

  it('a changed input of one stage re-runs that stage and what copies from it; the independent stage stays cached', async () => {
    await writeFile(join(context, 'deps.txt'), 'deps v2\n');
    const r = await buildWithEvents(opts());
    assert.deepEqual(reran(r.events), [
      'deps: COPY deps.txt /deps.txt',
      "deps: RUN sed 's/^/deps: /' /deps.txt > /deps.out",
      // tools and the final stage's COPY --from=tools (before any change in its chain) stay cached.
      'stage-2: COPY --from=deps /deps.out /deps.out',
      'stage-2: COPY app.txt /app.txt',
      'stage-2: RUN cat /tools.out /deps.out /app.txt > /all',
    ]);
    assert.notEqual(r.result.manifestDigest, first.manifestDigest);
    const run = await runImage(env.root, r.result.tags[0]!);
    assert.equal(run.stdout, 'tools: tools v1\ndeps: deps v2\napp v1\n');
    tally.pass();
  });

  it('a changed file of the final stage re-runs only the final stage from that COPY on', async () => {
    await writeFile(join(context, 'app.txt'), 'app v2\n');
    const r = await buildWithEvents(opts());
    assert.deepEqual(reran(r.events), ['stage-2: COPY app.txt /app.txt', 'stage-2: RUN cat /tools.out /deps.out /app.txt > /all']);
    const run = await runImage(env.root, r.result.tags[0]!);
    assert.equal(run.stdout, 'tools: tools v1\ndeps: deps v2\napp v2\n');
    tally.pass();
  });

  it('restoring the original files reuses the original cache entries: every step cached, the first image again', async () => {
    await writeFile(join(context, 'deps.txt'), 'deps v1\n');
    await writeFile(join(context, 'app.txt'), 'app v1\n');
    const r = await buildWithEvents(opts());
    assert.deepEqual(reran(r.events), []);
    assert.equal(r.result.manifestDigest, first.manifestDigest);
    tally.pass();
  });

  it('.dockerignore: ignored files never reach the image, and changing them invalidates nothing', async () => {
    const ctx = await materialize('cache-ignore');
    env.scratch.push(ctx);
    const o = { context: ctx, tags: ['ignore:1'], buildArgs: { REGISTRY: env.host }, root: env.root };
    const a = await buildWithEvents(o);
    const listing = await runImage(env.root, a.result.tags[0]!);
    assert.equal(listing.stdout, '/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/keep.tmp\n/ctx/src/main.txt\n', listing.stderr);
    await writeFile(join(ctx, 'build.tmp'), 'more debug output\n');
    await writeFile(join(ctx, 'secrets', 'token'), 'token=rotated\n');
    await writeFile(join(ctx, 'new.tmp'), 'new and ignored\n');
    const b = await buildWithEvents(o);
    assert.ok(steps(b.events).every((x) => x.cached === true), 'all cached after changing ignored files');
    assert.equal(b.result.manifestDigest, a.result.manifestDigest);
    // A file that is not ignored (re-included by !keep.tmp) does invalidate COPY . and what follows.
    await writeFile(join(ctx, 'keep.tmp'), 'kept, changed\n');
    const c = await buildWithEvents(o);
    assert.deepEqual(steps(c.events).filter((x) => !x.cached).map((x) => x.name), ['COPY . /ctx', 'RUN find /ctx -type f | sort > /listing']);
    tally.pass();
  });

  it('build args: a declared ARG invalidates the steps after it; a proxy arg does not, is visible to RUN, and stays out of the image', async () => {
    const o = (args: Record<string, string>) => ({ context: fixture('cache-args'), tags: ['args:1'], buildArgs: { REGISTRY: env.host, ...args }, root: env.root });
    const ran = (events: BuildEvent[]) => steps(events).filter((x) => !x.cached).map((x) => x.name.replace(/ > .*/, ''));
    const v1 = await buildWithEvents(o({ VERSION: '1' }));
    assert.equal(ran(v1.events).length, 3);
    const v2 = await buildWithEvents(o({ VERSION: '2' }));
    assert.deepEqual(ran(v2.events), ['RUN echo "version 2"', 'RUN echo "proxy ${http_proxy:-unset}"']);
    const proxied = await buildWithEvents(o({ VERSION: '2', http_proxy: 'http://proxy.example:3128' }));
    assert.deepEqual(ran(proxied.events), [], 'a proxy value is not part of any cache key');
    assert.equal(proxied.result.manifestDigest, v2.result.manifestDigest);
    const fresh = await buildWithEvents({ ...o({ VERSION: '3', http_proxy: 'http://proxy.example:3128' }), noCache: true, tags: ['args:3'] });
    const run = await runImage(env.root, fresh.result.tags[0]!);
    assert.equal(run.stdout, 'version 3\nproxy http://proxy.example:3128\n', run.stderr);
    const history = (fresh.result.config.history ?? []).map((h) => h.created_by ?? '');
    assert.ok(history.includes('RUN |1 VERSION=3 /bin/sh -c echo "version $VERSION" > /version # buildkit'), history.join('\n'));
    assert.ok(!JSON.stringify(fresh.result.config).includes('proxy.example'), 'the proxy value is in neither history nor config');
    tally.pass();
  });

  it('rmi + prune keep what the build cache needs (rebuild: all CACHED, same image, runs); prune --all empties the store (rebuild: every step runs)', async () => {
    const store = await mkdtemp(join(tmpdir(), 'stagecraft-prune-store-'));
    env.scratch.push(store);
    const o = { ...opts(), root: store, tags: ['pruned:1'] };
    const a = await buildWithEvents(o);
    assert.equal((await runCli(['rmi', 'pruned:1'], { root: store })).code, 0);
    const gone = await runCli(['inspect', 'pruned:1'], { root: store });
    assert.notEqual(gone.code, 0);
    assert.match(errorLines(gone.stderr)[0] ?? '', /pruned:1 is not in the local store/);
    const pruned = await runCli(['prune'], { root: store });
    assert.equal(pruned.code, 0, pruned.stderr);
    const b = await buildWithEvents(o);
    assert.deepEqual(reran(b.events), []);
    assert.equal(b.result.manifestDigest, a.result.manifestDigest);
    const run = await runImage(store, b.result.tags[0]!);
    assert.equal(run.stdout, 'tools: tools v1\ndeps: deps v1\napp v1\n', run.stderr);
    assert.equal((await runCli(['rmi', 'pruned:1'], { root: store })).code, 0);
    const all = await runCli(['prune', '--all'], { root: store });
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(await readdir(join(store, 'layers')), []);
    assert.deepEqual(await readdir(join(store, 'blobs', 'sha256')), []);
    const c = await buildWithEvents(o);
    assert.deepEqual(reran(c.events), ALL);
    assert.equal(resolvedRefs(c.events).length, 1, 'the base image is pulled again');
    const again = await runImage(store, c.result.tags[0]!);
    assert.equal(again.stdout, run.stdout);
    tally.pass();
  });

  it('two builds of the same Dockerfile at once, into one store, with --no-cache: both succeed and both images work', async () => {
    const o = { ...opts(), noCache: true };
    const [x, y] = await Promise.all([
      buildWithEvents({ ...o, tags: ['together:a'] }),
      cliBuild(context, ['--no-cache', '-t', 'together:b', '--build-arg', `REGISTRY=${env.host}`], { root: env.root }),
    ]);
    assert.equal(y.code, 0, y.stderr);
    assert.deepEqual(reran(x.events), ALL);
    for (const tag of ['docker.io/library/together:a', 'docker.io/library/together:b']) {
      const run = await runImage(env.root, tag);
      assert.equal(run.stdout, 'tools: tools v1\ndeps: deps v1\napp v1\n', `${tag}: ${run.stderr}`);
    }
    tally.pass();
  });
});
