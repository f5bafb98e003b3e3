/**
 * `outline`: what a target needs. The stage graph comes from the planner
 * (planGraph: bases, COPY --from, RUN --mount=from, pruning to the target);
 * this adds the build args each stage uses, as BuildKit's outline reports
 * them: only ARGs reachable from the target, values expanded, build-arg
 * overrides applied, descriptions from the comment above the ARG.
 */
import { parse } from '../dockerfile/parser/index.js';
import { parseStages, type Stage } from '../dockerfile/instructions/index.js';
import { ShellLex, ExpansionError } from '../dockerfile/shell/index.js';
import { planGraph, predefinedArgs, type BuildRequest, type GraphResult } from '../plan/index.js';
import { parsePlatform } from '../lint/lint.js';
import type { SourceRange } from '../errors.js';

export interface OutlineArg {
  name: string;
  /** The default as written (unexpanded), when the ARG has one. */
  default?: string;
  /** The value the build uses: build-arg override, else the expanded default (or the global's value). */
  value?: string;
  description?: string;
  /** 'global' for ARGs before the first FROM. */
  scope: 'global' | 'stage';
  /** Line of the ARG instruction that defines it. */
  line?: number;
}

export interface OutlineStage {
  index: number;
  name?: string;
  /** `scratch`, an image reference, or `stage <name>` (expanded). */
  base: string;
  /** Index of the base stage, when the stage starts FROM another stage. */
  baseStage?: number;
  /** Stages this stage needs (base, COPY --from, RUN --mount=from), by display name. */
  dependsOn: string[];
  /** Images it reads besides its base (COPY --from=<image>, RUN --mount=from=<image>). */
  imageDeps: string[];
  needed: boolean;
  /** The stage's own ARGs (with their values when the stage is needed). */
  args: OutlineArg[];
  description?: string;
  location: SourceRange;
}

export interface Outline {
  /** Target stage display name. */
  target: string;
  targetIndex: number;
  /** Stages the target needs, dependencies first (display names), the target last. */
  targetNeeds: string[];
  stages: OutlineStage[];
  /** Every build arg the target uses: used globals first, then stage ARGs in order; each name once. */
  args: OutlineArg[];
}

export interface OutlineInput {
  dockerfile: string;
  file?: string;
  target?: string;
  buildArgs?: Record<string, string>;
  platform?: string;
}

interface Expanded {
  result: string;
  matched: Set<string>;
}

function expand(lex: ShellLex, word: string, env: Map<string, string>): Expanded {
  try {
    const r = lex.processWordWithMatches(word, env);
    return { result: r.result, matched: r.matched };
  } catch (e) {
    if (e instanceof ExpansionError) return { result: '', matched: e.matched };
    throw e;
  }
}

interface GlobalArg {
  arg: OutlineArg;
  /** Global names its default referenced. */
  deps: Set<string>;
}

