/**
 * Walks the stages the target needs, in dependency order, tracking what
 * BuildKit's dispatcher tracks for its checks: the environment words are
 * expanded against (base image Env, ARG values, ENV), the ARGs declared, the
 * SHELL, whether an absolute WORKDIR was set. Runs the per-stage BuildKit
 * checks and records facts (copies between stages, paths written) for
 * stagecraft's own checks.
 */
import type { Instruction, Stage } from '../dockerfile/instructions/index.js';
import { ShellLex, ExpansionError } from '../dockerfile/shell/index.js';
import { DockerIgnore } from '../dockerfile/dockerignore/index.js';
import { cleanPath } from '../dockerfile/dockerignore/go-path.js';
import { suggestion } from '../plan/suggest.js';
import { DEFAULT_PATH } from '../plan/stage-state.js';
import type { GraphResult } from '../plan/index.js';
import type { Collector } from './collector.js';
import * as R from './rules.js';
import type { BaseImageInfo } from './types.js';

/** A COPY --from=<stage> as the walk saw it. */
export interface StageCopy {
  /** The stage copying. */
  stage: number;
  /** The stage copied from. */
  from: number;
  /** Source paths after expansion, absolute in the source stage. */
  sources: string[];
  /** Destination, absolute in this stage. */
  dest: string;
  location: { startLine: number; endLine: number };
}

/** What a stage writes, as far as the Dockerfile says. */
export interface StageFacts {
  index: number;
  /** Runs a RUN (or an ONBUILD trigger): it may create anything. */
  hasRun: boolean;
  /** Absolute paths written by COPY/ADD destinations (and their heredoc files) and VOLUME. */
  written: string[];
  /** Absolute directories WORKDIR created. */
  workdirs: string[];
  /** COPY --from=<stage> in this stage. */
  copies: StageCopy[];
  /** Final environment. */
  env: Map<string, string>;
  /** ARG names declared in the stage (or its in-file parents). */
  declared: Set<string>;
  /** ARG names whose values the stage's words used. */
  argsUsed: Set<string>;
  workdir: string;
  base?: BaseImageInfo;
}

interface State {
  env: Map<string, string>;
  declared: Set<string>;
  shellSet: boolean;
  workdirSet: boolean;
  workdir: string;
}

export interface WalkInput {
  stages: readonly Stage[];
  graph: GraphResult;
  buildArgs: Readonly<Record<string, string>>;
  dockerignore?: string | undefined;
  platform: string;
  resolveImage?: ((ref: string, platform: string) => BaseImageInfo | undefined) | undefined;
}

export function posixJoin(base: string, rel: string): string {
  const parts = (rel.startsWith('/') ? rel : `${base}/${rel}`).split('/');
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return '/' + out.join('/');
}


/**
 * The path CopyIgnoredFile reports, or undefined. As BuildKit: never when the
 * .dockerignore has `!` exclusions (too hard to decide statically); the
 * context root only when a plain `*`, `**` or `**` + `/*` pattern excludes everything.
 */
function ignoredSource(ignore: DockerIgnore, src: string): string | undefined {
  const m = ignore.matcher;
  if (m.exclusions) return undefined;
  const p = cleanPath(src);
  if (p === '.' || p === '/') {
    const all = m.patterns.some((x) => !x.exclusion && (x.cleaned === '*' || x.cleaned === '**' || x.cleaned === '**/*'));
    if (!all) return undefined;
  }
  return m.matchesOrParentMatches(p) ? p : undefined;
}

const SECRET_DENY = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const SECRET_ALLOW = /(?:_|^)(?:public|file|version)(?:_|$)/i;

/** Build args that never become environment variables (BuildKit's SBOM switches). */
const NON_ENV_ARGS = ['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE'];

export function looksSecret(key: string): boolean {
  return !SECRET_ALLOW.test(key) && SECRET_DENY.test(key);
}

