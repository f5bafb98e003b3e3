/**
 * Build behaviours at the edges of the main suites, each against a real
 * registry, runc and overlay mounts:
 * - lint warnings during `stagecraft build` (plain and json progress), and
 *   `# check=error=true` failing before any step runs;
 * - a config-only FROM scratch image dated by the build, not 1970;
 * - the size report for a stage read through RUN --mount=from;
 * - WORKDIR ownership (BuildKit testWorkdirUser: the USER's passwd ids, a
 *   bare uid as uid:uid, an unknown name as root; an existing dir keeps its owner);
 * - prune --all clearing RUN cache mounts;
 * - ONBUILD triggers of a base image pulled from a registry (pushed by
 *   skopeo), COPY --from trigger included: run once, and the stage it reads
 *   is built although nothing else needs it;
 * - empty (zero-layer) stages read through overlay: COPY --from an empty
 *   stage or --from=scratch, RUN in a FROM scratch stage with a bind mount;
 * - ADD of local files that only look like archives: copied as they are.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { lstat, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBuild, errorLines, runCli } from '../support/cli.js';
import { withRootfs } from '../support/oci-run.js';
import type { BuildEvent } from '../../src/build/events.js';
import { buildSkipReason, buildWithEvents, openBuildEnv, resolvedRefs, steps, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build gaps', 8);

describe('build gaps', { skip }, () => {
  let env: BuildEnv;
  let busybox: string;

  async function contextWith(files: Record<string, string | Buffer>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-gaps-'));
    env.scratch.push(dir);
    for (const [name, body] of Object.entries(files)) {
      await mkdir(join(dir, name, '..'), { recursive: true });
      await writeFile(join(dir, name), body);
    }
    return dir;
  }

  async function freshStore(): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'stagecraft-gaps-store-'));
    env.scratch.push(root);
    return root;
  }

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    busybox = `${env.host}/busybox:latest`;
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('lint warnings are shown during build (plain and json progress, no duplicate for an empty continuation line); check=error=true fails with LINT before any step', async () => {
    const dockerfile = [
      `FROM ${busybox} as base`,
      'RUN echo one \\',
      '',
      '    two > /x',
      `FROM ${busybox} AS spare`,
      'RUN exit 3',
      'FROM base',
      'RUN cat /x',
    ].join('\n');
    const context = await contextWith({ Dockerfile: dockerfile });
    const plain = await cliBuild(context, ['-t', 'gaps-lint:1'], { root: env.root });
    assert.equal(plain.code, 0, plain.stderr);
    const warnings = (plain.stdout + plain.stderr).split('\n').filter((l) => l.startsWith('WARNING: '));
    const ruleLines = (rule: string): string[] => warnings.filter((l) => l.includes(`: ${rule}: `));
    assert.equal(ruleLines('FromAsCasing').length, 1, warnings.join('\n'));
    assert.match(ruleLines('FromAsCasing')[0]!, /^WARNING: Dockerfile:1: FromAsCasing: 'as' and 'FROM' keywords' casing do not match \(fix: .+\)$/);
    assert.equal(ruleLines('NoEmptyContinuation').length, 1, `one empty-continuation warning, not two:\n${warnings.join('\n')}`);
    assert.equal(ruleLines('StagecraftUnusedStage').length, 1, warnings.join('\n'));
    assert.match(ruleLines('StagecraftUnusedStage')[0]!, /^WARNING: Dockerfile:5: StagecraftUnusedStage: Stage 'spare' is not used/);
    assert.equal(warnings.length, 3, warnings.join('\n'));

    const json = await runCli(['build', '--progress', 'json', '-t', 'gaps-lint:1', context], { root: env.root });
    assert.equal(json.code, 0, json.stderr);
    const events = json.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as BuildEvent);
    const w = events.filter((e): e is Extract<BuildEvent, { type: 'warning' }> => e.type === 'warning');
    const casing = w.find((e) => e.rule === 'FromAsCasing');
    assert.deepEqual(casing && { file: casing.location?.file, line: casing.location?.startLine, url: casing.url }, {
      file: 'Dockerfile', line: 1, url: 'https://docs.docker.com/go/dockerfile/rule/from-as-casing/',
    });
    assert.ok(w.indexOf(casing!) < events.findIndex((e) => e.type === 'step-start'), 'warnings come before the steps');

    const strict = await contextWith({ Dockerfile: `# check=error=true\n${dockerfile}` });
    const failed = await runCli(['build', '--progress', 'json', '-t', 'gaps-lint:strict', strict], { root: env.root });
    assert.notEqual(failed.code, 0);
    const errs = errorLines(failed.stderr);
    assert.equal(errs.length, 1, failed.stderr);
    assert.match(errs[0]!, /Dockerfile:2: lint violation found for rules: FromAsCasing, NoEmptyContinuation/);
    const failedEvents = failed.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as BuildEvent);
    assert.deepEqual(failedEvents.filter((e) => e.type === 'step-start'), [], 'no step ran');
    assert.ok(failedEvents.some((e) => e.type === 'warning' && e.rule === 'FromAsCasing'), 'the warnings are still shown');
    assert.equal((await runCli(['inspect', 'gaps-lint:strict'], { root: env.root })).code, 1, 'nothing tagged');
    tally.pass();
  });

  it('a FROM scratch image of config instructions only is dated by the build; config before a layer takes that layer\'s time', async () => {
    const t0 = Date.now();
    const onlyConfig = await contextWith({ Dockerfile: 'FROM scratch\nENV foo=bar\nLABEL a=b\n' });
    const { result } = await buildWithEvents({ context: onlyConfig, tags: ['gaps-scratch:1'], root: env.root });
    const t1 = Date.now();
    const created = Date.parse(result.config.created ?? '');
    assert.ok(created >= t0 - 1000 && created <= t1, `created ${result.config.created} is the build's time`);
    assert.deepEqual(result.config.history?.map((h) => [h.created_by, h.created, h.empty_layer]), [
      ['ENV foo=bar', result.config.created, true],
      ['LABEL a=b', result.config.created, true],
    ]);
    const withLayer = await contextWith({ Dockerfile: 'FROM scratch\nENV foo=bar\nCOPY f /f\n', f: 'x' });
    const a = await buildWithEvents({ context: withLayer, tags: ['gaps-scratch:2'], root: env.root });
    const h = a.result.config.history ?? [];
    assert.equal(h[0]?.created, h[1]?.created, 'ENV before the first layer is dated like it');
    assert.ok(Date.parse(h[0]?.created ?? '') >= t0);
    const again = await buildWithEvents({ context: withLayer, tags: ['gaps-scratch:2'], root: env.root });
    assert.equal(again.result.manifestDigest, a.result.manifestDigest, 'a cached rebuild is the same image');
    tally.pass();
  });

  it('size report: a stage read only through RUN --mount=from is needed, built, and reported as read, not copied', async () => {
    const context = await contextWith({
      Dockerfile: [
        `FROM ${busybox} AS builder`,
        'RUN dd if=/dev/zero of=/big bs=1000 count=3000 2>/dev/null && echo tool > /tool',
        `FROM ${busybox}`,
        'RUN --mount=from=builder,target=/b cp /b/tool /tool',
      ].join('\n'),
    });
    const { result, events } = await buildWithEvents({ context, tags: ['gaps-mount:1'], root: env.root });
    assert.ok(steps(events).some((s) => s.stage === 'builder'), 'builder was built');
    const line = result.summary.find((l) => l.startsWith('  builder ') && l.includes(' -> '));
    assert.match(line ?? '', /^ {2}builder [\d.]+ MB -> stage-1 [\d.]+ MB \(\d+% left behind; read through RUN --mount, nothing copied\)$/, result.summary.join('\n'));
    const builderSize = result.stages.find((s) => s.name === 'builder')!.size;
    assert.ok(builderSize - result.size > 2_900_000, 'the 3 MB file stayed in builder');
    tally.pass();
  });

  it('WORKDIR makes its directories owned by USER as BuildKit does: passwd ids, uid alone as uid:uid, an unknown name as root, an existing dir untouched', async () => {
    const context = await contextWith({
      Dockerfile: [
        `FROM ${busybox}`,
        'RUN mkdir -p /pre && chown 7:8 /pre',
        'USER app',
        'WORKDIR /w/app',
        'USER 4321',
        'WORKDIR /n',
        'WORKDIR /pre/sub',
        'USER ghost',
        'WORKDIR /m',
        'USER root',
      ].join('\n'),
    });
    const { result } = await buildWithEvents({ context, tags: ['gaps-workdir:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      const owner = async (p: string): Promise<string> => {
        const st = await lstat(join(fs, p));
        assert.ok(st.isDirectory(), p);
        return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
      };
      assert.deepEqual(
        { w: await owner('w'), app: await owner('w/app'), n: await owner('n'), pre: await owner('pre'), sub: await owner('pre/sub'), m: await owner('m') },
        { w: '1000:1000 755', app: '1000:1000 755', n: '4321:4321 755', pre: '7:8 755', sub: '4321:4321 755', m: '0:0 755' },
      );
    });
    tally.pass();
  });

  it('prune --all also removes RUN cache mounts', async () => {
    const root = await freshStore();
    const context = await contextWith({
      Dockerfile: `FROM ${busybox}\nRUN --mount=type=cache,id=gaps,target=/c echo kept > /c/f && cp /c/f /f\n`,
    });
    await buildWithEvents({ context, tags: ['gaps-cache:1'], root });
    const mounts = join(root, 'cache-mounts');
    assert.equal((await readdir(mounts)).length, 1);
    const kept = await runCli(['prune'], { root });
    assert.equal(kept.code, 0, kept.stderr);
    assert.equal((await readdir(mounts)).length, 1, 'plain prune keeps cache mounts');
    const all = await runCli(['prune', '--all'], { root });
    assert.equal(all.code, 0, all.stderr);
    assert.equal((JSON.parse(all.stdout) as { cacheMountsRemoved: number }).cacheMountsRemoved, 1);
    assert.deepEqual(await readdir(mounts), []);
    tally.pass();
  });

  it('ONBUILD triggers of a base image pulled from a registry run once, and an ONBUILD COPY --from builds the stage it reads', async () => {
    const parentRoot = await freshStore();
    const parent = await contextWith({
      Dockerfile: [
        `FROM ${busybox}`,
        'ONBUILD RUN echo triggered >> /onbuild.log',
        'ONBUILD COPY --from=assets /asset.txt /from-assets.txt',
      ].join('\n'),
    });
    await buildWithEvents({ context: parent, tags: ['gaps-onbuild-base:1'], root: parentRoot });
    const archive = join(parentRoot, 'onbuild-base.tar');
    const saved = await runCli(['save', 'gaps-onbuild-base:1', '-o', archive, '--format', 'oci'], { root: parentRoot });
    assert.equal(saved.code, 0, saved.stderr);
    const base = `${env.host}/gaps-onbuild-base:1`;
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${archive}`, `docker://${base}`]);

    const root = await freshStore();
    const child = await contextWith({
      Dockerfile: [
        `FROM ${busybox} AS assets`,
        'RUN echo asset > /asset.txt',
        `FROM ${base} AS app`,
        'RUN cat /onbuild.log',
        'FROM app',
        'RUN wc -l < /onbuild.log > /lines',
      ].join('\n'),
    });
    const { result, events } = await buildWithEvents({ context: child, tags: ['gaps-onbuild-child:1'], root });
    assert.ok(resolvedRefs(events).includes(base), 'the base came from the registry');
    assert.ok(steps(events).some((s) => s.stage === 'assets'), 'the stage the trigger reads was built');
    assert.equal(result.config.config?.OnBuild ?? null, null, 'triggers are not inherited further');
    await withRootfs(root, result.tags[0]!, async (fs) => {
      assert.equal(await readFile(join(fs, 'onbuild.log'), 'utf8'), 'triggered\n');
      assert.equal((await readFile(join(fs, 'lines'), 'utf8')).trim(), '1');
      assert.equal(await readFile(join(fs, 'from-assets.txt'), 'utf8'), 'asset\n');
    });
    const again = await buildWithEvents({ context: child, tags: ['gaps-onbuild-child:1'], root });
    assert.deepEqual(steps(again.events).filter((s) => !s.cached), [], 'a rebuild is fully cached');
    assert.equal(again.result.manifestDigest, result.manifestDigest);
    tally.pass();
  });

  it('empty stages through overlay: COPY --from a stage with no layers and --from=scratch, RUN in FROM scratch with a bind mount', async () => {
    const context = await contextWith({
      Dockerfile: [
        'FROM scratch AS empty',
        'ENV X=1',
        `FROM ${busybox} AS tools`,
        'FROM scratch AS made',
        'RUN --mount=from=tools,target=/t ["/t/bin/busybox", "sh", "-c", "echo made > /made"]',
        `FROM ${busybox}`,
        'COPY --from=empty / /copied/',
        'COPY --from=scratch / /from-scratch/',
        'COPY --from=made /made /made',
      ].join('\n'),
    });
    const { result } = await buildWithEvents({ context, tags: ['gaps-empty:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.ok((await lstat(join(fs, 'copied'))).isDirectory());
      assert.deepEqual(await readdir(join(fs, 'copied')), []);
      assert.deepEqual(await readdir(join(fs, 'from-scratch')), [], '--from=scratch is the empty filesystem');
      assert.equal(await readFile(join(fs, 'made'), 'utf8'), 'made\n');
    });
    tally.pass();
  });

  it('ADD copies local files that only look like archives as they are (text named *.tar, gzip of non-tar data)', async () => {
    const notTar = gzipSync(Buffer.from('just some text, not a tar\n'));
    const context = await contextWith({ 'fake.tar': 'plain text\n', 'data.gz': notTar, Dockerfile: `FROM ${busybox}\nADD fake.tar data.gz /in/\n` });
    const { result } = await buildWithEvents({ context, tags: ['gaps-add:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal(await readFile(join(fs, 'in/fake.tar'), 'utf8'), 'plain text\n');
      assert.deepEqual(await readFile(join(fs, 'in/data.gz')), notTar);
    });
    tally.pass();
  });
});
