/**
 * stagecraft's multi-stage checks, on the facts the stage walk gathered:
 * COPY --from paths the source stage provably never creates, stages the
 * target never uses, and copies across C libraries or Python versions.
 */
import type { Stage } from '../dockerfile/instructions/index.js';
import type { GraphResult, StageBase } from '../plan/index.js';
import type { Collector } from './collector.js';
import { identify, type BaseIdentity } from './base-identity.js';
import type { StageCopy, StageFacts } from './stage-walk.js';
import * as S from './stagecraft-rules.js';
import type { StageFilesystemProbe } from './types.js';

export interface StageCheckInput {
  stages: readonly Stage[];
  graph: GraphResult;
  facts: ReadonlyMap<number, StageFacts>;
  probeStage?: StageFilesystemProbe | undefined;
}

/** Directories an image may well already hold: a WORKDIR there proves nothing. */
const SYSTEM_DIRS = new Set(['', 'bin', 'boot', 'dev', 'etc', 'home', 'lib', 'lib64', 'media', 'mnt', 'opt', 'proc', 'root', 'run', 'sbin', 'srv', 'sys', 'tmp', 'usr', 'var']);

const GLOB = /[*?[\\]/;

function under(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

/** The stage and its in-file ancestors (FROM <stage>), nearest first. */
function chain(i: number, graph: GraphResult): number[] {
  const out: number[] = [];
  let cur: number | undefined = i;
  while (cur !== undefined) {
    out.push(cur);
    const b: StageBase = graph.stages[cur]!.base;
    cur = b.kind === 'stage' ? b.index : undefined;
  }
  return out;
}

function rootRef(i: number, graph: GraphResult): string {
  const c = chain(i, graph);
  const b = graph.stages[c[c.length - 1]!]!.base;
  return b.kind === 'image' ? b.ref : 'scratch';
}

function stageLabel(i: number, graph: GraphResult): string {
  return graph.stages[i]!.name ?? String(i);
}

/** Why `path` provably does not exist in stage `from`, or undefined when it may. */
function missingReason(path: string, from: number, input: StageCheckInput): string | undefined {
  const { graph, facts } = input;
  const probed = input.probeStage?.(from, path);
  if (probed !== undefined) return probed ? undefined : 'not found in the built stage';
  if (GLOB.test(path)) return undefined;
  const c = chain(from, graph);
  const all = c.map((i) => facts.get(i)).filter((f): f is StageFacts => f !== undefined);
  if (all.length !== c.length || all.some((f) => f.hasRun)) return undefined;
  // Anything written at, above or below the path keeps it possible.
  const written = all.flatMap((f) => [...f.written, ...f.workdirs]);
  if (written.some((w) => under(path, w) || under(w, path))) return undefined;
  const root = graph.stages[c[c.length - 1]!]!.base;
  if (root.kind === 'scratch') return 'the stage starts FROM scratch and nothing in it writes there';
  return undefined;
}

function workdirOnly(path: string, from: number, input: StageCheckInput): string | undefined {
  const { graph, facts } = input;
  const c = chain(from, graph);
  const all = c.map((i) => facts.get(i)).filter((f): f is StageFacts => f !== undefined);
  if (all.length !== c.length || all.some((f) => f.hasRun) || GLOB.test(path)) return undefined;
  const dirs = all.flatMap((f) => f.workdirs);
  const others = all.flatMap((f) => f.written);
  const dir = dirs.find((d) => d !== path && under(path, d) && !SYSTEM_DIRS.has(d.split('/')[1] ?? ''));
  if (dir === undefined) return undefined;
  if (others.some((w) => under(path, w) || under(w, path))) return undefined;
  return `${dir} is made by WORKDIR only; no COPY or RUN writes under it`;
}

function checkCopyPaths(c: Collector, copy: StageCopy, input: StageCheckInput): void {
  const label = stageLabel(copy.from, input.graph);
  for (const src of copy.sources) {
    const why = missingReason(src, copy.from, input) ?? workdirOnly(src, copy.from, input);
    if (why !== undefined) c.run(S.StagecraftCopyFromMissingPath, copy.location, src, label, why);
  }
}

const PYTHON_PATH = /python(\d+\.\d+)/;
const PYTHONISH = /site-packages|dist-packages|\/wheels?(\/|$)|venv|\/\.local(\/|$)|\.whl$|python\d/;

function checkCompatibility(c: Collector, copy: StageCopy, input: StageCheckInput, ids: Map<number, BaseIdentity>): void {
  const { graph } = input;
  const id = (i: number): BaseIdentity => {
    let v = ids.get(i);
    if (!v) {
      const c0 = chain(i, graph);
      v = identify(rootRef(i, graph), input.facts.get(c0[c0.length - 1]!)?.base);
      ids.set(i, v);
    }
    return v;
  };
  const a = id(copy.from);
  const b = id(copy.stage);
  const fromLabel = stageLabel(copy.from, graph);
  const toLabel = stageLabel(copy.stage, graph);
  if (a.libc && b.libc && a.libc !== b.libc) {
    c.run(S.StagecraftLibcMismatch, copy.location, fromLabel, a.libc, a.ref, toLabel, b.libc, b.ref);
  }
  if (b.python === undefined) return;
  for (const src of copy.sources) {
    const inPath = PYTHON_PATH.exec(src)?.[1];
    if (inPath !== undefined && inPath !== b.python) {
      c.run(S.StagecraftPythonVersionMismatch, copy.location, src, inPath, toLabel, b.python);
    } else if (inPath === undefined && a.python !== undefined && a.python !== b.python && PYTHONISH.test(src)) {
      c.run(S.StagecraftPythonVersionMismatch, copy.location, src, a.python, toLabel, b.python);
    }
  }
}

export function stagecraftChecks(c: Collector, input: StageCheckInput): void {
  const { graph } = input;
  const ids = new Map<number, BaseIdentity>();
  for (const i of graph.needed) {
    for (const copy of input.facts.get(i)?.copies ?? []) {
      checkCopyPaths(c, copy, input);
      checkCompatibility(c, copy, input, ids);
    }
  }
  const needed = new Set(graph.needed);
  const target = stageLabel(graph.target, graph);
  for (const p of graph.stages) {
    if (!needed.has(p.index)) c.run(S.StagecraftUnusedStage, input.stages[p.index]!.from.location, p.displayName, target);
  }
}
