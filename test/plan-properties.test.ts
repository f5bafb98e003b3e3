/**
 * Properties of the planner over generated inputs: graph pruning and order,
 * path resolution, env ordering, history flattening and progress numbering.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse } from '../src/dockerfile/parser/index.js';
import { parseStages } from '../src/dockerfile/instructions/index.js';
import { isStagecraftError } from '../src/errors.js';
import {
  cleanPath, EnvList, planAll, resolveDest, runCommandString, type BuildRequest,
} from '../src/plan/index.js';

const linux = { os: 'linux', architecture: 'amd64' };

function planText(text: string, target?: string) {
  const r = parse(text, { file: 'Dockerfile' });
  const req: BuildRequest = { buildArgs: {}, platform: linux, buildPlatform: linux, ...(target ? { target } : {}) };
  return planAll({ ...parseStages(r.ast), escapeToken: r.escapeToken }, req, () => ({}));
}

/** A random acyclic multi-stage Dockerfile: each stage starts from an image or an earlier stage and copies from earlier ones. */
const dockerfiles = fc
  .array(
    fc.record({
      fromStage: fc.option(fc.nat(), { nil: undefined }),
      copies: fc.array(fc.nat(), { maxLength: 3 }),
      run: fc.boolean(),
      workdir: fc.constantFrom(undefined, '/app', 'rel', '/'),
    }),
    { minLength: 1, maxLength: 7 },
  )
  .chain((stages) => fc.tuple(fc.constant(stages), fc.nat(stages.length - 1)))
  .map(([stages, target]) => {
    const lines: string[] = [];
    stages.forEach((s, i) => {
      const base = s.fromStage !== undefined && i > 0 ? `s${s.fromStage % i}` : 'busybox';
      lines.push(`FROM ${base} AS s${i}`);
      if (s.workdir) lines.push(`WORKDIR ${s.workdir}`);
      for (const c of s.copies) if (i > 0) lines.push(`COPY --from=${c % 2 === 0 ? `S${c % i}` : c % i} /x /y${c}`);
      if (s.run) lines.push(`RUN echo ${i}`);
      lines.push(`ENV N${i}=${i}`);
    });
    return { text: `${lines.join('\n')}\n`, target: `s${target}` };
  });

