/**
 * The mutable state of one stage while its instructions are dispatched: the
 * image config being built, the build state (env, dir, user) that RUN and
 * word expansion see, the ARGs in scope, and the history so far.
 */
import { ShellLex } from '../dockerfile/shell/index.js';
import { cleanPath } from '../dockerfile/dockerignore/go-path.js';
import type { ContainerConfig, HistoryEntry, PlannedStep } from './types.js';
import { EnvList } from './env-list.js';
import { relocate } from './args.js';
import type { SourceRange } from '../errors.js';

export { cleanPath };

export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';
/** Linux default PATH (BuildKit `system.DefaultPathEnv`). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Build args that never reach the environment. */
export const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

export interface ArgInScope {
  key: string;
  /** Undefined for `ARG name` with no default, no build-arg and no global value. */
  value?: string;
}

/** The part of a dispatched stage that a `FROM <stage>` child inherits besides the config. */
export interface StageState {
  /** The build state's env: image Env, ARGs and ENVs, in BuildKit's order (`K=V`). */
  env: string[];
  /** ARGs declared in this stage and its in-file ancestors (child's own come later). */
  buildArgs: ArgInScope[];
  /** Current working directory (absolute). */
  dir: string;
  /** Current USER ('' = the image default, root). */
  user: string;
}

export class StageBuilder {
  config: ContainerConfig;
  env: EnvList;
  buildArgs: ArgInScope[];
  dir: string;
  user: string;
  history: HistoryEntry[];
  author: string | undefined;
  steps: PlannedStep[] = [];
  /** Progress vertex counter (`[name i/N]`). */
  index = 0;
  total = 0;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet = false;
  readonly lex: ShellLex;
  /** BuildKit's RUN progress-name lexer: quotes kept, unset variables left as written. */
  readonly runNameLex: ShellLex;
  /** Heredoc bodies of COPY/ADD: quotes are ordinary characters. */
  readonly rawLex: ShellLex;

  constructor(init: {
    config: ContainerConfig;
    env: EnvList;
    buildArgs: ArgInScope[];
    dir: string;
    user: string;
    history: HistoryEntry[];
    author?: string | undefined;
    escapeToken: '\\' | '`';
  }) {
    this.config = init.config;
    this.env = init.env;
    this.buildArgs = init.buildArgs;
    this.dir = init.dir;
    this.user = init.user;
    this.history = init.history;
    this.author = init.author;
    this.lex = new ShellLex({ escapeToken: init.escapeToken });
    this.runNameLex = new ShellLex({ escapeToken: init.escapeToken, rawQuotes: true, skipUnsetEnv: true });
    this.rawLex = new ShellLex({ escapeToken: '\\', skipProcessQuotes: true });
  }

  /** Expands one word against the stage's current env; errors carry `location`. */
  expand(word: string, location: SourceRange): string {
    try {
      return this.lex.processWord(word, this.env.pairs());
    } catch (e) {
      throw relocate(e, location);
    }
  }

  expandWords(word: string, location: SourceRange): string[] {
    try {
      return this.lex.processWords(word, this.env.pairs());
    } catch (e) {
      throw relocate(e, location);
    }
  }

  expandRaw(word: string, location: SourceRange): string {
    try {
      return this.rawLex.processWord(word, this.env.pairs());
    } catch (e) {
      throw relocate(e, location);
    }
  }

  /** BuildKit's progress name: the instruction as written, expanded, keyword uppercased (errors leave it as written). */
  progressName(original: string, lex: ShellLex = this.lex, env: EnvList = this.env): string {
    let text: string;
    try {
      text = lex.processWord(original, env.pairs());
    } catch {
      text = original;
    }
    const sp = text.indexOf(' ');
    return sp < 0 ? text.toUpperCase() : text.slice(0, sp).toUpperCase() + text.slice(sp);
  }

  commit(createdBy: string, withLayer: boolean, fromState: boolean): HistoryEntry {
    const entry: HistoryEntry = {
      created_by: fromState ? `${createdBy} # buildkit` : createdBy,
      comment: HISTORY_COMMENT,
      ...(withLayer ? {} : { empty_layer: true }),
    };
    this.history.push(entry);
    return entry;
  }

  snapshot(): ContainerConfig {
    return structuredClone(this.config);
  }

  state(): StageState {
    return { env: this.env.toStrings(), buildArgs: this.buildArgs.map((a) => ({ ...a })), dir: this.dir, user: this.user };
  }
}

/** BuildKit `system.NormalizeWorkdir` on Linux: relative paths join the current dir; the result is clean and absolute. */
export function normalizeWorkdir(current: string, requested: string): string {
  const joined = requested.startsWith('/') ? requested : `${current === '' ? '/' : current}/${requested}`;
  return cleanPath(joined);
}

/**
 * BuildKit `pathRelativeToWorkingDir` (Linux): absolute paths are cleaned,
 * relative ones (and '' / '.') resolve against `dir`; a trailing `/` or `/.`
 * is kept as a trailing slash (it makes the destination a directory).
 */
export function resolveDest(dir: string, dest: string): string {
  let p = dest === '' || dest === '.' ? './' : dest;
  const keepSlash = p.endsWith('/') || p.endsWith('/.');
  p = p.startsWith('/') ? cleanPath(p) : cleanPath(`${dir === '' ? '/' : dir}/${p}`);
  if (keepSlash && !p.endsWith('/')) p += '/';
  return p;
}