export function walkStages(c: Collector, input: WalkInput): Map<number, StageFacts> {
  const { stages, graph, buildArgs } = input;
  const lex = new ShellLex({ escapeToken: graph.escapeToken });
  // Heredoc bodies expand with quotes kept as they are (BuildKit's ExpandRaw).
  const rawLex = new ShellLex({ escapeToken: '\\', skipProcessQuotes: true });
  const globals = new Map(graph.globalArgs.pairs());
  const ignore = input.dockerignore !== undefined ? DockerIgnore.parse(input.dockerignore) : undefined;
  const facts = new Map<number, StageFacts>();
  const finals = new Map<number, State>();

  for (const i of graph.needed) {
    const st = stages[i]!;
    const planned = graph.stages[i]!;
    let state: State;
    let base: BaseImageInfo | undefined;
    if (planned.base.kind === 'stage') {
      const p = finals.get(planned.base.index)!;
      state = { env: new Map(p.env), declared: new Set(p.declared), shellSet: p.shellSet, workdirSet: p.workdirSet, workdir: p.workdir };
    } else {
      if (planned.base.kind === 'image') {
        const platform = planned.platform ?? input.platform;
        base = input.resolveImage?.(planned.base.ref, platform);
        // As BuildKit: only OS and architecture must match (not the variant).
        if (base?.platform !== undefined && base.platform.split('/').slice(0, 2).join('/') !== platform.split('/').slice(0, 2).join('/')) {
          c.run(R.InvalidBaseImagePlatform, st.location, planned.base.ref, base.platform, platform);
        }
      }
      const env = new Map<string, string>();
      for (const kv of base?.env ?? []) {
        const eq = kv.indexOf('=');
        env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
      }
      if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
      const shellSet = (base?.shell ?? []).length > 0;
      // The image's WorkingDir applies, but does not count as a WORKDIR of this build.
      state = { env, declared: new Set(), shellSet, workdirSet: false, workdir: posixJoin('/', base?.workingDir ?? '/') };
    }
    const f: StageFacts = {
      index: i, hasRun: false, written: [], workdirs: [], copies: [], env: state.env, declared: state.declared,
      argsUsed: new Set(), workdir: '/', ...(base ? { base } : {}),
    };

    const word = (w: string | undefined, at: Instruction): string => expandWord(w, at).result;
    const expandWord = (w: string | undefined, at: Instruction, using: ShellLex = lex): { result: string; words: string[] } => {
      if (w === undefined) return { result: '', words: [] };
      let result = '';
      let words: string[] = [];
      let matched = new Set<string>();
      let unmatched: Set<string>;
      try {
        const r = using.processWordWithMatches(w, state.env);
        result = r.result;
        words = r.words;
        matched = r.matched;
        unmatched = r.unmatched;
      } catch (e) {
        if (!(e instanceof ExpansionError)) throw e;
        unmatched = e.unmatched;
      }
      for (const m of matched) if (state.declared.has(m)) f.argsUsed.add(m);
      const options = [...state.env.keys()];
      for (const name of unmatched) {
        if (state.declared.has(name)) {
          f.argsUsed.add(name);
          continue;
        }
        if (NON_ENV_ARGS.includes(name)) continue;
        c.run(R.UndefinedVar, at.location, name, suggestion(name, options, true));
      }
      return { result, words };
    };

    const lastOf = new Map<string, Instruction>();
    for (const ins of st.commands) {
      if (ins.kind === 'cmd' || ins.kind === 'entrypoint' || ins.kind === 'healthcheck') lastOf.set(ins.kind, ins);
    }

    for (const ins of st.commands) {
      const at = ins.location;
      switch (ins.kind) {
        case 'arg':
          for (const a of ins.args) {
            if (looksSecret(a.key)) c.run(R.SecretsUsedInArgOrEnv, at, 'ARG', a.key);
            let value: string | undefined;
            if (Object.hasOwn(buildArgs, a.key)) value = buildArgs[a.key];
            else if (a.value !== undefined) value = word(a.value, ins);
            else value = globals.get(a.key);
            state.declared.add(a.key);
            if (value !== undefined && !NON_ENV_ARGS.includes(a.key)) state.env.set(a.key, value);
          }
          break;
        case 'env':
          for (const p of ins.pairs) {
            if (p.legacy) c.run(R.LegacyKeyValueFormat, at, 'ENV');
            if (looksSecret(p.key)) c.run(R.SecretsUsedInArgOrEnv, at, 'ENV', p.key);
          }
          for (const p of ins.pairs) state.env.set(word(p.key, ins), word(p.value, ins));
          break;
        case 'label':
          for (const p of ins.pairs) {
            if (p.legacy) c.run(R.LegacyKeyValueFormat, at, 'LABEL');
            word(p.key, ins);
            word(p.value, ins);
          }
          break;
        case 'copy':
        case 'add': {
          const sources = ins.sourcePaths.map((s) => word(s, ins));
          const destRaw = word(ins.destPath, ins);
          word(ins.chown, ins);
          word(ins.chmod, ins);
          const dest = posixJoin(state.workdir, destRaw);
          const fromName = ins.kind === 'copy' ? ins.from : undefined;
          if (fromName === undefined || fromName === '') {
            if (ignore) {
              for (const s of sources) {
                if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith('git@')) continue;
                const shown = ignoredSource(ignore, s);
                if (shown !== undefined) c.run(R.CopyIgnoredFile, at, ins.kind === 'add' ? 'Add' : 'Copy', shown);
              }
            }
          } else {
            const from = resolveFrom(fromName, graph);
            if (from !== undefined) {
              f.copies.push({ stage: i, from, sources: sources.map((s) => posixJoin('/', s)), dest: destRaw.endsWith('/') || destRaw === '.' ? dest + (dest === '/' ? '' : '/') : dest, location: at });
            }
          }
          for (const sc of ins.sourceContents) if (sc.expand) expandWord(sc.data, ins, rawLex);
          if (ins.kind === 'add') word(ins.checksum, ins);
          f.written.push(dest);
          for (const sc of ins.sourceContents) f.written.push(posixJoin(dest, sc.path));
          break;
        }
        case 'workdir': {
          const p = word(ins.path, ins);
          const absolute = p.startsWith('/');
          // Only the first WORKDIR of the build is checked: fixing it fixes the later ones.
          if (!absolute && !state.workdirSet) c.run(R.WorkdirRelativePath, at, p);
          state.workdirSet = true;
          state.workdir = posixJoin(state.workdir, p);
          f.workdirs.push(state.workdir);
          break;
        }
        case 'user':
          word(ins.user, ins);
          break;
        case 'stopsignal':
          word(ins.signal, ins);
          break;
        case 'volume':
          for (const v of ins.volumes) f.written.push(posixJoin(state.workdir, word(v, ins)));
          break;
        case 'expose':
          for (const port of ins.ports.flatMap((raw) => expandWord(raw, ins).words)) {
            if (port.includes(':')) c.run(R.ExposeInvalidFormat, at, port);
            const slash = port.indexOf('/');
            if (slash >= 0) {
              const proto = port.slice(slash + 1);
              if (proto !== proto.toLowerCase()) c.run(R.ExposeProtoCasing, at, port);
            }
          }
          break;
        case 'shell':
          state.shellSet = true;
          break;
        case 'cmd':
        case 'entrypoint':
          if (ins.prependShell && !state.shellSet) c.run(R.JSONArgsRecommended, at, ins.kind.toUpperCase());
          break;
        case 'run':
          // --mount values are expanded (the command itself is left to the shell).
          for (const m of ins.mounts) word(m, ins);
          f.hasRun = true;
          break;
        case 'onbuild':
          f.hasRun = true;
          break;
        default:
          break;
      }
      if ((ins.kind === 'cmd' || ins.kind === 'entrypoint' || ins.kind === 'healthcheck') && lastOf.get(ins.kind) !== ins) {
        c.run(R.MultipleInstructionsDisallowed, at, ins.kind.toUpperCase());
      }
    }
    f.workdir = state.workdir;
    finals.set(i, state);
    facts.set(i, f);
  }
  return facts;
}

/** The stage a COPY --from names (by index or name), or undefined for an image. */
export function resolveFrom(from: string, graph: GraphResult): number | undefined {
  if (/^[0-9]+$/.test(from)) {
    const n = Number(from);
    return n < graph.stages.length ? n : undefined;
  }
  return graph.lookup.byName.get(from.toLowerCase());
}

