/**
 * outline: the target's stages and the build args it uses (BuildKit's
 * testOutlineArgs / testOutlineRecursiveArgs behaviours), and the text form.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { outline, renderOutline } from '../src/outline/index.js';
import { StagecraftError } from '../src/errors.js';

const outlineArgs = `ARG inherited=box
ARG inherited2=box2
ARG unused=abc\${inherited2}
# sfx is a suffix
ARG sfx="usy\${inherited}"

FROM b\${sfx} AS first
# this is not a comment
ARG FOO=123
# BAR is a number
ARG BAR=456
RUN true

FROM alpine\${unused} AS second
ARG BAZ
RUN true

FROM scratch AS third
ARG ABC=a

# target defines build target
FROM third AS target
COPY --from=first /etc/passwd /

FROM second
`;

let passed = 0;
const count = (): void => void passed++;

describe('outline', () => {
  it('reports only the args reachable from the target, expanded, with overrides and descriptions', () => {
    const o = outline({ dockerfile: outlineArgs, file: 'Dockerfile', target: 'target', buildArgs: { BAR: '678' } });
    assert.equal(o.target, 'target');
    assert.deepEqual(o.targetNeeds, ['first', 'third', 'target']);
    assert.deepEqual(
      o.args.map((a) => [a.name, a.value, a.description ?? '']),
      [
        ['inherited', 'box', ''],
        ['sfx', 'usybox', 'is a suffix'],
        ['FOO', '123', ''],
        ['BAR', '678', 'is a number'],
        ['ABC', 'a', ''],
      ],
    );
    const byName = new Map(o.stages.map((s) => [s.name ?? String(s.index), s]));
    assert.equal(byName.get('first')!.base, 'busybox');
    assert.equal(byName.get('second')!.needed, false);
    assert.equal(byName.get('target')!.description, 'defines build target');
    assert.deepEqual(byName.get('target')!.dependsOn, ['third', 'first']);
    assert.equal(byName.get('target')!.location.startLine, 22);
    count();
  });

  it('the default target (last stage) pulls in the other branch', () => {
    const o = outline({ dockerfile: outlineArgs });
    assert.deepEqual(o.targetNeeds, ['second', 'stage-4']);
    assert.deepEqual(o.args.map((a) => [a.name, a.value]), [['inherited2', 'box2'], ['unused', 'abcbox2'], ['BAZ', undefined]]);
    count();
  });

  it('redeclared args that reference themselves expand cumulatively (global and stage)', () => {
    const df = `ARG FOO=123
ARG ABC=abc
ARG FOO=\${FOO}\${ABC}
ARG BAR=\${FOO}456
ARG FOO=\${FOO}456\${BAR}
FROM scratch\${FOO:+}
ARG X=1
ARG X=\${X}2\${X}
ARG Y=\${X}3
ARG X=\${X}\${Y}
`;
    const o = outline({ dockerfile: df });
    const v = Object.fromEntries(o.args.map((a) => [a.name, a.value]));
    assert.equal(v.FOO, '123abc456123abc456');
    assert.equal(v.X, '1211213');
    count();
  });

  it('a stage ARG without default takes the global value; a build-arg overrides both', () => {
    const df = 'ARG V=1\nFROM scratch\nARG V\nARG W\n';
    assert.deepEqual(outline({ dockerfile: df }).args.map((a) => [a.name, a.scope, a.value]), [['V', 'global', '1'], ['W', 'stage', undefined]]);
    assert.equal(outline({ dockerfile: df, buildArgs: { V: '9' } }).stages[0]!.args[0]!.value, '9');
    count();
  });

  it('an unknown target is a StagecraftError with a suggestion', () => {
    assert.throws(
      () => outline({ dockerfile: outlineArgs, target: 'targte' }),
      (e: unknown) => e instanceof StagecraftError && /target stage "targte" could not be found \(did you mean target\?\)/.test(e.message),
    );
    count();
  });

  it('renders a human outline', () => {
    const text = renderOutline(outline({ dockerfile: outlineArgs, target: 'target', buildArgs: { BAR: '678' } }));
    assert.match(text, /^TARGET: target\nNEEDS:  first -> third -> target\n/);
    assert.match(text, /  sfx=usybox  # is a suffix  \(global\)/);
    assert.match(text, /  1 second  FROM alpineabcbox2  line 14  \(not needed\)/);
    assert.match(text, /> 3 target  FROM stage third  needs third, first  line 22/);
    count();
  });

  it('summary', () => {
    console.log(`outline: ${passed}/6 passed`);
    assert.equal(passed, 6);
  });
});

describe('outline properties', () => {
  it('on generated multi-stage files: target last in targetNeeds, needs closed under dependsOn, arg names unique', async () => {
    const fc = (await import('fast-check')).default;
    const stageLine = fc.tuple(
      fc.constantFrom('scratch', 'alpine', '$BASE', 's0', 's1', 's2'),
      fc.array(fc.constantFrom('ARG A=1', 'ARG B', 'ARG A=${A}x', 'COPY --from=s0 /a /a', 'COPY --from=s1 /b /b', 'RUN true', 'ENV E=$A'), { maxLength: 4 }),
    );
    const file = fc.tuple(fc.array(fc.constantFrom('ARG BASE=alpine', 'ARG G=1', 'ARG G=${G}2'), { maxLength: 3 }), fc.array(stageLine, { minLength: 1, maxLength: 4 }))
      .map(([globals, stages]) => [...globals, ...stages.flatMap(([from, body], i) => [`FROM ${from} AS s${i}`, ...body])].join('\n') + '\n');
    fc.assert(
      fc.property(file, fc.option(fc.constantFrom('s0', 's1', 's2', 's3')), (text, target) => {
        let o;
        try {
          o = outline({ dockerfile: text, ...(target !== null ? { target } : {}) });
        } catch (e) {
          assert.ok(e instanceof StagecraftError, String(e));
          return;
        }
        assert.equal(o.targetNeeds[o.targetNeeds.length - 1], o.target);
        const needed = new Set(o.stages.filter((s) => s.needed).map((s) => s.name));
        for (const s of o.stages.filter((x) => x.needed)) for (const d of s.dependsOn) assert.ok(needed.has(d), `${s.name} needs ${d}`);
        assert.equal(new Set(o.args.map((a) => a.name)).size, o.args.length);
      }),
      { numRuns: 300 },
    );
    console.log('outline properties: 1/1 passed');
  });
});