/** Throws StagecraftError for a Dockerfile that does not parse or plan. */
export function outline(input: OutlineInput): Outline {
  const file = input.file;
  const buildArgs = input.buildArgs ?? {};
  const parsed = parse(input.dockerfile, file !== undefined ? { file } : {});
  const { metaArgs, stages } = parseStages(parsed.ast);
  const platform = parsePlatform(input.platform ?? 'linux/amd64');
  const req: BuildRequest = {
    buildArgs, platform, buildPlatform: platform,
    ...(input.target !== undefined ? { target: input.target } : {}),
    ...(file !== undefined ? { file } : {}),
  };
  const graph = planGraph({ metaArgs, stages, escapeToken: parsed.escapeToken }, req);
  const lex = new ShellLex({ escapeToken: parsed.escapeToken });

  // Globals, in order, each redeclaration building on the previous value.
  const targetName = graph.stages[graph.target]!.name ?? '';
  const env = new Map(predefinedArgs(req, targetName).pairs());
  const predefined = new Set(env.keys());
  const globals = new Map<string, GlobalArg>();
  for (const cmd of metaArgs) {
    for (const a of cmd.args) {
      const prev = globals.get(a.key);
      const deps = new Set(prev?.deps ?? []);
      let value: string | undefined;
      if (a.value !== undefined) {
        const x = expand(lex, a.value, env);
        for (const m of x.matched) if (m !== a.key || prev) deps.add(m);
        value = x.result;
      }
      if (Object.hasOwn(buildArgs, a.key)) value = buildArgs[a.key];
      if (value !== undefined) env.set(a.key, value);
      const arg: OutlineArg = {
        name: a.key, scope: 'global', line: cmd.location.startLine,
        ...(a.value !== undefined ? { default: a.value } : prev?.arg.default !== undefined ? { default: prev.arg.default } : {}),
        ...(env.has(a.key) && !predefined.has(a.key) ? { value: env.get(a.key)! } : {}),
        ...(a.comment !== '' ? { description: a.comment } : prev?.arg.description ? { description: prev.arg.description } : {}),
      };
      deps.delete(a.key);
      globals.set(a.key, { arg, deps });
    }
  }

  const needed = new Set(graph.needed);
  const finals = new Map<number, Map<string, string>>();
  const out: OutlineStage[] = [];
  const used = new Map<number, Set<string>>();
  const infos = new Map<number, Map<string, GlobalArg>>();
  for (const st of stages) {
    const p = graph.stages[st.index]!;
    const isNeeded = needed.has(st.index);
    // As BuildKit's outline: a stage uses the globals its FROM expands and the ARGs it declares.
    const usedHere = new Set<string>();
    for (const w of [st.from.image, st.from.platform ?? '']) for (const m of expand(lex, w, env).matched) usedHere.add(m);
    const stageEnv = p.base.kind === 'stage' ? new Map(finals.get(p.base.index) ?? []) : new Map<string, string>();
    const own = stageArgs(st, stageEnv, env, buildArgs, lex);
    const known = new Map(globals);
    for (const a of own) {
      usedHere.add(a.arg.name);
      if (!a.inherited) known.set(a.arg.name, { arg: a.arg, deps: new Set() });
    }
    used.set(st.index, usedHere);
    infos.set(st.index, known);
    finals.set(st.index, stageEnv);
    out.push({
      index: st.index,
      ...(p.name !== undefined ? { name: p.name } : {}),
      base: p.base.kind === 'scratch' ? 'scratch' : p.base.kind === 'image' ? p.base.ref : `stage ${graph.stages[p.base.index]!.displayName}`,
      ...(p.base.kind === 'stage' ? { baseStage: p.base.index } : {}),
      dependsOn: p.dependsOn.map((d) => graph.stages[d]!.displayName),
      imageDeps: [...p.imageDeps],
      needed: isNeeded,
      args: own.map((a) => a.arg),
      ...(st.from.comment !== '' ? { description: st.from.comment } : {}),
      location: { ...(file !== undefined ? { file } : {}), startLine: st.from.location.startLine, endLine: st.from.location.endLine },
    });
  }

  // From the target through its base and dependencies: each name once (the
  // nearest definition wins), globals pulled in through the globals they use;
  // then ordered by where they are declared.
  const all: OutlineArg[] = [];
  const visitedArgs = new Set<string>();
  const visitedStages = new Set<number>();
  const collect = (i: number): void => {
    if (visitedStages.has(i)) return;
    visitedStages.add(i);
    const known = infos.get(i)!;
    const names = new Set<string>();
    const mark = (n: string): void => {
      if (names.has(n)) return;
      names.add(n);
      for (const d of known.get(n)?.deps ?? []) mark(d);
    };
    for (const n of used.get(i)!) mark(n);
    for (const n of names) {
      const info = known.get(n);
      if (info && !visitedArgs.has(n)) {
        visitedArgs.add(n);
        all.push(info.arg);
      }
    }
    const p = graph.stages[i]!;
    if (p.base.kind === 'stage') collect(p.base.index);
    for (const d of [...p.dependsOn].sort((a, b) => a - b)) collect(d);
  };
  collect(graph.target);
  all.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return {
    target: graph.stages[graph.target]!.displayName,
    targetIndex: graph.target,
    targetNeeds: graph.needed.map((i) => graph.stages[i]!.displayName),
    stages: out,
    args: all,
  };
}

/** A stage's ARGs, in order, evaluated like the build does (ENV and ARG values feed later defaults). */
function stageArgs(
  st: Stage,
  env: Map<string, string>,
  globals: Map<string, string>,
  buildArgs: Readonly<Record<string, string>>,
  lex: ShellLex,
): Array<{ arg: OutlineArg; inherited: boolean }> {
  const args = new Map<string, { arg: OutlineArg; inherited: boolean }>();
  for (const ins of st.commands) {
    if (ins.kind === 'env') {
      for (const p of ins.pairs) env.set(expand(lex, p.key, env).result, expand(lex, p.value, env).result);
      continue;
    }
    if (ins.kind !== 'arg') continue;
    for (const a of ins.args) {
      const hasValue = Object.hasOwn(buildArgs, a.key);
      // `ARG X` with neither default nor build-arg takes the global's value (and the global's description).
      const inherited = a.value === undefined && !hasValue && globals.has(a.key);
      let value: string | undefined;
      if (hasValue) value = buildArgs[a.key];
      else if (a.value !== undefined) value = expand(lex, a.value, env).result;
      else if (inherited) value = globals.get(a.key);
      if (value !== undefined) env.set(a.key, value);
      args.delete(a.key);
      args.set(a.key, {
        inherited,
        arg: {
          name: a.key, scope: 'stage', line: ins.location.startLine,
          ...(a.value !== undefined ? { default: a.value } : {}),
          ...(value !== undefined ? { value } : {}),
          ...(a.comment !== '' ? { description: a.comment } : {}),
        },
      });
    }
  }
  return [...args.values()];
}
