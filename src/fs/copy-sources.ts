/**
 * Turn COPY/ADD source arguments into concrete matches under a source root
 * (the build context or another stage's root filesystem). Shared by the copy
 * itself and by content hashing for cache keys, so both see the same files.
 *
 * BuildKit rules: sources are relative to the root (a leading `/` and `..`
 * are dropped); wildcards use filepath.Match per path, one component each;
 * a literal source that does not exist is an error; a wildcard that matches
 * nothing is allowed (AllowEmptyWildcard), but the directory before the
 * first wildcard must exist. Symlinks named by a source or matched by a
 * wildcard are followed, inside the root.
 */
import type { Dirent, Stats } from 'node:fs';
import { readdirSync } from 'node:fs';
import { StagecraftError } from '../errors.js';
import { BadPatternError, DockerIgnore, filepathMatch } from '../dockerfile/dockerignore/index.js';
import { compilePattern, hasWildcard, suggest, type CompiledPattern } from './copy-glob.js';
import { lstatMaybeSync } from './copy-tree.js';
import { resolveInRoot, splitPath } from './scoped-path.js';

/** Return true to leave an entry out as if it did not exist (.dockerignore). */
export type IgnoreFn = (relPath: string, isDir: boolean) => boolean;

export interface SourceMatch {
  /** The source argument as written. */
  spec: string;
  /** Path of the match relative to the source root, not following its last link ('' = root). */
  rel: string;
  /** Host path after following symlinks inside the root. */
  host: string;
  /** lstat of `host`. */
  stat: Stats;
  /** Where it goes relative to the destination: base name, or the path after the pivot with --parents. */
  destRel: string;
}

export interface ResolveSourcesOptions {
  parents?: boolean;
  ignore?: IgnoreFn | undefined;
  /** Default true, as BuildKit's Dockerfile frontend sets it. */
  allowEmptyWildcard?: boolean;
  /** Names the root in messages: "build context", "stage build". */
  rootName?: string;
}

/** Split a --parents source at its `/./` pivot: [kept-before, pattern-after]. */
export function splitPivot(src: string): [string, string] {
  const s = src.startsWith('./') ? src.slice(1) : src;
  const i = s.indexOf('/./');
  if (i < 0) return ['', src];
  return [s.slice(0, i), s.slice(i + 3)];
}

