/**
 * The stage graph, decided as BuildKit's dockerfile2llb decides it: FROM
 * names expanded with the global args, stage names case-insensitive,
 * `FROM <earlier stage>`, `COPY --from=<name|index|image>` and
 * `RUN --mount=from=` edges, ONBUILD edges of in-file parents, cycle and
 * ordering errors, and pruning to what the target needs.
 */
import { StagecraftError, type SourceRange } from '../errors.js';
import type { Instruction, Stage, ArgInstruction, InstructionLocation } from '../dockerfile/instructions/types.js';
import { splitCsvRecord } from '../dockerfile/instructions/go-values.js';
import { ShellLex } from '../dockerfile/shell/index.js';
import { parsePlatformSpec } from './platform-spec.js';
import { withSuggestion, withSuggestionAny } from './suggest.js';
import { evaluateMetaArgs, predefinedArgs, relocate } from './args.js';
import type { EnvList } from './env-list.js';
import type { BuildGraph, BuildRequest, PlannedStage, StageBase, StepSource } from './types.js';

/** A graph error that points at several places (every instruction of a cycle). */
export class StageGraphError extends StagecraftError {
  readonly locations: SourceRange[];
  constructor(message: string, locations: SourceRange[]) {
    super('STAGE', message, { location: locations[0] });
    this.locations = locations;
  }
}

export interface ParsedStages {
  metaArgs: readonly ArgInstruction[];
  stages: readonly Stage[];
  /** The `# escape=` token (default `\`). */
  escapeToken?: '\\' | '`';
}

const FROM_EXPANSION_MESSAGE =
  'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround';

export function toRange(loc: InstructionLocation, file: string | undefined): SourceRange {
  return file === undefined
    ? { startLine: loc.startLine, endLine: loc.endLine }
    : { file, startLine: loc.startLine, endLine: loc.endLine };
}

/** Go `strconv.Atoi` acceptance: optional sign, decimal digits. */
function atoi(s: string): number | undefined {
  return /^[+-]?[0-9]+$/.test(s) ? Number(s) : undefined;
}

/** A node of the dependency walk: a stage of the file, or an image named by --from. */
interface Node {
  stage?: number;
  image?: string;
  name: string;
  deps: Array<{ node: Node; location: InstructionLocation }>;
}

/** The `from` of each RUN --mount that has one (cache mounts without one read from scratch). */
function mountFroms(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (const m of raw) {
    let type = 'bind';
    let from = '';
    let fields: string[];
    try {
      fields = splitCsvRecord(m);
    } catch {
      continue; // reported when the step is planned
    }
    for (const f of fields) {
      const eq = f.indexOf('=');
      if (eq < 0) continue;
      const key = f.slice(0, eq).toLowerCase();
      const value = f.slice(eq + 1);
      if (key === 'type') type = value.toLowerCase();
      if (key === 'from') from = value;
    }
    if (from === '' && type === 'cache') from = 'scratch';
    if (from === '' || type === 'tmpfs') continue;
    if (from.includes('$')) {
      throw new StagecraftError('INSTRUCTION', "'from' doesn't support variable expansion, define alias stage instead");
    }
    out.push(from);
  }
  return out;
}

export interface StageLookup {
  /** Lowercased name -> index (a repeated name resolves to its last stage). */
  byName: Map<string, number>;
  count: number;
}

/**
 * What a `--from` value (COPY) names: a stage by index or name, else an
 * image. Throws BuildKit's errors for expansion and bad indexes.
 */
export function resolveCopyFrom(from: string, lookup: StageLookup, lex: ShellLex): StepSource {
  let expanded: string;
  try {
    expanded = lex.processWord(from, []);
  } catch {
    expanded = '';
  }
  if (expanded !== from) throw new StagecraftError('STAGE', FROM_EXPANSION_MESSAGE);
  const index = atoi(from);
  if (index !== undefined) {
    if (index < 0 || index >= lookup.count) throw new StagecraftError('STAGE', `invalid stage index ${index}`);
    return { kind: 'stage', index };
  }
  const byName = lookup.byName.get(from.toLowerCase());
  return byName === undefined ? { kind: 'image', ref: from } : { kind: 'stage', index: byName };
}

/** What a `RUN --mount=from=` value names: a stage by name (no indexes), else an image. */
export function resolveMountFrom(from: string, lookup: StageLookup): StepSource {
  const byName = lookup.byName.get(from.toLowerCase());
  return byName === undefined ? { kind: 'image', ref: from } : { kind: 'stage', index: byName };
}

