/**
 * RUN --mount (cache, bind, tmpfs), RUN heredocs and RUN --network=none,
 * built for real with busybox: what the step saw, and that no mount target
 * or heredoc file lands in the image. Needs root, runc, docker-registry and
 * skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsIn, withRootfs } from '../support/oci-run.js';
import { buildFailure, buildSkipReason, buildWithEvents, openBuildEnv, steps, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build mounts', 11);

async function contextWith(env: BuildEnv, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-mounts-'));
  env.scratch.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text.split('@REGISTRY@').join(env.host));
  return dir;
}

async function readIn(rootfs: string, p: string): Promise<string> {
  return readFile(join(rootfs, p), 'utf8');
}

describe('RUN --mount builds', { skip }, () => {
  let env: BuildEnv;

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('cache mounts persist between builds under the store, default id is the target, uid/gid/mode apply, and nothing of them is in a layer', async () => {
    const df = [
      'FROM @REGISTRY@/busybox:latest',
      'ARG BUST',
      'RUN --mount=type=cache,target=/cache echo "run $BUST" >> /cache/log && wc -l < /cache/log > /cache-count',
      'RUN --mount=type=cache,target=/cache2 ls /cache2 | wc -l > /cache2-count',
      'RUN --mount=type=cache,id=owned,target=/owned,uid=1001,gid=1002,mode=0751 stat -c "%u %g %a" /owned > /owned-stat',
      'RUN --mount=type=cache,target=/var/cache/deep/nested touch /var/cache/deep/nested/x',
    ].join('\n');
    const context = await contextWith(env, { Dockerfile: df });
    const one = await buildWithEvents({ context, tags: ['mounts-cache:1'], buildArgs: { BUST: '1' }, root: env.root });
    await withRootfs(env.root, one.result.tags[0]!, async (fs) => {
      assert.equal((await readIn(fs, '/cache-count')).trim(), '1');
      assert.equal((await readIn(fs, '/cache2-count')).trim(), '0', '/cache2 is a separate, empty cache');
      assert.equal((await readIn(fs, '/owned-stat')).trim(), '1001 1002 751');
      assert.equal(await existsIn(fs, '/cache'), false, 'the mount point stub is not in the image');
      assert.equal(await existsIn(fs, '/owned'), false);
      assert.equal(await existsIn(fs, '/var/cache'), false, 'parents created only for the mount point are not in the image');
    });
    const two = await buildWithEvents({ context, tags: ['mounts-cache:2'], buildArgs: { BUST: '2' }, root: env.root });
    await withRootfs(env.root, two.result.tags[0]!, async (fs) => {
      assert.equal((await readIn(fs, '/cache-count')).trim(), '2', 'the second build sees the first build\'s cache');
    });
    const dirs = await readdir(join(env.root, 'cache-mounts'));
    assert.ok(dirs.some((d) => d.startsWith('cache-')), `cache dirs: ${dirs.join(', ')}`);
    assert.ok(dirs.some((d) => d.startsWith('owned-')), `cache dirs: ${dirs.join(', ')}`);
    tally.pass();
  });

  it('bind mounts: the context read-only by default (rw writes are thrown away), a stage subpath, .dockerignore applies; none of it is in the image; the RUN re-runs when the mounted context file changes', async () => {
    const df = [
      'FROM @REGISTRY@/busybox:latest AS src',
      'RUN mkdir -p /out && echo from-stage > /out/f && echo other > /other',
      'FROM @REGISTRY@/busybox:latest',
      'RUN --mount=type=bind,from=src,source=/out,target=/mnt cat /mnt/f > /from-stage && ls /mnt > /stage-list',
      'RUN --mount=target=/ctx cat /ctx/hello.txt > /from-context && ls /ctx > /ctx-list && (touch /ctx/new 2>/dev/null && echo writable || echo read-only) > /ctx-ro',
      'RUN --mount=type=bind,source=hello.txt,target=/one/hello cat /one/hello > /single-file',
      'RUN --mount=type=bind,target=/w,rw touch /w/written && ls /w > /rw-list',
      'RUN --mount=target=/src --mount=type=cache,target=/src/build/cache --mount=type=secret,id=s,target=/src/s touch /src/build/cache/x && ls /src > /nested-list',
    ].join('\n');
    const context = await contextWith(env, { Dockerfile: df, 'hello.txt': 'hello from context\n', 'secret.key': 'ignored\n', '.dockerignore': 'secret.key\n' });
    const { result } = await buildWithEvents({ context, tags: ['mounts-bind:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal(await readIn(fs, '/from-context'), 'hello from context\n');
      assert.equal(await readIn(fs, '/single-file'), 'hello from context\n');
      const listed = (await readIn(fs, '/ctx-list')).split('\n').filter(Boolean);
      assert.ok(listed.includes('hello.txt') && !listed.includes('secret.key'), `context as mounted: ${listed.join(' ')}`);
      assert.equal((await readIn(fs, '/ctx-ro')).trim(), 'read-only');
      assert.ok((await readIn(fs, '/rw-list')).includes('written'), 'rw lets the step write');
      assert.equal(await readIn(fs, '/from-stage'), 'from-stage\n');
      assert.equal((await readIn(fs, '/stage-list')).trim(), 'f', 'only the source subpath of the stage');
      for (const p of ['/ctx', '/one', '/w', '/mnt']) assert.equal(await existsIn(fs, p), false, `${p} is not in the image`);
    });
    assert.equal((await readFile(join(context, 'hello.txt'), 'utf8')), 'hello from context\n');
    assert.equal(await existsIn(context, 'written'), false, 'rw writes never reach the context');
    assert.equal(await existsIn(context, 'build'), false, 'mount points inside a context bind are not made in the context');
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      const nested = (await readIn(fs, '/nested-list')).split('\n').filter(Boolean);
      assert.ok(nested.includes('hello.txt') && nested.includes('build'), `nested: ${nested.join(' ')}`);
      assert.equal(await existsIn(fs, '/src'), false);
    });
    // Unchanged: all cached. Changing the mounted file re-runs the steps that mount the context.
    const again = await buildWithEvents({ context, tags: ['mounts-bind:2'], root: env.root });
    assert.ok(steps(again.events).filter((s) => s.name.startsWith('RUN')).every((s) => s.cached), 'an unchanged rebuild is cached');
    await writeFile(join(context, 'hello.txt'), 'changed\n');
    const changed = await buildWithEvents({ context, tags: ['mounts-bind:3'], root: env.root });
    const ctxStep = steps(changed.events).find((s) => s.name.includes('--mount=target=/ctx'));
    assert.equal(ctxStep?.cached, false, 'the context bind step re-ran');
    const stageStep = steps(changed.events).find((s) => s.name.includes('from=src'));
    assert.equal(stageStep?.cached, true, 'the stage bind step (before it, same stage input) did not');
    await withRootfs(env.root, changed.result.tags[0]!, async (fs) => {
      assert.equal(await readIn(fs, '/from-context'), 'changed\n');
    });
    tally.pass();
  });

  it('tmpfs mounts: size applies, content does not persist to the next RUN or the image', async () => {
    const df = [
      'FROM @REGISTRY@/busybox:latest',
      'RUN --mount=type=tmpfs,target=/scratch,size=128m echo x > /scratch/y && grep " /scratch " /proc/mounts > /tmpfs-line',
      'RUN ls /scratch 2>/dev/null | wc -l > /after',
    ].join('\n');
    const context = await contextWith(env, { Dockerfile: df });
    const { result } = await buildWithEvents({ context, tags: ['mounts-tmpfs:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      const line = await readIn(fs, '/tmpfs-line');
      assert.match(line, /^tmpfs \/scratch tmpfs .*size=131072k/, line);
      assert.equal((await readIn(fs, '/after')).trim(), '0');
      assert.equal(await existsIn(fs, '/scratch'), false);
    });
    tally.pass();
  });

  it('RUN heredocs: plain body through the shell, a shebang body run by its interpreter from /dev/pipes; the files are not in the image', async () => {
    const df = [
      'FROM @REGISTRY@/busybox:latest',
      'RUN <<EOF',
      'echo plain > /hd-plain',
      'id -un >> /hd-plain',
      'EOF',
      'RUN <<EOF',
      '#!/bin/sh',
      'echo "shebang $0" > /hd-shebang',
      'EOF',
      'RUN <<EOF cat > /hd-stdin',
      'fed to stdin',
      'EOF',
      // BuildKit testRunShebangHeredoc: the shebang interpreter runs the body; <<- strips tabs first.
      'RUN ln -s busybox /bin/awk',
      'RUN <<-EOF',
      '\t#!/bin/awk -f',
      '\tBEGIN { print "foo" > "/hd-awk" }',
      '\tEOF',
      // BuildKit testRunComplexHeredoc: two heredocs in one command, across a line continuation.
      "RUN cat <<EOF1 | tr '[:upper:]' '[:lower:]' > /hd-out1; \\",
      "  cat <<EOF2 | tr '[:lower:]' '[:upper:]' > /hd-out2",
      'hello WORLD',
      'EOF1',
      'HELLO WORLD',
      'EOF2',
      // A non-root USER can run a shebang heredoc (the bound directory is 0755, the file 0755).
      'RUN mkdir /as-nobody && chown nobody /as-nobody',
      'USER nobody',
      'RUN <<EOF',
      '#!/bin/sh',
      'id -un > /as-nobody/who',
      'EOF',
    ].join('\n');
    const context = await contextWith(env, { Dockerfile: df });
    const { result } = await buildWithEvents({ context, tags: ['mounts-heredoc:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs, image) => {
      assert.equal(await readIn(fs, '/hd-plain'), 'plain\nroot\n');
      assert.equal(await readIn(fs, '/hd-shebang'), 'shebang /dev/pipes/EOF\n');
      assert.equal(await readIn(fs, '/hd-stdin'), 'fed to stdin\n');
      assert.equal(await readIn(fs, '/hd-awk'), 'foo\n');
      assert.equal(await readIn(fs, '/hd-out1'), 'hello world\n');
      assert.equal(await readIn(fs, '/hd-out2'), 'HELLO WORLD\n');
      assert.equal(await readIn(fs, '/as-nobody/who'), 'nobody\n');
      assert.equal(await existsIn(fs, '/dev/pipes'), false);
      const runs = (image.config.history ?? []).map((h) => h.created_by ?? '').filter((c) => c.startsWith('RUN'));
      assert.equal(runs.length, 8, runs.join('\n'));
    });
    tally.pass();
  });

  it('RUN --network=none has only the loopback interface; the default network has more', async () => {
    const df = [
      'FROM @REGISTRY@/busybox:latest',
      'RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /ifaces-none',
      'RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /ifaces-default',
    ].join('\n');
    const context = await contextWith(env, { Dockerfile: df });
    const { result } = await buildWithEvents({ context, tags: ['mounts-net:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.deepEqual((await readIn(fs, '/ifaces-none')).split('\n').filter(Boolean), ['lo']);
      assert.ok((await readIn(fs, '/ifaces-default')).split('\n').filter(Boolean).length > 1, 'the host network has more than lo');
    });
    tally.pass();
  });

  it('cache mounts: --no-cache gives a fresh empty cache and leaves the shared one alone (BuildKit testCacheMountModeNoCache); from+source seeds a new cache; bind from an image', async () => {
    const df = [
      'FROM @REGISTRY@/busybox:latest AS seed',
      'RUN mkdir -p /seeddir && echo seeded > /seeddir/s',
      'FROM @REGISTRY@/busybox:latest',
      'ARG ADD',
      'RUN --mount=type=cache,id=nc,target=/c,mode=0773 touch /c/$ADD && ls /c | wc -l > /count',
      'RUN --mount=type=cache,id=seeded,target=/s,from=seed,source=/seeddir cat /s/s > /seed-read',
      // busybox picks its applet from argv[0]: mounted as /mnt/tools/echo it is echo.
      'RUN --mount=type=bind,from=@REGISTRY@/busybox:latest,source=/bin/busybox,target=/mnt/tools/echo /mnt/tools/echo from-image > /bb-out',
    ].join('\n');
    const context = await contextWith(env, { Dockerfile: df });
    const count = async (tag: string): Promise<string> => withRootfs(env.root, tag, async (fs) => (await readIn(fs, '/count')).trim());
    const a = await buildWithEvents({ context, tags: ['mounts-nc:1'], buildArgs: { ADD: 'abc' }, root: env.root });
    assert.equal(await count(a.result.tags[0]!), '1');
    await withRootfs(env.root, a.result.tags[0]!, async (fs) => {
      assert.equal(await readIn(fs, '/seed-read'), 'seeded\n');
      assert.equal(await readIn(fs, '/bb-out'), 'from-image\n');
      assert.equal(await existsIn(fs, '/mnt/tools'), false);
    });
    const b = await buildWithEvents({ context, tags: ['mounts-nc:2'], buildArgs: { ADD: 'def' }, root: env.root, noCache: true });
    assert.equal(await count(b.result.tags[0]!), '1', 'under --no-cache the cache starts empty');
    const c = await buildWithEvents({ context, tags: ['mounts-nc:3'], buildArgs: { ADD: 'ghi' }, root: env.root });
    assert.equal(await count(c.result.tags[0]!), '2', 'the shared cache has abc + ghi, not def');
    tally.pass();
  });

  it('a cache seeded with from= is keyed by its seed: another seed under the same id fills its own cache, the same seed finds the one it filled (BuildKit keys it by the seed snapshot)', async () => {
    const dockerfile = (word: string): string => [
      'FROM @REGISTRY@/busybox:latest AS seed',
      `RUN mkdir -p /seeddir && echo ${word} > /seeddir/s`,
      'FROM @REGISTRY@/busybox:latest',
      'ARG BUST',
      'RUN --mount=type=cache,id=seed-keyed,target=/s,from=seed,source=/seeddir cat /s/s > /seed-read && echo $BUST >> /s/log && wc -l < /s/log > /log-lines',
    ].join('\n');
    const one = await contextWith(env, { Dockerfile: dockerfile('one') });
    const two = await contextWith(env, { Dockerfile: dockerfile('two') });
    const read = async (tag: string): Promise<string> =>
      withRootfs(env.root, tag, async (fs) => `${(await readIn(fs, '/seed-read')).trim()} ${(await readIn(fs, '/log-lines')).trim()}`);
    const a = await buildWithEvents({ context: one, tags: ['seed-keyed:1'], buildArgs: { BUST: 'a' }, root: env.root });
    assert.equal(await read(a.result.tags[0]!), 'one 1');
    const b = await buildWithEvents({ context: two, tags: ['seed-keyed:2'], buildArgs: { BUST: 'b' }, root: env.root });
    assert.equal(await read(b.result.tags[0]!), 'two 1', 'a different seed is a different cache, seeded with its own content');
    const c = await buildWithEvents({ context: one, tags: ['seed-keyed:3'], buildArgs: { BUST: 'c' }, root: env.root });
    assert.equal(await read(c.result.tags[0]!), 'one 2', 'the first seed finds its cache again, with the first build\'s line');
    tally.pass();
  });

  it('a stage bind is keyed on the content of its source path: an unrelated change in the stage re-runs the stage, not the RUN that mounts it (BuildKit testMountRWCache)', async () => {
    const df = [
      'FROM @REGISTRY@/busybox:latest AS build',
      'ARG CACHEBUST',
      'RUN mkdir /out && echo first > /out/foo',
      'RUN echo "$CACHEBUST" > /cachebust',
      'FROM @REGISTRY@/busybox:latest',
      'RUN --mount=from=build,src=out,target=/out,rw cat /out/foo > /seen && echo extra > /out/written',
    ].join('\n');
    const context = await contextWith(env, { Dockerfile: df });
    await buildWithEvents({ context, tags: ['mount-rw-cache:1'], buildArgs: { CACHEBUST: '1' }, root: env.root });
    const { result, events } = await buildWithEvents({ context, tags: ['mount-rw-cache:2'], buildArgs: { CACHEBUST: '2' }, root: env.root });
    const ran = steps(events);
    assert.equal(ran.find((s) => s.name.startsWith('[build') || s.name.includes('/cachebust'))?.cached, false, 'the stage re-ran');
    assert.equal(ran.find((s) => s.name.includes('--mount=from=build'))?.cached, true, 'the consumer stayed cached');
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal(await readIn(fs, '/seen'), 'first\n');
      assert.equal(await existsIn(fs, '/out'), false, 'rw writes to a stage bind are thrown away');
    });
    tally.pass();
  });

  it('sharing=locked serialises parallel stages on one cache; nested cache mounts in parallel stages work (BuildKit testCacheMountParallel)', async () => {
    const writer = (name: string): string =>
      `RUN --mount=type=cache,id=lk,target=/c,sharing=locked echo ${name}-start >> /c/log && sleep 1 && echo ${name}-end >> /c/log && touch /done-${name}`;
    const df = [
      'FROM @REGISTRY@/busybox:latest AS a',
      writer('a'),
      'RUN --mount=type=cache,target=/foo/bar --mount=type=cache,target=/foo/bar/baz touch /foo/bar/baz/a',
      'FROM @REGISTRY@/busybox:latest AS b',
      writer('b'),
      'RUN --mount=type=cache,target=/foo/bar --mount=type=cache,target=/foo/bar/baz touch /foo/bar/baz/b',
      'FROM @REGISTRY@/busybox:latest',
      'COPY --from=a /done-a /',
      'COPY --from=b /done-b /',
      'RUN --mount=type=cache,id=lk,target=/c cat /c/log > /log',
      'RUN --mount=type=cache,target=/foo/bar/baz ls /foo/bar/baz > /baz',
    ].join('\n');
    const context = await contextWith(env, { Dockerfile: df });
    const { result } = await buildWithEvents({ context, tags: ['mounts-locked:1'], root: env.root, jobs: 2 });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      const log = (await readIn(fs, '/log')).split('\n').filter(Boolean);
      assert.equal(log.length, 4, log.join(' '));
      const first = log[0]!.split('-')[0]!;
      const second = first === 'a' ? 'b' : 'a';
      assert.deepEqual(log, [`${first}-start`, `${first}-end`, `${second}-start`, `${second}-end`], 'one writer at a time');
      assert.deepEqual((await readIn(fs, '/baz')).split('\n').filter(Boolean).sort(), ['a', 'b']);
    });
    tally.pass();
  });

  it('ONBUILD RUN --mount=type=cache shares the cache of the child\'s own cache mount (BuildKit testOnBuildWithCacheMount)', async () => {
    const parent = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest\nONBUILD RUN --mount=type=cache,target=/onbuild-cache echo from-trigger >> /onbuild-cache/log\n' });
    await buildWithEvents({ context: parent, tags: ['onbuild-mount-parent:1'], root: env.root });
    const child = await contextWith(env, { Dockerfile: 'FROM onbuild-mount-parent:1\nRUN --mount=type=cache,target=/onbuild-cache cat /onbuild-cache/log > /log\n' });
    const { result } = await buildWithEvents({ context: child, tags: ['onbuild-mount-child:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal(await readIn(fs, '/log'), 'from-trigger\n');
      assert.equal(await existsIn(fs, '/onbuild-cache'), false);
    });
    tally.pass();
  });

  it('mount errors and escapes: a missing context source and a missing stage path fail with the line; a context symlink or .. never binds a host file; a cache source symlinked outside the cache is refused', async () => {
    const missing = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest\nRUN --mount=source=nope.txt,target=/x cat /x\n' });
    const f1 = await buildFailure({ context: missing, root: env.root });
    assert.match(String((f1.error as Error).message), /nope\.txt not found in the build context/);
    assert.equal((f1.error as { location?: { startLine: number } }).location?.startLine, 2);
    const noPath = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest AS s\nFROM @REGISTRY@/busybox:latest\nRUN --mount=from=s,source=/nope,target=/x true\n' });
    const f3 = await buildFailure({ context: noPath, root: env.root });
    assert.match(String((f3.error as Error).message), /\/nope not found in stage s/);
    assert.equal((f3.error as { location?: { startLine: number } }).location?.startLine, 3);
    // Context escape: a symlink in the context (or ..) never leads a bind source to a host file.
    const linked = await contextWith(env, { Dockerfile: 'FROM @REGISTRY@/busybox:latest\nRUN --mount=source=hostlink,target=/x cat /x > /got\nRUN --mount=source=../../../etc/hostname,target=/y cat /y > /got2\n' });
    await symlink('/etc/hostname', join(linked, 'hostlink'));
    const f4 = await buildFailure({ context: linked, root: env.root });
    assert.match(String((f4.error as Error).message), /\/hostlink not found in the build context/);
    await rm(join(linked, 'hostlink'));
    await writeFile(join(linked, 'Dockerfile'), `FROM ${env.host}/busybox:latest\nRUN --mount=source=../../../etc/hostname,target=/y cat /y > /got2\n`);
    const f5 = await buildFailure({ context: linked, root: env.root });
    assert.match(String((f5.error as Error).message), /\/etc\/hostname not found in the build context/);
    const escape = await contextWith(env, {
      Dockerfile: [
        'FROM @REGISTRY@/busybox:latest',
        'RUN --mount=type=cache,id=esc,target=/c ln -s /etc /c/sel',
        'RUN --mount=type=cache,id=esc,target=/c,source=sel ls /c',
      ].join('\n'),
    });
    const f2 = await buildFailure({ context: escape, root: env.root });
    assert.match(String((f2.error as Error).message), /resolves outside the cache/);
    tally.pass();
  });
});