function cleanRel(p: string): string {
  const out: string[] = [];
  for (const c of splitPath(p)) {
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out.join('/');
}

function joinRel(a: string, b: string): string {
  return a === '' ? b : b === '' ? a : `${a}/${b}`;
}

function baseName(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? rel : rel.slice(i + 1);
}

// Lookups here are synchronous, as the walks in scoped-path.ts and the context hash (tree-hash.ts):
// one system call each, where a thread-pool round trip cost ~10x as long on the build VM.
async function readdirSorted(host: string): Promise<Dirent[]> {
  const list = readdirSync(host, { withFileTypes: true });
  return list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Build the "not found" error with near-match suggestions from the deepest existing directory. */
async function notFound(root: string, rel: string, opts: ResolveSourcesOptions): Promise<StagecraftError> {
  const where = opts.rootName ?? 'build context';
  const comps = rel.split('/');
  let dirRel = '';
  let hint: string | undefined;
  for (const c of comps) {
    const next = joinRel(dirRel, c);
    const host = await resolveInRoot(root, next);
    const st = lstatMaybeSync(host);
    if (st && !(opts.ignore?.(next, st.isDirectory()) ?? false)) {
      dirRel = next;
      continue;
    }
    if (st) {
      hint = `"${next}" is excluded by .dockerignore; remove it from .dockerignore to copy it`;
      break;
    }
    const dirHost = await resolveInRoot(root, dirRel);
    let names: string[] = [];
    try {
      names = (await readdirSorted(dirHost))
        .filter((d) => !(opts.ignore?.(joinRel(dirRel, d.name), d.isDirectory()) ?? false))
        .map((d) => d.name);
    } catch {
      names = [];
    }
    const near = suggest(c, names);
    if (near.length > 0) hint = `did you mean ${near.map((n) => `"/${joinRel(dirRel, n)}"`).join(' or ')}?`;
    break;
  }
  return new StagecraftError('COPY', `"/${rel}": not found in ${where}`, { hint });
}

/** Resolve one source argument into matches, in lexical order. */
export async function resolveSource(root: string, spec: string, opts: ResolveSourcesOptions = {}): Promise<SourceMatch[]> {
  if (!opts.parents) return resolveUnder(root, spec, '', cleanRel(spec), opts, true);
  const [pivotRaw, patternRaw] = splitPivot(spec);
  const pivot = cleanRel(pivotRaw);
  const pattern = cleanRel(patternRaw);
  if (!pivot.split('/').some(hasWildcard)) return resolveUnder(root, spec, pivot, pattern, opts, true);
  // A wildcard before the pivot (`/a/b*/./c/**/e`): every matching directory
  // is a pivot of its own; what is missing under one of them is simply not
  // matched there.
  const pivots = await resolveUnder(root, spec, '', pivot, { ...opts, parents: false }, true);
  const out: SourceMatch[] = [];
  for (const p of pivots) {
    if (!p.stat.isDirectory()) continue;
    out.push(...(await resolveUnder(root, spec, p.rel, pattern, opts, false)));
  }
  return out;
}

/**
 * Matches of `pattern` below the (literal) `pivot`. `strict`: a missing
 * literal path is an error (otherwise it just matches nothing).
 */
async function resolveUnder(
  root: string,
  spec: string,
  pivot: string,
  pattern: string,
  opts: ResolveSourcesOptions,
  strict: boolean,
): Promise<SourceMatch[]> {
  const comps = pattern === '' ? [] : pattern.split('/');
  const w = comps.findIndex(hasWildcard);
  const destRelOf = (rel: string): string =>
    opts.parents ? rel.slice(pivot.length).replace(/^\//, '') : baseName(rel);

  if (w < 0) {
    const rel = joinRel(pivot, pattern);
    const host = await resolveInRoot(root, rel);
    const stat = lstatMaybeSync(host);
    if (!stat || (rel !== '' && (opts.ignore?.(rel, stat.isDirectory()) ?? false))) {
      if (!strict) return [];
      throw await notFound(root, rel, opts);
    }
    return [{ spec, rel, host, stat, destRel: destRelOf(rel) }];
  }

  const baseRel = joinRel(pivot, comps.slice(0, w).join('/'));
  const baseHost = await resolveInRoot(root, baseRel);
  const baseStat = lstatMaybeSync(baseHost);
  if (!baseStat || !baseStat.isDirectory()) {
    if (!strict) return [];
    throw await notFound(root, baseRel, opts);
  }
  const matcher = sourceMatcher(comps.slice(w).join('/'), opts.parents ?? false, spec);
  const found: string[] = [];
  const walk = async (dirHost: string, dirSub: string): Promise<void> => {
    for (const d of await readdirSorted(dirHost)) {
      const sub = joinRel(dirSub, d.name);
      const rel = joinRel(baseRel, sub);
      if (opts.ignore?.(rel, d.isDirectory()) ?? false) continue;
      if (matcher.matches(sub)) {
        // Like Go's Walk: a matched directory is copied whole, not descended.
        found.push(rel);
        continue;
      }
      if (d.isDirectory() && matcher.mayMatchBelow(sub)) await walk(`${dirHost}/${d.name}`, sub);
    }
  };
  await walk(baseHost, '');
  if (found.length === 0 && opts.allowEmptyWildcard === false) {
    throw new StagecraftError('COPY', `no source files were specified: "${spec}" matched nothing in ${opts.rootName ?? 'build context'}`);
  }
  const out: SourceMatch[] = [];
  for (const rel of found) {
    const host = await resolveInRoot(root, rel);
    const stat = lstatMaybeSync(host);
    // A dangling link matched by a wildcard has nothing to copy.
    if (!stat) throw await notFound(root, rel, opts);
    out.push({ spec, rel, host, stat, destRel: destRelOf(rel) });
  }
  return out;
}

/**
 * Without --parents, Go's filepath.Match (exact, from the dockerignore
 * module); with --parents, the same plus `**` across components.
 */
function sourceMatcher(pattern: string, doublestar: boolean, spec: string): CompiledPattern {
  const bad = (cause: unknown): StagecraftError =>
    new StagecraftError('COPY', `syntax error in pattern: ${spec}`, {
      cause,
      hint: 'escape [ ] * ? with a backslash or a class, e.g. arr[[]0].txt',
    });
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof BadPatternError) throw bad(e);
      throw e;
    }
  };
  guard(() => filepathMatch(pattern, ''));
  if (doublestar && pattern.includes('**')) return compilePattern(pattern, true);
  const comps = pattern.split('/');
  return {
    pattern,
    matches: (p) => guard(() => filepathMatch(pattern, p)),
    mayMatchBelow(dir: string): boolean {
      const depth = dir.split('/').length;
      return depth < comps.length && guard(() => filepathMatch(comps.slice(0, depth).join('/'), dir));
    },
  };
}

/** Resolve every source argument, in order. */
export async function resolveSources(root: string, specs: string[], opts: ResolveSourcesOptions = {}): Promise<SourceMatch[]> {
  const out: SourceMatch[] = [];
  for (const s of specs) out.push(...(await resolveSource(root, s, opts)));
  return out;
}

/**
 * --exclude uses .dockerignore pattern rules (patternmatcher: `**`, `!`
 * exceptions, parent directories). A match's own path is tested relative to
 * the source root, entries below it relative to the match.
 */
export function excludeFilter(patterns: string[]): (path: string, isDir: boolean) => boolean {
  if (patterns.length === 0) return () => false;
  const m = new DockerIgnore(patterns);
  return (path, isDir) => (isDir ? m.canSkipDir(path) : m.ignored(path));
}

/**
 * Whether a match survives --exclude. BuildKit applies excludes to what is
 * below a matched directory (relative to it), never to the directory itself
 * (`--exclude=* dir*` leaves an empty destination); a matched file is tested
 * by its path relative to the source root (`--exclude=*.txt hom*`).
 */
export function keepMatch(m: SourceMatch, isExcluded: (p: string, isDir: boolean) => boolean): boolean {
  return m.rel === '' || m.stat.isDirectory() || !isExcluded(m.rel, false);
}

/** The filter for entries below a match: --exclude (relative to the match) and .dockerignore (relative to the root). */
export function childSkip(
  m: SourceMatch,
  ignore: IgnoreFn | undefined,
  isExcluded: (p: string, isDir: boolean) => boolean,
): (sub: string, isDir: boolean) => boolean {
  return (sub, isDir) => {
    if (isExcluded(sub, isDir)) return true;
    return ignore !== undefined && ignore(m.rel === '' ? sub : `${m.rel}/${sub}`, isDir);
  };
}