/** The sources an instruction reads from (COPY --from, RUN --mount=from), with BuildKit's resolution. */
export function instructionSources(ins: Instruction, lookup: StageLookup, lex: ShellLex): StepSource[] {
  if (ins.kind === 'copy' && ins.from !== undefined && ins.from !== '') return [resolveCopyFrom(ins.from, lookup, lex)];
  if (ins.kind === 'run') return mountFroms(ins.mounts).map((f) => resolveMountFrom(f, lookup));
  return [];
}

export interface GraphResult extends BuildGraph {
  /** Global args after the meta ARGs and build-args (what FROM and stage `ARG x` see). */
  globalArgs: EnvList;
  lookup: StageLookup;
  escapeToken: '\\' | '`';
}

export function planGraph(parsed: ParsedStages, req: BuildRequest): GraphResult {
  const file = req.file;
  const { stages } = parsed;
  if (stages.length === 0) throw new StagecraftError('STAGE', 'dockerfile contains no stages to build');
  const escapeToken = parsed.escapeToken ?? '\\';
  const lex = new ShellLex({ escapeToken });

  const last = stages[stages.length - 1]!;
  const targetName = req.target ?? last.name ?? '';
  const globalArgs = evaluateMetaArgs(predefinedArgs(req, targetName), parsed.metaArgs, req.buildArgs, lex, file);

  // Stages in order; FROM <name> sees only earlier stages.
  const byName = new Map<string, number>();
  const planned: PlannedStage[] = [];
  for (const [i, st] of stages.entries()) {
    const location = toRange(st.location, file);
    let baseName: string;
    try {
      baseName = lex.processWordWithMatches(st.from.image, globalArgs.pairs()).result;
    } catch (e) {
      throw relocate(e, location);
    }
    if (baseName === '') {
      throw new StagecraftError('STAGE', `base name (${st.from.image}) should not be blank`, { location });
    }
    let platform: string | undefined;
    if (st.from.platform !== undefined && st.from.platform !== '') {
      const v = st.from.platform;
      let expansion: { result: string; unmatched: Set<string> };
      try {
        expansion = lex.processWordWithMatches(v, globalArgs.pairs());
      } catch (e) {
        throw relocate(e, location);
      }
      const options = globalArgs.keys();
      if (expansion.result === '') {
        throw new StagecraftError('STAGE', withSuggestionAny(`empty platform value from expression ${v}`, expansion.unmatched, options), { location });
      }
      const parsedPlatform = parsePlatformSpec(expansion.result, req.buildPlatform);
      if ('error' in parsedPlatform) {
        const msg = withSuggestionAny(parsedPlatform.error, expansion.unmatched, options);
        throw new StagecraftError('STAGE', `failed to parse platform ${v}: ${msg}`, { location });
      }
      platform = parsedPlatform.platform;
    }
    const parentIndex = byName.get(baseName);
    const base: StageBase =
      parentIndex !== undefined
        ? { kind: 'stage', index: parentIndex }
        : baseName === 'scratch'
          ? { kind: 'scratch' }
          : { kind: 'image', ref: baseName, ...(platform !== undefined ? { platform } : {}) };
    const name = st.name;
    planned.push({
      index: i,
      ...(name !== undefined ? { name } : {}),
      displayName: name ?? `stage-${i}`,
      progressName: name ?? `stage-${i}`,
      base,
      location,
      dependsOn: parentIndex !== undefined ? [parentIndex] : [],
      imageDeps: [],
      ...(platform !== undefined ? { platform } : {}),
    });
    if (name !== undefined) byName.set(name.toLowerCase(), i);
  }
  const lookup: StageLookup = { byName, count: stages.length };

  // Target.
  let target = stages.length - 1;
  if (req.target !== undefined && req.target !== '') {
    const t = byName.get(req.target.toLowerCase());
    if (t === undefined) {
      const names = planned.map((p) => p.displayName);
      const msg = withSuggestion(`target stage ${JSON.stringify(req.target)} could not be found`, req.target, names, true);
      throw new StagecraftError('STAGE', msg, {
        hint: names.length > 0 ? `stages: ${names.join(', ')}` : undefined,
      });
    }
    target = t;
  }

  // Edges from instructions. Implicit images become extra nodes, as in BuildKit.
  const nodes: Node[] = planned.map((p) => ({ stage: p.index, name: p.displayName, deps: [] }));
  const images = new Map<string, Node>();
  const imageNode = (ref: string): Node => {
    let n = images.get(ref);
    if (!n) {
      n = { image: ref, name: '', deps: [] };
      images.set(ref, n);
      nodes.push(n);
    }
    return n;
  };
  const addSource = (stageIndex: number, src: StepSource, loc: InstructionLocation): void => {
    const node = nodes[stageIndex]!;
    const p = planned[stageIndex]!;
    if (src.kind === 'stage') {
      node.deps.push({ node: nodes[src.index]!, location: loc });
      if (!p.dependsOn.includes(src.index)) p.dependsOn.push(src.index);
    } else if (src.kind === 'image') {
      node.deps.push({ node: imageNode(src.ref), location: loc });
      if (src.ref !== 'scratch' && !p.imageDeps.includes(src.ref)) p.imageDeps.push(src.ref);
    }
  };
  for (const [i, st] of stages.entries()) {
    for (const ins of st.commands) {
      let sources: StepSource[];
      try {
        sources = instructionSources(ins, lookup, lex);
      } catch (e) {
        throw relocate(e, toRange(ins.location, file));
      }
      for (const src of sources) addSource(i, src, ins.location);
    }
  }

  checkCycles(nodes, file);

  // ONBUILD triggers of an in-file parent run in the child: their sources are the child's.
  for (const [i, p] of planned.entries()) {
    if (p.base.kind !== 'stage') continue;
    for (const ins of stages[p.base.index]!.commands) {
      if (ins.kind !== 'onbuild' || !ins.trigger) continue;
      let sources: StepSource[];
      try {
        sources = instructionSources(ins.trigger, lookup, lex);
      } catch (e) {
        throw relocate(e, toRange(stages[i]!.location, file));
      }
      for (const src of sources) addSource(i, src, stages[i]!.location);
    }
  }

  // A single stage (and no implicit image) has no name in progress output.
  if (nodes.length === 1) planned[0]!.progressName = '';

  // Reachable from the target; dependencies come first in file order.
  const reach = new Set<number>();
  const visit = (i: number): void => {
    if (reach.has(i)) return;
    reach.add(i);
    for (const d of planned[i]!.dependsOn) visit(d);
  };
  visit(target);
  const needed = [...reach].sort((a, b) => a - b);

  // A stage can only read from stages defined before it (its own instructions
  // and the ONBUILD triggers of an in-file parent, which run in it).
  for (const i of needed) {
    const p = planned[i]!;
    const own = stages[i]!.commands.map((ins) => ({ ins, location: ins.location }));
    const inherited =
      p.base.kind === 'stage'
        ? stages[p.base.index]!.commands.flatMap((ins) =>
            ins.kind === 'onbuild' && ins.trigger ? [{ ins: ins.trigger, location: stages[i]!.location }] : [],
          )
        : [];
    for (const { ins, location } of [...inherited, ...own]) {
      let sources: StepSource[];
      try {
        sources = instructionSources(ins, lookup, lex);
      } catch {
        continue; // reported with its location when the step is planned
      }
      for (const src of sources) {
        if (src.kind === 'stage' && src.index > i) throw laterStageError(ins, planned[src.index]!, p, toRange(location, file));
      }
    }
  }

  return { stages: planned, target, needed, globalArgs, lookup, escapeToken };
}

