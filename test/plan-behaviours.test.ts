/**
 * The ARG-scoping, multi-stage, target, ONBUILD and history bullets of
 * buildkit-behaviours.md that are decidable without running anything:
 * expected env, history, config, graph edges and errors. Each case names the
 * BuildKit test it ports.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from '../src/dockerfile/parser/index.js';
import { parseStages } from '../src/dockerfile/instructions/index.js';
import { isStagecraftError } from '../src/errors.js';
import {
  planAll, progressPrefix, triggerSources, withTriggerDependencies, DEFAULT_PATH,
  type BuildRequest, type ContainerConfig, type DispatchResult, type FullPlan, type PlannedStep, type Platform, type Step,
} from '../src/plan/index.js';

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

interface PlanOptions {
  target?: string;
  buildArgs?: Record<string, string>;
  platform?: Platform;
  buildPlatform?: Platform;
  images?: Record<string, ContainerConfig>;
}

function plan(text: string, o: PlanOptions = {}): FullPlan {
  const r = parse(text, { file: 'Dockerfile' });
  const req: BuildRequest = {
    buildArgs: o.buildArgs ?? {},
    platform: o.platform ?? AMD64,
    buildPlatform: o.buildPlatform ?? o.platform ?? AMD64,
    file: 'Dockerfile',
    ...(o.target !== undefined ? { target: o.target } : {}),
  };
  return planAll({ ...parseStages(r.ast), escapeToken: r.escapeToken }, req, (ref) => o.images?.[ref] ?? { Env: ['PATH=/usr/bin:/bin'] });
}

type RunStep = Extract<Step, { kind: 'run' }>;
type CopyStep = Extract<Step, { kind: 'copy' }>;
function runs(res: DispatchResult): RunStep[] {
  return res.steps.map((s) => s.step).filter((s): s is RunStep => s.kind === 'run');
}
function copies(res: DispatchResult): CopyStep[] {
  return res.steps.map((s) => s.step).filter((s): s is CopyStep => s.kind === 'copy');
}
function envMap(step: RunStep): Map<string, string> {
  return new Map(step.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}
function stageResult(p: FullPlan, name: string): DispatchResult {
  const s = p.graph.stages.find((x) => x.displayName === name);
  assert.ok(s, `stage ${name}`);
  const r = p.results.get(s.index);
  assert.ok(r, `stage ${name} was planned`);
  return r;
}
function createdBy(res: DispatchResult): string[] {
  return res.history.map((h) => h.created_by);
}
function expectError(fn: () => unknown, message: string | RegExp, line?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isStagecraftError(e), `a StagecraftError, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    if (line !== undefined) assert.equal(e.location?.startLine, line);
    return true;
  });
}
function fullName(p: FullPlan, stageIndex: number, step: PlannedStep): string {
  return progressPrefix(p.graph.stages[stageIndex]!.progressName, step.ordinal, step.total) + step.name;
}

interface Case {
  name: string;
  /** The BuildKit test (or unit test) this ports. */
  from: string;
  run: () => void;
}

