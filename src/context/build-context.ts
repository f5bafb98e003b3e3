/**
 * The build context: a directory, filtered by .dockerignore, that COPY reads
 * from. `<Dockerfile>.dockerignore` beside the Dockerfile wins over the
 * context's `.dockerignore` (BuildKit's rule, from the dockerignore module).
 *
 *     const ctx = await BuildContext.open(dir, { dockerfilePath, statCachePath });
 *     const { digest } = await ctx.hashSources(step.sources, { excludes: step.excludes });
 *     await copy({ srcRoot: ctx.dir, ignore: ctx.ignore, ... });
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DockerIgnore, dockerignoreCandidates } from '../dockerfile/dockerignore/index.js';
import type { IgnoreFn } from '../fs/copy-sources.js';
import { StatCache } from './stat-cache.js';
import { hashTree, selectEntries, type HashResult } from './tree-hash.js';

export interface BuildContextOptions {
  /** Host path of the Dockerfile, for `<Dockerfile>.dockerignore`; undefined or '-' for stdin. */
  dockerfilePath?: string | undefined;
  /** Where to keep the stat cache (a JSON file in the store); omit for an in-memory cache. */
  statCachePath?: string | undefined;
}

export interface SelectOptions {
  parents?: boolean;
  excludes?: string[];
}

export class BuildContext {
  #saves: Array<Promise<void>> = [];
  /** The .dockerignore in force, if any. */
  readonly dockerignore: DockerIgnore | undefined;
  /** Host path of the ignore file that applied, if any. */
  readonly ignoreFile: string | undefined;
  /** Pass to copy(): true for context paths .dockerignore leaves out. */
  readonly ignore: IgnoreFn;

  private constructor(
    readonly dir: string,
    ignoreFile: string | undefined,
    dockerignore: DockerIgnore | undefined,
    private readonly statCache: StatCache,
  ) {
    this.ignoreFile = ignoreFile;
    this.dockerignore = dockerignore;
    const di = dockerignore;
    this.ignore = di === undefined ? () => false : (rel, isDir) => (isDir ? di.canSkipDir(rel) : di.ignored(rel));
  }

  static async open(dir: string, opts: BuildContextOptions = {}): Promise<BuildContext> {
    const abs = resolve(dir);
    let ignoreFile: string | undefined;
    let dockerignore: DockerIgnore | undefined;
    const dockerfile = opts.dockerfilePath === undefined || opts.dockerfilePath === '-' ? undefined : resolve(opts.dockerfilePath);
    for (const candidate of dockerignoreCandidates(dockerfile, abs)) {
      let text: string;
      try {
        text = await readFile(candidate, 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw e;
      }
      ignoreFile = candidate;
      dockerignore = DockerIgnore.parse(text);
      break;
    }
    const cache = opts.statCachePath ? await StatCache.load(opts.statCachePath) : StatCache.memory();
    return new BuildContext(abs, ignoreFile, dockerignore, cache);
  }

  /** Context-relative paths of every entry these COPY sources select (ignored directories pruned). */
  async listFiles(sources: string[], opts: SelectOptions = {}): Promise<string[]> {
    const entries = await selectEntries(this.dir, sources, { ...opts, ignore: this.ignore });
    return entries.map((e) => e.rel).filter((rel) => rel !== '');
  }

  /**
   * Content digest of what these sources select, for the COPY step's cache
   * key. Unchanged files are not read (stat cache). The cache is saved in the
   * background (a one-file rebuild's step waited 2-3 ms for it on the build
   * VM); `flush()` waits for the saves.
   */
  async hashSources(sources: string[], opts: SelectOptions = {}): Promise<HashResult> {
    const result = await hashTree(this.dir, sources, { ...opts, ignore: this.ignore, statCache: this.statCache, includeOwners: false });
    const save = this.statCache.save();
    save.catch(() => undefined); // reported by flush()
    this.#saves.push(save);
    return result;
  }

  /** Waits for the stat cache saves that hashSources started; rejects when one failed. */
  async flush(): Promise<void> {
    await Promise.all(this.#saves.splice(0));
  }
}