/** BuildKit: `cannot copy from stage "x", it needs to be defined before current stage "y"`. */
function laterStageError(ins: Instruction, source: PlannedStage, current: PlannedStage, location: SourceRange): StagecraftError {
  const from = ins.kind === 'copy' ? ins.from ?? '' : source.displayName;
  const verb = ins.kind === 'copy' ? 'copy from' : 'mount from';
  return new StagecraftError(
    'STAGE',
    `cannot ${verb} stage ${JSON.stringify(from)}, it needs to be defined before current stage ${JSON.stringify(current.progressName)}`,
    { location },
  );
}

function checkCycles(nodes: readonly Node[], file: string | undefined): void {
  const visited = new Set<Node>();
  const onPath = new Set<Node>();
  const visit = (n: Node, path: InstructionLocation[]): InstructionLocation[] | undefined => {
    if (visited.has(n)) return undefined;
    visited.add(n);
    onPath.add(n);
    for (const d of n.deps) {
      const next = [...path, d.location];
      if (onPath.has(d.node)) return next;
      const found = visit(d.node, next);
      if (found) return found;
    }
    onPath.delete(n);
    return undefined;
  };
  for (const n of nodes) {
    const path = visit(n, []);
    if (path) {
      throw new StageGraphError(
        `circular dependency detected on stage: ${n.name}`,
        path.map((l) => toRange(l, file)),
      );
    }
  }
}