const cases: Case[] = [
  // ---------------------------------------------------------------- multi-stage
  {
    name: 'COPY --from=<image> with no such stage is an implicit image; a stage named like an image masks it',
    from: 'testMultiStageImplicitFrom',
    run: () => {
      const p = plan('FROM busybox\nCOPY --from=busybox /etc/passwd test\n');
      assert.deepEqual(copies(p.target)[0]!.from, { kind: 'image', ref: 'busybox' });
      assert.deepEqual(p.graph.stages[0]!.imageDeps, ['busybox']);
      const q = plan('FROM busybox AS golang\nRUN true\nFROM busybox\nCOPY --from=golang /usr/bin/go /out\n');
      assert.deepEqual(copies(q.target)[0]!.from, { kind: 'stage', index: 0 });
      assert.deepEqual(q.graph.stages[1]!.imageDeps, []);
      assert.deepEqual(q.graph.needed, [0, 1]);
    },
  },
  {
    name: 'stage names are case-insensitive for AS, --from and target',
    from: 'testMultiStageCaseInsensitive',
    run: () => {
      const text = 'FROM scratch AS STAge0\nCOPY foo bar\nFROM scratch AS staGE1\nCOPY --from=staGE0 bar baz\nFROM scratch\nCOPY --from=stage1 baz bax\n';
      const p = plan(text, { target: 'Stage1' });
      assert.equal(p.graph.target, 1);
      assert.deepEqual(p.graph.needed, [0, 1]);
      assert.deepEqual(copies(p.target)[0]!.from, { kind: 'stage', index: 0 });
      const all = plan(text);
      assert.deepEqual(copies(all.target)[0]!.from, { kind: 'stage', index: 1 });
      assert.deepEqual(all.graph.needed, [0, 1, 2]);
    },
  },
  {
    name: 'COPY --from a stage defined later fails with BuildKit\'s message and location',
    from: 'testOutOfOrderStage',
    run: () => {
      for (const src of ['/', 'Dockerfile']) {
        const text = `FROM busybox AS target\nCOPY --from=build ${src} /out\nFROM alpine AS build\nCOPY /Dockerfile /d2\nFROM target\n`;
        expectError(() => plan(text), 'cannot copy from stage "build", it needs to be defined before current stage "target"', 2);
      }
    },
  },
  {
    name: 'only a global ARG: no stages to build',
    from: 'testEmptyStages',
    run: () => expectError(() => plan('ARG foo=bar\n'), 'dockerfile contains no stages to build'),
  },
  {
    name: 'self and three-stage cycles report stage0 with every instruction on the cycle',
    from: 'TestDockerfileCircularDependencies',
    run: () => {
      expectError(() => plan('FROM busybox AS stage0\nCOPY --from=stage0 f1 /sub/\n'), 'circular dependency detected on stage: stage0', 2);
      const text = 'FROM busybox AS stage0\nCOPY --from=stage2 f1 /sub/\nFROM busybox AS stage1\nCOPY --from=stage0 f2 /sub/\nFROM busybox AS stage2\nCOPY --from=stage1 f2 /sub/\n';
      assert.throws(() => plan(text), (e: Error & { locations?: Array<{ startLine: number }> }) => {
        assert.equal(e.message, 'circular dependency detected on stage: stage0');
        assert.deepEqual(e.locations?.map((l) => l.startLine), [2, 6, 4]);
        return true;
      });
    },
  },
  {
    name: 'progress names: [base 3/3] RUN ..., [stage-1 1/1] COPY --from=... with original flags',
    from: 'testStepNames',
    run: () => {
      const p = plan('FROM busybox AS base\nWORKDIR /tmp\nRUN echo "base" > base\nFROM scratch\nCOPY --from=base --chmod=0644 /out /out\n');
      const base = p.results.get(0)!;
      const names = base.steps.filter((s) => s.vertex).map((s) => fullName(p, 0, s));
      assert.deepEqual(names, ['[base 2/3] WORKDIR /tmp', '[base 3/3] RUN echo "base" > base']);
      const last = p.results.get(1)!.steps[0]!;
      assert.equal(fullName(p, 1, last), '[stage-1 1/1] COPY --from=base --chmod=0644 /out /out');
    },
  },
  {
    name: 'a single-stage build has no stage name in progress; an implicit image makes it named',
    from: 'dockerfile2llb buildStageDependencyGraph',
    run: () => {
      const p = plan('FROM busybox\nRUN a\nRUN b\n');
      assert.equal(p.graph.stages[0]!.progressName, '');
      assert.equal(fullName(p, 0, p.target.steps[1]!), '[3/3] RUN b');
      const q = plan('FROM busybox\nCOPY --from=alpine /x /y\n');
      assert.equal(fullName(q, 0, q.target.steps[0]!), '[stage-0 2/2] COPY --from=alpine /x /y');
    },
  },
  {
    name: 'errors carry the Dockerfile line of the instruction',
    from: 'testErrorsSourceMap',
    run: () => {
      const p = plan('FROM busybox\nENV x=y\ncopy --from=invalid foo bar\n');
      const step = p.target.steps[1]!;
      assert.equal(step.location.startLine, 3);
      assert.equal(step.name, 'COPY --from=invalid foo bar');
      assert.deepEqual(p.graph.stages[0]!.imageDeps, ['invalid']);
      expectError(() => plan('FROM busybox\nRUN echo ${x:?missing}\nWORKDIR ${nope:?no workdir}\n'), /no workdir/, 3);
    },
  },
  {
    name: 'COPY --from another stage copies files only, never its config',
    from: 'TestCopyFromKeepsStageLabels',
    run: () => {
      const p = plan('FROM scratch AS base\nLABEL marker=base\nFROM base AS sibling\nLABEL marker=sibling\nENV S=1\nFROM base AS consumer\nCOPY --from=sibling / /\n');
      assert.deepEqual(p.target.config.Labels, { marker: 'base' });
      assert.deepEqual(p.target.config.Env, [`PATH=${DEFAULT_PATH}`]);
    },
  },
  {
    name: '--from index errors; RUN --mount=from takes names only (a number is an image name)',
    from: 'dockerfile2llb findStateByIndex / detectRunMount',
    run: () => {
      expectError(() => plan('FROM busybox\nCOPY --from=5 /a /b\n'), 'invalid stage index 5', 2);
      expectError(() => plan('FROM busybox\nCOPY --from=-1 /a /b\n'), 'invalid stage index -1', 2);
      const p = plan('FROM busybox AS a\nRUN true\nFROM busybox\nRUN --mount=from=0,target=/m ls\nRUN --mount=from=A,target=/n ls\n');
      assert.deepEqual(runs(p.target).map((r) => r.mounts[0]!.type === 'bind' ? r.mounts[0]!.from : undefined), [
        { kind: 'image', ref: '0' },
        { kind: 'stage', index: 0 },
      ]);
    },
  },
  {
    name: 'progress prefix pads the index to the width of the total',
    from: 'dockerfile2llb prefixCommand',
    run: () => {
      assert.equal(progressPrefix('', 2, 10), '[ 2/10] ');
      assert.equal(progressPrefix('builder', 12, 120), '[builder  12/120] ');
      assert.equal(progressPrefix('stage-1', 1, 1), '[stage-1 1/1] ');
    },
  },
  // ---------------------------------------------------------------- targets
  {
    name: 'unknown target suggests the closest stage name',
    from: 'testTargetMistype',
    run: () => expectError(() => plan('FROM busybox AS build\nRUN true\nFROM build\n', { target: 'bulid' }), 'target stage "bulid" could not be found (did you mean build?)'),
  },
  {
    name: 'TARGETSTAGE is empty until declared, then the target name, the last stage name or "default"',
    from: 'testTargetStageNameArg',
    run: () => {
      const text = 'FROM busybox AS foo\nRUN echo before\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\nFROM busybox AS final\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\n';
      const p = plan(text, { target: 'foo' });
      const [before, afterArg] = runs(p.target);
      assert.equal(envMap(before!).has('TARGETSTAGE'), false);
      assert.equal(envMap(afterArg!).get('TARGETSTAGE'), 'foo');
      assert.equal(envMap(runs(plan(text).target)[0]!).get('TARGETSTAGE'), 'final');
      const unnamed = plan('FROM busybox\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\n');
      assert.equal(envMap(runs(unnamed.target)[0]!).get('TARGETSTAGE'), 'default');
    },
  },
  {
    name: 'unreferenced stages are never resolved (pruning to the target)',
    from: 'testEagerNamedContextLookup / testTargetsList',
    run: () => {
      const p = plan('FROM broken AS notused\nRUN false\nFROM busybox AS base\nRUN true\nFROM base\nCOPY --from=base /a /b\n');
      assert.deepEqual(p.graph.needed, [1, 2]);
      assert.equal(p.results.has(0), false);
      assert.deepEqual(p.graph.stages[2]!.dependsOn, [1]);
    },
  },
  {
    name: 'redeclared ARGs referencing themselves expand cumulatively (global and stage)',
    from: 'testOutlineRecursiveArgs',
    run: () => {
      const args = 'ARG FOO=123\nARG ABC=abc\nARG FOO=${FOO}${ABC}\nARG BAR=${FOO}456\nARG FOO=${FOO}456${BAR}\n';
      const g = plan(`${args}FROM busybox\nARG FOO\nRUN echo $FOO\n`);
      assert.equal(envMap(runs(g.target)[0]!).get('FOO'), '123abc456123abc456');
      const s = plan(`FROM busybox\n${args}RUN echo $FOO\n`);
      assert.equal(envMap(runs(s.target)[0]!).get('FOO'), '123abc456123abc456');
    },
  },
  // ---------------------------------------------------------------- ARG scoping
  {
    name: 'a global ARG in FROM is overridden by a build-arg',
    from: 'testGlobalArg',
    run: () => {
      const text = 'ARG tag=nosuchtag\nFROM busybox:${tag}\n';
      assert.deepEqual(plan(text).graph.stages[0]!.base, { kind: 'image', ref: 'busybox:nosuchtag' });
      assert.deepEqual(plan(text, { buildArgs: { tag: 'latest' } }).graph.stages[0]!.base, { kind: 'image', ref: 'busybox:latest' });
    },
  },
  {
    name: 'ARG FOO=${FOO:?"custom error"} fails unless the build-arg is given',
    from: 'testGlobalArgErrors',
    run: () => {
      const text = 'ARG FOO=${FOO:?"custom error"}\nFROM busybox\n';
      expectError(() => plan(text), /FOO: custom error/, 1);
      assert.doesNotThrow(() => plan(text, { buildArgs: { FOO: 'bar' } }));
    },
  },
  {
    name: 'a stage ARG default ${FOO:?..} errors when unset; FOO or BAR as build-arg avoids it',
    from: 'testArgDefaultExpansion',
    run: () => {
      const text = 'FROM busybox\nARG FOO\nARG BAR=${FOO:?"foo missing"}\n';
      expectError(() => plan(text), /foo missing/, 3);
      assert.doesNotThrow(() => plan(text, { buildArgs: { FOO: 'x' } }));
      assert.doesNotThrow(() => plan(text, { buildArgs: { BAR: 'y' } }));
    },
  },
  {
    name: 'multiple ARGs per line, quoted, globals feeding globals and FROM; ARG a3 a4="123 456" a1 re-imports',
    from: 'testMultiArgs',
    run: () => {
      const p = plan('ARG a1="foo bar" a2=box\nARG a3="$a2-foo"\nFROM busy$a2 AS build\nARG a3 a4="123 456" a1\nRUN echo -n "$a1:$a3:$a4" > /out\n');
      assert.deepEqual(p.graph.stages[0]!.base, { kind: 'image', ref: 'busybox' });
      const env = envMap(runs(p.target)[0]!);
      assert.equal(`${env.get('a1')}:${env.get('a3')}:${env.get('a4')}`, 'foo bar:box-foo:123 456');
    },
  },
  {
    name: 'quoted global defaults expand in order; a stage re-declaring ARG a2 gets the global value',
    from: 'testQuotedMetaArgs',
    run: () => {
      const p = plan('ARG a1="box"\nARG a2="$a1-foo"\nFROM busy$a1 AS build\nARG a2\nARG a3="bar-$a2"\nRUN echo -n $a3 > /out\n');
      assert.equal(envMap(runs(p.target)[0]!).get('a3'), 'bar-box-foo');
      assert.deepEqual(p.graph.stages[0]!.base, { kind: 'image', ref: 'busybox' });
    },
  },
  {
    name: 'proxy build-args reach RUN without ARG, stay out of history and cache; declared ARGs change the cache',
    from: 'testBuiltinArgs',
    run: () => {
      const text = 'FROM busybox\nARG FOO\nARG BAR\nARG BAZ=bazcontent\nRUN echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out\n';
      const p1 = plan(text, { buildArgs: { FOO: 'foocontents', http_proxy: 'hpvalue', NO_PROXY: 'npvalue' } });
      const run1 = runs(p1.target)[0]!;
      const env = envMap(run1);
      assert.equal(env.get('HTTP_PROXY'), 'hpvalue');
      assert.equal(env.get('http_proxy'), 'hpvalue');
      assert.equal(env.get('NO_PROXY'), 'npvalue');
      assert.equal(env.get('FOO'), 'foocontents');
      assert.equal(env.has('BAR'), false, 'undeclared-by-build-arg ARG without default stays unset');
      assert.equal(env.get('BAZ'), 'bazcontent');
      const hist = p1.target.steps.at(-1)!.history.created_by;
      assert.equal(hist, 'RUN |3 FOO=foocontents BAR= BAZ=bazcontent /bin/sh -c echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out # buildkit');
      const key = (o: PlanOptions) => plan(text, o).target.steps.at(-1)!.cacheMaterial;
      const k1 = p1.target.steps.at(-1)!.cacheMaterial;
      assert.ok(!k1.includes('hpvalue') && !k1.includes('npvalue'));
      assert.equal(key({ buildArgs: { FOO: 'foocontents', http_proxy: 'hpvalue2', NO_PROXY: 'npvalue2' } }), k1);
      assert.notEqual(key({ buildArgs: { FOO: 'foocontents2', http_proxy: 'hpvalue', NO_PROXY: 'npvalue' } }), k1);
    },
  },
  {
    name: 'ENV with ${my_arg:-def} and ${my_arg%%e*}; an empty build-arg behaves like unset for :-',
    from: 'testDefaultEnvWithArgs',
    run: () => {
      const text = 'FROM busybox\nARG my_arg\nENV my_arg "my_arg=${my_arg:-def_val}"\nENV my_trimmed_arg "${my_arg%%e*}"\nRUN ./myscript.sh $my_arg $my_trimmed_arg\n';
      for (const [args, value, trimmed] of [
        [{}, 'my_arg=def_val', 'my_arg=d'],
        [{ my_arg: '' }, 'my_arg=def_val', 'my_arg=d'],
        [{ my_arg: 'build_arg_val' }, 'my_arg=build_arg_val', 'my_arg=build_arg_val'],
      ] as const) {
        const p = plan(text, { buildArgs: { ...args } });
        const env = envMap(runs(p.target)[0]!);
        assert.equal(env.get('my_arg'), value);
        assert.equal(env.get('my_trimmed_arg'), trimmed);
      }
      assert.deepEqual(plan('ARG image=idlebox\nFROM busy${image#idle}\n').graph.stages[0]!.base, { kind: 'image', ref: 'busybox' });
    },
  },
  {
    name: 'ARG BAR= is BAR= in the RUN env; a declared but unset ARG FOO is absent',
    from: 'testEmptyStringArgInEnv',
    run: () => {
      const env = envMap(runs(plan('FROM busybox\nARG FOO\nARG BAR=\nRUN env > env.txt\n').target)[0]!);
      assert.equal(env.get('BAR'), '');
      assert.equal(env.has('FOO'), false);
    },
  },
  {
    name: 'ENV myenv foo%sbar keeps the literal %s',
    from: 'testEnvEmptyFormatting',
    run: () => {
      const p = plan('FROM busybox\nENV myenv foo%sbar\nRUN [ "$myenv" = \'foo%sbar\' ]\n');
      assert.ok(p.target.config.Env!.includes('myenv=foo%sbar'));
      assert.equal(p.target.history[0]!.created_by, 'ENV myenv=foo%sbar');
    },
  },
  {
    name: 'platform ARGs are implicitly global: FROM build-${TARGETOS}',
    from: 'testPlatformArgsImplicit',
    run: () => {
      const p = plan('FROM scratch AS build-linux\nCOPY foo bar\nFROM scratch AS build-darwin\nCOPY foo baz\nFROM build-${TARGETOS}\n');
      assert.deepEqual(p.graph.stages[2]!.base, { kind: 'stage', index: 0 });
      assert.deepEqual(p.graph.needed, [0, 2]);
    },
  },
  {
    name: 'FROM --platform=$BUILDPLATFORM; stage ARG TARGETPLATFORM/TARGETOS from the platform; build-arg overrides',
    from: 'testPlatformArgsExplicit',
    run: () => {
      const text = 'FROM --platform=$BUILDPLATFORM busybox AS build\nARG TARGETPLATFORM\nARG TARGETOS\nRUN echo -n $TARGETPLATFORM > /out && echo -n $TARGETOS > /out2\n';
      const o = { platform: { os: 'darwin', architecture: 'ppc64le' }, buildPlatform: AMD64 };
      const p = plan(text, o);
      assert.deepEqual(p.graph.stages[0]!.base, { kind: 'image', ref: 'busybox', platform: 'linux/amd64' });
      const env = envMap(runs(p.target)[0]!);
      assert.equal(env.get('TARGETPLATFORM'), 'darwin/ppc64le');
      assert.equal(env.get('TARGETOS'), 'darwin');
      const q = plan(text, { ...o, buildArgs: { TARGETOS: 'freebsd' } });
      assert.equal(envMap(runs(q.target)[0]!).get('TARGETOS'), 'freebsd');
    },
  },
  {
    name: 'RUN history flattens ARGs: |2 foo=bar2 bar=123, each ARG has its own history entry',
    from: 'testExportedHistoryFlattenArgs',
    run: () => {
      const p = plan('FROM busybox\nARG foo=bar\nARG bar=123\nARG foo=bar2\nRUN ls /etc/\n');
      assert.deepEqual(createdBy(p.target), [
        'ARG foo=bar', 'ARG bar=123', 'ARG foo=bar2', 'RUN |2 foo=bar2 bar=123 /bin/sh -c ls /etc/ # buildkit',
      ]);
      assert.deepEqual(p.target.history.map((h) => h.empty_layer ?? false), [true, true, true, false]);
      assert.ok(p.target.history.every((h) => h.comment === 'buildkit.dockerfile.v0'));
    },
  },
  {
    name: 'a re-imported global ARG works in --mount target',
    from: 'testMountMetaArg',
    run: () => {
      const p = plan('ARG META_PATH=/foo/bar\nFROM busybox\nARG META_PATH\nRUN --mount=type=cache,target=$META_PATH ls\n');
      assert.deepEqual(runs(p.target)[0]!.mounts, [{ type: 'cache', target: '/foo/bar', id: '/foo/bar', sharing: 'shared', readonly: false }]);
    },
  },
  {
    name: '--mount values expand ARG and ENV, including ENV inherited from a parent stage',
    from: 'testMountArg / testMountEnvVar / testMountEnvAcrossStages',
    run: () => {
      const p = plan('FROM busybox AS stage1\nENV MNT_ID=mycache\nENV MNT_TYPE2=cache\nRUN --mount=type=cache,id=$MNT_ID,target=/abcabc touch /abcabc/foo\nFROM stage1\nARG TGT=/abc\nRUN --mount=type=$MNT_TYPE2,id=$MNT_ID,target=${TGT} ls /abc\n');
      const m = runs(p.target)[0]!.mounts[0]!;
      assert.deepEqual(m, { type: 'cache', target: '/abc', id: 'mycache', sharing: 'shared', readonly: false });
      assert.equal((runs(p.results.get(0)!)[0]!.mounts[0] as { id: string }).id, 'mycache');
    },
  },
  {
    name: 'EXPOSE $PORTS splits into separate ports',
    from: 'testExposeExpansion',
    run: () => {
      const p = plan('FROM scratch\nARG PORTS="3000 4000/udp"\nEXPOSE $PORTS\nEXPOSE 5000\n');
      assert.deepEqual(p.target.config.ExposedPorts, { '3000/tcp': {}, '4000/udp': {}, '5000/tcp': {} });
      assert.deepEqual(createdBy(p.target).slice(1), ['EXPOSE [3000/tcp 4000/udp]', 'EXPOSE [5000/tcp]']);
    },
  },
  {
    name: 'an ARG of a parent stage is visible in a FROM <stage> child (env and RUN history)',
    from: 'lint_cases UndefinedVar (parent-stage ARG)',
    run: () => {
      const p = plan('FROM busybox AS base\nARG foo=bar\nFROM base\nRUN echo $foo\n');
      const run = runs(p.target)[0]!;
      assert.equal(envMap(run).get('foo'), 'bar');
      assert.equal(p.target.steps[0]!.history.created_by, 'RUN |1 foo=bar /bin/sh -c echo $foo # buildkit');
      assert.deepEqual(createdBy(p.target), ['ARG foo=bar', 'RUN |1 foo=bar /bin/sh -c echo $foo # buildkit']);
      assert.equal(p.target.config.Env!.some((e) => e.startsWith('foo=')), false, 'ARGs never reach the image config');
    },
  },
  // ---------------------------------------------------------------- history / config
  {
    name: 'history is scoped to the final stage: LABEL, COPY foo2 foo3, WORKDIR, RUN, EXPOSE sorted',
    from: 'testExportedHistory',
    run: () => {
      const p = plan('FROM busybox AS base\nENV foo=bar\nCOPY foo /foo2\nFROM busybox\nLABEL lbl=val\nCOPY --from=base foo2 foo3\nWORKDIR /\nRUN echo bar > foo4\nRUN ["ls"]\nEXPOSE 2375 5000 1234/udp\n');
      assert.deepEqual(p.target.history.map((h) => [h.created_by, h.empty_layer ?? false]), [
        ['LABEL lbl=val', true],
        ['COPY foo2 foo3 # buildkit', false],
        ['WORKDIR /', true],
        ['RUN /bin/sh -c echo bar > foo4 # buildkit', false],
        ['RUN ls # buildkit', false],
        ['EXPOSE [1234/udp 2375/tcp 5000/tcp]', true],
      ]);
    },
  },
  {
    name: 'FROM scratch + ENV: WorkingDir /, default PATH, one history entry',
    from: 'testDockerfileScratchConfig',
    run: () => {
      const p = plan('FROM scratch\nENV foo=bar\n');
      assert.deepEqual(p.target.config.Env, [`PATH=${DEFAULT_PATH}`, 'foo=bar']);
      assert.equal(p.target.config.WorkingDir, '/');
      assert.deepEqual(p.target.history, [{ created_by: 'ENV foo=bar', comment: 'buildkit.dockerfile.v0', empty_layer: true }]);
    },
  },
  {
    name: 'WORKDIR is relative to the previous one; COPY destinations resolve against it',
    from: 'testCopyRelative / testEmptyDestDir / testCopyLinkDotDestDir / testCopyLinkEmptyDestDir',
    run: () => {
      const p = plan('FROM busybox\nWORKDIR /test1\nWORKDIR test2\nCOPY foo ../\nCOPY foo .\nCOPY --link foo $empty\nCOPY foo sub/\nCOPY foo /abs/./x\n');
      assert.equal(p.target.config.WorkingDir, '/test1/test2');
      assert.deepEqual(createdBy(p.target).slice(0, 2), ['WORKDIR /test1', 'WORKDIR /test1/test2']);
      assert.deepEqual(copies(p.target).map((c) => c.dest), ['/test1/', '/test1/test2/', '/test1/test2/', '/test1/test2/sub/', '/abs/x']);
      assert.deepEqual(p.target.steps.find((s) => s.step.kind === 'mkdir')!.step, { kind: 'mkdir', path: '/test1', user: '' });
    },
  },
  {
    name: 'COPY --from reads paths in the source stage root, not its WORKDIR',
    from: 'testWorkdirCopyIgnoreRelative',
    run: () => {
      const p = plan('FROM scratch AS base\nWORKDIR /foo\nCOPY Dockerfile .\nFROM scratch\nCOPY --from=base Dockerfile .\n');
      const c = copies(p.target)[0]!;
      assert.deepEqual(c.sources, ['Dockerfile']);
      assert.equal(c.dest, '/');
      assert.equal(copies(p.results.get(0)!)[0]!.dest, '/foo/');
    },
  },
  {
    name: 'ENTRYPOINT resets an inherited CMD unless CMD was set in the same stage; shell forms wrap in SHELL',
    from: 'dockerfile2llb dispatchEntrypoint / dispatchCmd',
    run: () => {
      const img = { Env: ['PATH=/bin'], Cmd: ['sh'] };
      const a = plan('FROM base\nENTRYPOINT ["/bin/app"]\n', { images: { base: img } });
      assert.equal(a.target.config.Cmd, null);
      assert.deepEqual(a.target.config.Entrypoint, ['/bin/app']);
      const b = plan('FROM base\nCMD ["--help"]\nENTRYPOINT ["/bin/app"]\n', { images: { base: img } });
      assert.deepEqual(b.target.config.Cmd, ['--help']);
      assert.equal(b.target.config.ArgsEscaped, true);
      const c = plan('FROM base\nSHELL ["/bin/bash", "-ec"]\nCMD echo hi\nENTRYPOINT exec app\nRUN make\n', { images: { base: img } });
      assert.deepEqual(c.target.config.Cmd, ['/bin/bash', '-ec', 'echo hi']);
      assert.deepEqual(c.target.config.Entrypoint, ['/bin/bash', '-ec', 'exec app']);
      assert.deepEqual(runs(c.target)[0]!.args, ['/bin/bash', '-ec', 'make']);
      assert.deepEqual(createdBy(c.target), [
        'SHELL [/bin/bash -ec]', 'CMD ["/bin/bash" "-ec" "echo hi"]', 'ENTRYPOINT ["/bin/bash" "-ec" "exec app"]',
        'RUN /bin/bash -ec make # buildkit',
      ]);
    },
  },
  {
    name: 'USER/LABEL/VOLUME/STOPSIGNAL/MAINTAINER/HEALTHCHECK NONE set config and history',
    from: 'dockerfile2llb dispatch* (config instructions)',
    run: () => {
      const p = plan('FROM base\nARG U=app\nUSER ${U}:grp\nLABEL a=1 "b c"=2\nLABEL a=3\nVOLUME /data $U\nSTOPSIGNAL SIGKILL\nMAINTAINER Jane <j@x>\nHEALTHCHECK NONE\nRUN id\nWORKDIR /w\n', { images: { base: { Labels: { keep: 'me' } } } });
      const c = p.target.config;
      assert.equal(c.User, 'app:grp');
      assert.deepEqual(c.Labels, { keep: 'me', a: '3', 'b c': '2' });
      assert.deepEqual(c.Volumes, { '/data': {}, app: {} });
      assert.equal(c.StopSignal, 'SIGKILL');
      assert.deepEqual(c.Healthcheck, { Test: ['NONE'] });
      assert.equal(p.target.author, 'Jane <j@x>');
      assert.equal(runs(p.target)[0]!.user, 'app:grp');
      assert.deepEqual(p.target.steps.at(-1)!.step, { kind: 'mkdir', path: '/w', user: 'app:grp' });
      assert.deepEqual(createdBy(p.target), [
        'ARG U=app', 'USER app:grp', 'LABEL a=1 b c=2', 'LABEL a=3', 'VOLUME [/data app]', 'STOPSIGNAL SIGKILL',
        'MAINTAINER Jane <j@x>',
        'HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}',
        'RUN |1 U=app /bin/sh -c id # buildkit', 'WORKDIR /w',
      ]);
      expectError(() => plan('FROM scratch\nSTOPSIGNAL SIGNOPE\n'), 'Invalid signal: SIGNOPE', 2);
    },
  },
  {
    name: 'invalid --chmod is rejected with BuildKit\'s message',
    from: 'testCopyInvalidChmod',
    run: () => {
      expectError(() => plan('FROM scratch\nCOPY --chmod=64a foo /\n'), "invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777", 2);
      expectError(() => plan('FROM scratch\nCOPY --chmod=17777 foo /\n'), "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777", 2);
      assert.equal(copies(plan('FROM scratch\nCOPY --chmod=u=rw,g=r,o=r foo /\n').target)[0]!.chmod, 'u=rw,g=r,o=r');
    },
  },
  {
    name: 'COPY/ADD flags in history: --parents --chown --chmod, heredoc names, ADD keeps URLs',
    from: 'dockerfile2llb dispatchCopy',
    run: () => {
      const p = plan('FROM busybox\nARG OWN=1000\nCOPY --parents --chown=$OWN:$OWN --chmod=0644 a/./b c /dst/\nADD https://example.com/x.tgz /\nCOPY <<EOF /f\nhello $OWN\nEOF\n');
      assert.deepEqual(createdBy(p.target).slice(1), [
        'COPY --parents --chown=1000:1000 --chmod=0644 a/./b c /dst/ # buildkit',
        'ADD https://example.com/x.tgz / # buildkit',
        'COPY <<EOF /f # buildkit',
      ]);
      assert.deepEqual(copies(p.target)[2]!.inline, [{ name: 'EOF', content: 'hello 1000\n' }]);
    },
  },
  {
    name: 'COPY heredoc: unquoted delimiter processes escapes and expands ARGs keeping quotes; quoted keeps it raw',
    from: 'testCopyHeredocSpecialSymbols / testHeredocVarSubstitution',
    run: () => {
      const p = plan('FROM busybox\nARG name=world\nCOPY <<EOF /a\n\\\n\\\\\n\\$\n"quotes in file"\nHello \'${name}\'!\nEOF\nCOPY <<"EOF" /b\n\\\n\\\\\n\\$\nHello ${name}\nEOF\n');
      const [a, b] = copies(p.target);
      assert.deepEqual(a!.inline, [{ name: 'EOF', content: '\n\\\n$\n"quotes in file"\nHello \'world\'!\n' }]);
      assert.deepEqual(b!.inline, [{ name: 'EOF', content: '\\\n\\\\\n\\$\nHello ${name}\n' }]);
    },
  },
  {
    name: 'ENV after ARG wins in RUN env and in the RUN history args; ARG after ENV re-sets the build env only',
    from: 'dockerfile2llb dispatchArg / runCommandString',
    run: () => {
      const a = plan('FROM busybox\nARG x=1\nENV x=2\nRUN echo $x\n');
      assert.equal(envMap(runs(a.target)[0]!).get('x'), '2');
      assert.equal(a.target.steps.at(-1)!.history.created_by, 'RUN |1 x=2 /bin/sh -c echo $x # buildkit');
      const b = plan('FROM busybox\nENV x=2\nARG x=1\nRUN echo $x\n');
      assert.equal(envMap(runs(b.target)[0]!).get('x'), '1');
      assert.ok(b.target.config.Env!.includes('x=2'), 'the image config keeps the ENV value');
    },
  },
  {
    name: 'FROM --platform is expanded and normalised; a blank platform is an error',
    from: 'dockerfile2llb buildDispatchStates (platform)',
    run: () => {
      const p = plan('ARG P=linux/arm64/v8\nFROM --platform=$P busybox\n');
      assert.deepEqual(p.graph.stages[0]!.base, { kind: 'image', ref: 'busybox', platform: 'linux/arm64' });
      expectError(() => plan('FROM --platform=$NOPE busybox\n'), 'empty platform value from expression $NOPE', 1);
    },
  },
  {
    name: 'a cache mount reads from scratch: the single stage keeps its stage-0 progress name',
    from: 'dockerfile2llb detectRunMount (cache mount from scratch)',
    run: () => {
      const p = plan('FROM busybox\nRUN --mount=type=cache,target=/c ls\n');
      assert.equal(fullName(p, 0, p.target.steps[0]!), '[stage-0 2/2] RUN --mount=type=cache,target=/c ls');
      assert.deepEqual(p.graph.stages[0]!.imageDeps, []);
    },
  },
  {
    name: 'an in-file ONBUILD trigger reading a later stage fails like COPY --from a later stage',
    from: 'testOutOfOrderStage (through ONBUILD)',
    run: () => {
      expectError(
        () => plan('FROM busybox AS base\nONBUILD COPY --from=late /a /b\nFROM base AS child\nRUN true\nFROM alpine AS late\nRUN true\nFROM child\n'),
        'cannot copy from stage "late", it needs to be defined before current stage "child"', 3,
      );
    },
  },
  // ---------------------------------------------------------------- ONBUILD
  {
    name: 'base image triggers run once in the child and are cleared from its config',
    from: 'testOnBuildCleared',
    run: () => {
      const images = { base: { Env: ['PATH=/bin'], OnBuild: ['RUN echo 1 >> /out'] } };
      const p = plan('FROM base\nRUN echo 2 >> /out\n', { images });
      assert.deepEqual(runs(p.target).map((r) => r.args.at(-1)), ['echo 1 >> /out', 'echo 2 >> /out']);
      assert.equal(p.target.steps[0]!.name, 'ONBUILD RUN echo 1 >> /out');
      assert.equal(p.target.steps[0]!.location.startLine, 1);
      assert.equal(p.target.config.OnBuild, null);
      assert.equal(p.target.steps[0]!.total, 3);
      const grandchild = plan('FROM child\nRUN echo 3\n', { images: { child: p.target.config } });
      assert.equal(runs(grandchild.target).length, 1);
    },
  },
  {
    name: 'parent-image triggers run in stage base only, not again in FROM base AS child',
    from: 'testOnBuildWithChildStage',
    run: () => {
      const images = { parent: { OnBuild: ['RUN echo trigger'] } };
      const p = plan('FROM parent AS base\nRUN echo base\nFROM base AS child\nRUN echo child\n', { images });
      assert.deepEqual(runs(p.results.get(0)!).map((r) => r.args.at(-1)), ['echo trigger', 'echo base']);
      assert.deepEqual(runs(p.target).map((r) => r.args.at(-1)), ['echo child']);
    },
  },
  {
    name: 'an in-file ONBUILD RUN fires in FROM <stage>, is stored in the parent config, cleared in the child',
    from: 'testOnBuildInheritedStageRun',
    run: () => {
      const p = plan('FROM busybox AS base\nONBUILD RUN echo hi > /out\nFROM base AS child\nRUN cat /out\n');
      assert.deepEqual(p.results.get(0)!.config.OnBuild, ['RUN echo hi > /out']);
      assert.deepEqual(p.results.get(0)!.history, [], 'ONBUILD adds no history entry');
      assert.deepEqual(runs(p.target).map((r) => r.args.at(-1)), ['echo hi > /out', 'cat /out']);
      assert.equal(p.target.config.OnBuild, null);
      assert.equal(fullName(p, 1, p.target.steps[0]!), '[child 1/2] ONBUILD RUN echo hi > /out');
    },
  },
  {
    name: 'an in-file ONBUILD COPY --from=src fires in FROM base AS mid and adds the edge',
    from: 'testOnBuildInheritedStageWithFrom',
    run: () => {
      const p = plan('FROM alpine AS src\nRUN echo hi > /out\nFROM busybox AS base\nONBUILD COPY --from=src /out /out\nFROM base AS mid\nRUN cat /out\n');
      assert.deepEqual(p.graph.stages[2]!.dependsOn, [1, 0]);
      assert.deepEqual(p.graph.needed, [0, 1, 2]);
      assert.deepEqual(copies(p.target)[0]!.from, { kind: 'stage', index: 0 });
    },
  },
  {
    name: 'triggers can add dependencies the consumer never mentions (image or consumer stage)',
    from: 'testOnBuildNewDeps / testOnBuildNamedContext',
    run: () => {
      const p = plan('FROM busybox AS inputstage\nRUN true\nFROM base\n', { images: { base: { OnBuild: ['COPY --from=alpine /etc/alpine-release /', 'RUN --mount=type=bind,from=inputstage,target=/in cat /in/x'] } } });
      assert.deepEqual(triggerSources(['COPY --from=alpine /etc/alpine-release /', 'RUN --mount=type=bind,from=inputstage,target=/in cat /in/x'], p.graph.lookup), [
        { kind: 'image', ref: 'alpine' },
        { kind: 'stage', index: 0 },
      ]);
      assert.deepEqual(copies(p.target)[0]!.from, { kind: 'image', ref: 'alpine' });
      assert.deepEqual(runs(p.target)[0]!.mounts[0], { type: 'bind', target: '/in', source: '/', from: { kind: 'stage', index: 0 }, readonly: true });
      // Before the base config is known the consumer needs only itself; afterwards the trigger's sources too.
      assert.deepEqual(p.graph.needed, [1]);
      const g = withTriggerDependencies(p.graph, 1, ['COPY --from=alpine /etc/alpine-release /', 'RUN --mount=type=bind,from=inputstage,target=/in cat /in/x']);
      assert.deepEqual(g.needed, [0, 1]);
      assert.deepEqual(g.stages[1]!.dependsOn, [0]);
      assert.deepEqual(g.stages[1]!.imageDeps, ['alpine']);
      assert.deepEqual(p.graph.stages[1]!.dependsOn, [], 'the input graph is not modified');
      expectError(() => withTriggerDependencies(p.graph, 0, ['COPY --from=1 /a /b']), 'cannot copy from stage "1", it needs to be defined before current stage "inputstage"', 1);
    },
  },
  {
    name: 'ONBUILD RUN --mount=type=cache shares the cache id with the child\'s own mount',
    from: 'testOnBuildWithCacheMount',
    run: () => {
      const p = plan('FROM base\nRUN --mount=type=cache,target=/cache ls /cache\n', { images: { base: { OnBuild: ['RUN --mount=type=cache,target=/cache touch /cache/x'] } } });
      assert.deepEqual(runs(p.target).map((r) => (r.mounts[0] as { id: string }).id), ['/cache', '/cache']);
    },
  },
  {
    name: 'ONBUILD FROM and ONBUILD ONBUILD are rejected',
    from: 'instructions unit tests (ONBUILD)',
    run: () => {
      expectError(() => plan('FROM busybox\nONBUILD FROM alpine\n'), /FROM isn't allowed as an ONBUILD trigger/);
      expectError(() => plan('FROM busybox\nONBUILD ONBUILD RUN x\n'), /Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/);
    },
  },
  {
    name: 'ONBUILD RUN <<EOF is stored with its body and runs in the child (in-file and from an image config)',
    from: 'testOnBuildHeredoc',
    run: () => {
      const p = plan('FROM busybox AS base\nONBUILD RUN <<EOF\necho hello > /out\nEOF\nFROM base AS child\n');
      const stored = p.results.get(0)!.config.OnBuild!;
      assert.deepEqual(stored, ['RUN <<EOF\necho hello > /out\nEOF']);
      assert.deepEqual(runs(p.target)[0]!.args, ['/bin/sh', '-c', 'echo hello > /out\n']);
      const q = plan('FROM img\n', { images: { img: { OnBuild: stored } } });
      assert.deepEqual(runs(q.target)[0]!.args, ['/bin/sh', '-c', 'echo hello > /out\n']);
      assert.equal(q.target.steps[0]!.name, 'ONBUILD RUN <<EOF (echo hello > /out)');
    },
  },
  // ---------------------------------------------------------------- RUN
  {
    name: 'RUN heredoc: plain body runs in the shell, a shebang body becomes a file',
    from: 'testRunBasicHeredoc / testRunShebangHeredoc',
    run: () => {
      const p = plan('FROM busybox\nRUN <<EOF\necho i am\nid -un\nEOF\nRUN <<-EOF\n\t#!/bin/awk -f\n\tBEGIN { print "foo" }\nEOF\n');
      const [plain, shebang] = runs(p.target);
      assert.deepEqual(plain!.args, ['/bin/sh', '-c', 'echo i am\nid -un\n']);
      assert.deepEqual(shebang!.files, [{ path: '/dev/pipes/EOF', content: '#!/bin/awk -f\nBEGIN { print "foo" }\n', mode: 0o755 }]);
      assert.deepEqual(shebang!.args, ['/bin/sh', '-c', '/dev/pipes/EOF']);
      assert.equal(p.target.steps[0]!.name, 'RUN <<EOF (echo i am...)');
    },
  },
];

let passed = 0;
after(() => console.log(`plan behaviours: ${passed}/${cases.length} passed`));

describe('BuildKit behaviours decidable by the planner', () => {
  for (const c of cases) {
    it(`${c.name} [${c.from}]`, () => {
      c.run();
      passed++;
    });
  }
});
