/**
 * resolveImagesAndTriggers: the graph after base images' ONBUILD triggers are
 * known. Images are given as configs (what a registry would return); the
 * planner is the real one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from '../../src/dockerfile/parser/index.js';
import { parseStages } from '../../src/dockerfile/instructions/index.js';
import { planGraph } from '../../src/plan/index.js';
import { resolveImagesAndTriggers } from '../../src/build/prepare.js';
import type { ImageSource } from '../../src/build/images.js';
import { StagecraftError } from '../../src/errors.js';

function image(ref: string, onBuild: string[] = []): ImageSource {
  return {
    ref,
    manifestDigest: `sha256:${'0'.repeat(64)}`,
    config: { architecture: 'amd64', os: 'linux', config: onBuild.length > 0 ? { OnBuild: onBuild } : {}, rootfs: { type: 'layers', diff_ids: [] } },
    layers: [],
    pulledBytes: 0,
  };
}

async function prepare(dockerfile: string, images: Record<string, string[]>, target?: string) {
  const parsed = parse(dockerfile);
  const stages = parseStages(parsed.ast);
  const platform = { os: 'linux', architecture: 'amd64' };
  const graph = planGraph({ ...stages, escapeToken: parsed.escapeToken }, { buildArgs: {}, platform, buildPlatform: platform, ...(target ? { target } : {}) });
  const asked: string[] = [];
  const out = await resolveImagesAndTriggers({
    graph,
    fromLocation: (i) => stages.stages[i]!.from.location,
    resolve: async (ref) => {
      asked.push(ref);
      const triggers = images[ref];
      if (!triggers) throw new StagecraftError('NOT_FOUND', `no image ${ref}`);
      return image(ref, triggers);
    },
  });
  const names = (ids: number[]): string[] => ids.map((i) => out.stages[i]!.displayName);
  return { needed: names(out.needed), dependsOn: (name: string) => names(out.stages.find((s) => s.displayName === name)!.dependsOn), imageDeps: (name: string) => out.stages.find((s) => s.displayName === name)!.imageDeps, asked: [...new Set(asked)].sort() };
}

describe('resolveImagesAndTriggers', () => {
  const cases: Array<{ name: string; dockerfile: string; images: Record<string, string[]>; needed: string[]; check?: (r: Awaited<ReturnType<typeof prepare>>) => void }> = [
    {
      name: 'no triggers: the planned graph',
      dockerfile: 'FROM a AS x\nFROM b AS y\nFROM c\nCOPY --from=x / /\n',
      images: { a: [], b: [], c: [] },
      needed: ['x', 'stage-2'],
      check: (r) => assert.deepEqual(r.asked, ['a', 'c'], 'an unneeded stage\'s base is not resolved'),
    },
    {
      name: 'a trigger COPY --from a stage makes it needed',
      dockerfile: 'FROM a AS assets\nFROM base\nRUN true\n',
      images: { a: [], base: ['COPY --from=assets /f /f'] },
      needed: ['assets', 'stage-1'],
      check: (r) => assert.deepEqual(r.dependsOn('stage-1'), ['assets']),
    },
    {
      name: 'chained: the needed stage\'s own base has a trigger needing another stage and an image',
      dockerfile: 'FROM a AS first\nFROM mid AS second\nFROM top\n',
      images: { a: [], mid: ['COPY --from=first /x /x', 'COPY --from=other:1 /y /y'], top: ['RUN --mount=from=second,target=/m true'], 'other:1': [] },
      needed: ['first', 'second', 'stage-2'],
      check: (r) => {
        assert.deepEqual(r.imageDeps('second'), ['other:1']);
        assert.deepEqual(r.asked, ['a', 'mid', 'other:1', 'top']);
      },
    },
    {
      name: 'a trigger of a FROM-stage child is not re-applied to the child (it ran in the parent)',
      dockerfile: 'FROM a AS assets\nFROM base AS p\nFROM p\n',
      images: { a: [], base: ['COPY --from=assets /f /f'] },
      needed: ['assets', 'p', 'stage-2'],
      check: (r) => assert.deepEqual(r.dependsOn('stage-2'), ['p']),
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await prepare(c.dockerfile, c.images);
      assert.deepEqual(r.needed, c.needed);
      c.check?.(r);
    });
  }

  it('a trigger reading a later stage fails at the FROM line', async () => {
    await assert.rejects(prepare('FROM base AS first\nFROM a AS later\n', { base: ['COPY --from=later /f /f'], a: [] }, 'first'), (e: unknown) => {
      assert.ok(e instanceof StagecraftError);
      assert.match(e.message, /cannot copy from stage "later", it needs to be defined before current stage/);
      assert.equal(e.location?.startLine, 1);
      return true;
    });
  });

  it('a missing image fails after every resolution settled', async () => {
    await assert.rejects(prepare('FROM a\nFROM nope\nCOPY --from=0 / /\n', { a: [] }), /no image nope/);
  });
});
