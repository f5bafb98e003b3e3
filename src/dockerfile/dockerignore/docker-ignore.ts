/**
 * The build context filter: which paths a .dockerignore removes, which
 * directories a walker may skip without looking inside, and which ignore file
 * applies to a build.
 */
import { cleanPath } from './go-path.js';
import { readDockerignore } from './ignore-file.js';
import { PatternMatcher } from './pattern-matcher.js';

/** True if the pattern has an unescaped `*`, `?` or `[` (fsutil's containsWildcards). */
function containsWildcards(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/** Context-relative, slash-separated, cleaned; '' and '/' become '.'. */
function normalize(relPath: string): string {
  let p = cleanPath(relPath);
  while (p.startsWith('/')) p = cleanPath(p.slice(1));
  return p;
}

export class DockerIgnore {
  readonly matcher: PatternMatcher;
  /** Exclusion (`!`) patterns are all literal paths, so directory pruning is exact. */
  private readonly literalExclusions: boolean;

  /** Patterns as readDockerignore returns them. Throws StagecraftError 'DOCKERIGNORE' for a bad pattern. */
  constructor(patterns: readonly string[]) {
    this.matcher = new PatternMatcher(patterns);
    this.literalExclusions = this.matcher.patterns.every((p) => !p.exclusion || !containsWildcards(p.cleaned));
  }

  /** From .dockerignore text. */
  static parse(text: string): DockerIgnore {
    return new DockerIgnore(readDockerignore(text));
  }

  /** The effective patterns, cleaned, with `!` restored on exclusions. */
  get patterns(): string[] {
    return this.matcher.patterns.map((p) => (p.exclusion ? '!' + p.cleaned : p.cleaned));
  }

  /** Is this context-relative path left out of the build context? The context root never is. */
  ignored(relPath: string): boolean {
    const p = normalize(relPath);
    if (p === '.') return false;
    return this.matcher.matchesOrParentMatches(p);
  }

  /**
   * May a walker skip this directory without visiting anything below it?
   * True only when the directory is ignored and no `!` pattern could bring
   * back a path under it (BuildKit's fsutil rule: with a wildcard `!` pattern
   * nothing is pruned; with literal ones, only directories no `!` path lies in).
   * When this is false for an ignored directory, walk it and test each entry;
   * a re-included entry brings its parent directories with it.
   */
  canSkipDir(relDir: string): boolean {
    const p = normalize(relDir);
    if (!this.ignored(p)) return false;
    if (!this.matcher.exclusions) return true;
    if (!this.literalExclusions) return false;
    const dirSlash = p + '/';
    return !this.matcher.patterns.some((pat) => pat.exclusion && (pat.cleaned + '/').startsWith(dirSlash));
  }
}

/**
 * Which ignore file applies: `<Dockerfile>.dockerignore` next to the
 * Dockerfile (e.g. `build/app.Dockerfile.dockerignore`) wins over
 * `<context>/.dockerignore`. Candidates in order of precedence; a Dockerfile
 * read from stdin (`dockerfilePath` undefined or '-') has only the context one.
 */
export function dockerignoreCandidates(dockerfilePath: string | undefined, contextDir: string): string[] {
  const out: string[] = [];
  if (dockerfilePath !== undefined && dockerfilePath !== '' && dockerfilePath !== '-') out.push(cleanPath(dockerfilePath) + '.dockerignore');
  out.push(cleanPath(contextDir + '/.dockerignore'));
  return out;
}

/** Picks the ignore file from the paths that exist (as strings, compared after cleaning), or undefined. */
export function selectDockerignoreFile(
  dockerfilePath: string | undefined,
  contextDir: string,
  existing: Iterable<string>,
): string | undefined {
  const present = new Set<string>();
  for (const e of existing) present.add(cleanPath(e));
  return dockerignoreCandidates(dockerfilePath, contextDir).find((c) => present.has(c));
}
