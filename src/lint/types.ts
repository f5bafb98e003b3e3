/**
 * What lint takes and returns. Pure data: the Dockerfile text, the
 * .dockerignore text and build args in; warnings (and the error a build would
 * fail with) out.
 */
import type { StagecraftError } from '../errors.js';
import type { LintLevel } from './rules.js';
import type { ParseResult } from '../dockerfile/ast.js';

export interface LintLocation {
  file?: string;
  startLine: number;
  endLine: number;
}

export interface LintWarning {
  rule: string;
  description: string;
  /** BuildKit's rule page; '' for rules without one. */
  url: string;
  detail: string;
  level: LintLevel;
  location: LintLocation;
  /** One line telling the user what to change. */
  fix: string;
}

/** What is known about a base image (from the store, or a pulled config). All optional. */
export interface BaseImageInfo {
  /** The image config's Env (`K=V`). Without it lint assumes `PATH` only. */
  env?: string[];
  /** `os/arch[/variant]` the image was resolved to (for InvalidBaseImagePlatform). */
  platform?: string;
  /** The image config's WorkingDir (where relative COPY destinations land). */
  workingDir?: string;
  /** The image config's Shell (any Shell silences JSONArgsRecommended, as in BuildKit). */
  shell?: string[];
  /** From /etc/os-release: `ID` (alpine, debian, ubuntu, ...), for the C library check. */
  osReleaseId?: string;
  /** The Python version the image carries (`3.11`), e.g. from its `PYTHON_VERSION` env. */
  pythonVersion?: string;
}

/** Looks up a base image by reference (as expanded in FROM) for the platform being built. */
export type BaseImageResolver = (ref: string, platform: string) => BaseImageInfo | undefined;

/**
 * A probe of a built stage's filesystem, for StagecraftCopyFromMissingPath:
 * true / false when the path is known to exist / not exist, undefined when
 * the stage was not built (then the static analysis decides).
 */
export type StageFilesystemProbe = (stageIndex: number, absolutePath: string) => boolean | undefined;

export interface LintInput {
  dockerfile: string;
  /**
   * `parse(dockerfile, { file })`, when the caller has it already (a build does): lint then does
   * not parse the text again. It must be the parse of this text with this file name.
   */
  parsed?: ParseResult | undefined;
  /** Shown in locations (`Dockerfile`). */
  file?: string;
  /** The .dockerignore text that applies to this Dockerfile, if any. */
  dockerignore?: string | undefined;
  /** --build-arg values; `BUILDKIT_DOCKERFILE_CHECK` here overrides `# check=`. */
  buildArgs?: Record<string, string>;
  /** Target stage (default: the last). */
  target?: string;
  /** Platform being built (TARGETPLATFORM), `os/arch[/variant]`; default linux/amd64. */
  platform?: string;
  /** Known base images (env, platform, os-release). */
  resolveImage?: BaseImageResolver;
  /** Built-stage filesystem probe (see StageFilesystemProbe). */
  probeStage?: StageFilesystemProbe;
  /** Run stagecraft's own multi-stage checks (default true). */
  stagecraftChecks?: boolean;
}

export interface LintResult {
  /** De-duplicated, sorted by line then rule then detail. */
  warnings: LintWarning[];
  /** True when the build would fail: `error=true` checks fired, or the Dockerfile does not parse/plan. */
  failed: boolean;
  /** Why: `lint violation found for rules: A, B` (code LINT), or the parse/plan error. */
  error?: StagecraftError;
}