describe('planner properties', () => {
  it('needed = the target plus everything it depends on, dependencies first', () => {
    fc.assert(
      fc.property(dockerfiles, ({ text, target }) => {
        const p = planText(text, target);
        const needed = p.graph.needed;
        assert.deepEqual([...needed].sort((a, b) => a - b), needed);
        assert.ok(needed.includes(p.graph.target));
        const pos = new Map(needed.map((n, k) => [n, k]));
        for (const n of needed) {
          for (const d of p.graph.stages[n]!.dependsOn) {
            assert.ok(pos.has(d), `dependency ${d} of ${n} is needed`);
            assert.ok(pos.get(d)! < pos.get(n)!, 'dependencies come first');
          }
        }
        // nothing extra: every needed stage is reachable from the target
        const reach = new Set<number>();
        const walk = (i: number): void => {
          if (reach.has(i)) return;
          reach.add(i);
          p.graph.stages[i]!.dependsOn.forEach(walk);
        };
        walk(p.graph.target);
        assert.deepEqual([...reach].sort((a, b) => a - b), needed);
        assert.deepEqual([...p.results.keys()], needed);
      }),
      { numRuns: 200 },
    );
  });

  it('planning is deterministic and progress ordinals count up to the total', () => {
    fc.assert(
      fc.property(dockerfiles, ({ text, target }) => {
        const a = planText(text, target);
        const b = planText(text, target);
        for (const [i, res] of a.results) {
          assert.deepEqual(res.steps.map((s) => s.cacheMaterial), b.results.get(i)!.steps.map((s) => s.cacheMaterial));
          const vertices = res.steps.filter((s) => s.vertex).map((s) => s.ordinal);
          for (let k = 1; k < vertices.length; k++) assert.equal(vertices[k], vertices[k - 1]! + 1);
          for (const s of res.steps) assert.ok(s.ordinal <= s.total);
          const fromImage = a.graph.stages[i]!.base.kind === 'image';
          if (vertices.length > 0) assert.equal(vertices[0], fromImage ? 2 : 1);
        }
      }),
      { numRuns: 200 },
    );
  });

  const segment = fc.constantFrom('a', 'b', '..', '.', '', 'c d');
  const relPath = fc.array(segment, { maxLength: 6 }).map((p) => p.join('/'));

  it('cleanPath matches Go path.Clean invariants: absolute stays absolute, idempotent, no . or .. left in absolute paths', () => {
    fc.assert(
      fc.property(relPath, fc.boolean(), (p, abs) => {
        const input = abs ? `/${p}` : p;
        const c = cleanPath(input);
        assert.equal(cleanPath(c), c);
        if (abs) {
          assert.ok(c.startsWith('/'));
          assert.ok(!c.split('/').some((x) => x === '.' || x === '..'));
          assert.ok(c === '/' || !c.endsWith('/'));
        }
      }),
    );
  });

  it('resolveDest is absolute and ends with / exactly when the destination names a directory', () => {
    fc.assert(
      fc.property(relPath, relPath, fc.boolean(), (dirRel, dest, absDest) => {
        const dir = cleanPath(`/${dirRel}`);
        const d = absDest ? `/${dest}` : dest;
        const out = resolveDest(dir, d);
        assert.ok(out.startsWith('/'));
        const dirLike = d === '' || d === '.' || d.endsWith('/') || d.endsWith('/.');
        assert.equal(out.endsWith('/'), dirLike || out === '/');
      }),
    );
  });

  it('EnvList: one entry per key, the last assignment is last and wins', () => {
    const ops = fc.array(fc.tuple(fc.constantFrom('A', 'B', 'C', 'PATH'), fc.string({ maxLength: 3 })), { maxLength: 12 });
    fc.assert(
      fc.property(ops, (list) => {
        let env = EnvList.empty();
        for (const [k, v] of list) env = env.set(k, v);
        const keys = env.keys();
        assert.equal(new Set(keys).size, keys.length);
        const last = list.at(-1);
        if (last) {
          assert.equal(keys.at(-1), last[0]);
          assert.equal(env.get(last[0]), last[1]);
        }
        for (const k of keys) assert.equal(env.get(k), [...list].reverse().find(([kk]) => kk === k)![1]);
      }),
    );
  });

  it('RUN history |N counts distinct ARG names, first-declared order, latest value', () => {
    const args = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.option(fc.constantFrom('1', '2', ''), { nil: undefined })), { maxLength: 8 });
    fc.assert(
      fc.property(args, (list) => {
        const buildArgs = list.map(([key, value]) => (value === undefined ? { key } : { key, value }));
        const s = runCommandString(['/bin/sh', '-c', 'x'], buildArgs, EnvList.empty());
        const distinct = [...new Set(list.map(([k]) => k))];
        if (distinct.length === 0) assert.equal(s, '/bin/sh -c x');
        else {
          const parts = s.split(' ');
          assert.equal(parts[0], `|${distinct.length}`);
          assert.deepEqual(parts.slice(1, 1 + distinct.length).map((p) => p.split('=')[0]), distinct);
          for (const [i, k] of distinct.entries()) {
            const latest = [...list].reverse().find(([kk]) => kk === k)![1] ?? '';
            assert.equal(parts[1 + i], `${k}=${latest}`);
          }
        }
      }),
    );
  });

  let planned = 0;
  let total = 0;
  it('any mix of instructions either plans or fails with a StagecraftError (never a crash)', () => {
    const word = fc.constantFrom('a', '$A', '${B:-x}', '"q w"', '/abs', 'rel/', '.', '', '${U:?nope}', '0', 'base', 'Base', 'http://x/y');
    const line = fc.oneof(
      fc.tuple(fc.constantFrom('FROM', 'FROM --platform=$BUILDPLATFORM', 'FROM --platform=$X'), word, fc.constantFrom('', ' AS base', ' AS b2')).map(([k, w, a]) => `${k} ${w || 'busybox'}${a}`),
      fc.tuple(fc.constantFrom('ARG', 'ENV', 'LABEL'), fc.constantFrom('A', 'B', 'U'), word).map(([k, n, w]) => `${k} ${n}=${w}`),
      fc.tuple(fc.constantFrom('ARG'), fc.constantFrom('A', 'B', 'TARGETOS', 'TARGETSTAGE')).map(([k, n]) => `${k} ${n}`),
      fc.tuple(fc.constantFrom('RUN', 'CMD', 'ENTRYPOINT', 'WORKDIR', 'USER', 'VOLUME', 'EXPOSE', 'STOPSIGNAL', 'SHELL ["sh", "-c"]', 'ONBUILD RUN'), word).map(([k, w]) => `${k} ${w || 'x'}`),
      fc.tuple(fc.constantFrom('COPY', 'ADD', 'COPY --from=base', 'COPY --from=0', 'COPY --from=$A', 'COPY --chmod=0755', 'RUN --mount=type=cache,target=/c', 'RUN --mount=from=base,target=/m'), word, word).map(([k, a, b]) => `${k} ${a || 'src'} ${b || 'dst'}`),
    );
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 12 }), fc.dictionary(fc.constantFrom('A', 'B', 'U', 'http_proxy'), fc.constantFrom('', '1', 'v')), (lines, buildArgs) => {
        const text = `FROM busybox AS first\n${lines.join('\n')}\n`;
        total++;
        try {
          const r = parse(text, { file: 'Dockerfile' });
          planAll({ ...parseStages(r.ast), escapeToken: r.escapeToken }, { buildArgs, platform: linux, buildPlatform: linux }, () => ({}));
          planned++;
        } catch (e) {
          assert.ok(isStagecraftError(e), `${text}\n-> ${e instanceof Error ? e.stack : String(e)}`);
        }
      }),
      { numRuns: 500 },
    );
    console.log(`planner fuzz: ${planned}/${total} generated Dockerfiles planned, the rest failed with a StagecraftError`);
    assert.ok(planned > total / 10, 'the generator produces plannable Dockerfiles too');
  });
});
