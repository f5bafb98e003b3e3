/**
 * The contract between planning (pure: Dockerfile stages -> graph -> steps)
 * and the build (effects: pull, run, copy, commit). The planner produces data
 * only; the build executes it.
 */
import type { SourceRange } from '../errors.js';
import type { ContainerConfig, HistoryEntry as ImageHistoryEntry, Platform } from '../oci/types.js';

// Image-config shapes have one definition, in src/oci/types.ts.
export type { ContainerConfig, Platform };

/** A step's history entry: the image config's, with `created_by` always set by the planner (`created` by the build). */
export type HistoryEntry = ImageHistoryEntry & { created_by: string };

export interface BuildRequest {
  /** Target stage name (case-insensitive) or undefined for the last stage. */
  target?: string;
  /** --build-arg values. A key present with value undefined means "take it from the environment" (docker semantics for `--build-arg K`). */
  buildArgs: Record<string, string>;
  /** The platform being built for (TARGETPLATFORM). */
  platform: Platform;
  /** The platform doing the build (BUILDPLATFORM). */
  buildPlatform: Platform;
  /** Dockerfile path shown in locations. */
  file?: string;
}

/** Where a stage starts from. */
export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'image'; ref: string; platform?: string }
  | { kind: 'stage'; index: number };

/** A source stage/image for COPY --from and RUN --mount=from. */
export type StepSource =
  | { kind: 'context' }
  | { kind: 'stage'; index: number }
  | { kind: 'image'; ref: string };

/** A RUN --mount after ARG/ENV expansion. */
export type RunMount =
  | { type: 'bind'; target: string; source: string; from: StepSource; readonly: boolean }
  | { type: 'cache'; target: string; id: string; sharing: 'shared' | 'private' | 'locked'; from?: StepSource; source?: string; readonly: boolean; uid?: number; gid?: number; mode?: number }
  | { type: 'tmpfs'; target: string; size?: number }
  | { type: 'secret'; id: string; target?: string; env?: string; required: boolean; uid?: number; gid?: number; mode?: number }
  | { type: 'ssh'; id: string; target?: string; required: boolean; uid?: number; gid?: number; mode?: number };

/** An executable unit: one step changes the filesystem and/or the config. */
export type Step =
  | {
      kind: 'run';
      /** Final argv: shell form already wrapped in the stage's SHELL (default /bin/sh -c). */
      args: string[];
      /** Environment for the process: image Env + ARGs in scope, as BuildKit passes them. */
      env: string[];
      /** Absolute working directory. */
      cwd: string;
      /** USER as written after expansion (resolved against /etc/passwd by the build). */
      user: string;
      network: 'default' | 'none' | 'host';
      security: 'sandbox' | 'insecure';
      mounts: RunMount[];
      /** Heredoc files to create before running (RUN <<EOF with a non-shell interpreter etc.). */
      files: Array<{ path: string; content: string; mode: number }>;
    }
  | {
      kind: 'copy';
      isAdd: boolean;
      from: StepSource;
      /** Sources after expansion: relative to the context root or the source stage's root. */
      sources: string[];
      /** Inline sources (COPY <<EOF): name -> content. */
      inline: Array<{ name: string; content: string }>;
      /** Absolute destination in the stage (WORKDIR applied); keeps a trailing slash if written. */
      dest: string;
      chown?: string;
      chmod?: string;
      link: boolean;
      parents: boolean;
      excludes: string[];
      checksum?: string;
      keepGitDir?: boolean;
      /** ADD --unpack when given; undefined = BuildKit's default (local archives unpacked, URLs not). */
      unpack?: boolean;
      /** The stage's workdir at this point (for --parents and relative handling). */
      workdir: string;
      /** The stage's USER at this point (COPY doesn't use it, but ADD of URLs may). */
      user: string;
    }
  /** WORKDIR creates the directory (if missing) owned per BuildKit's rules. */
  | { kind: 'mkdir'; path: string; user: string }
  /** Config-only instruction (ENV, LABEL, CMD, ...): no filesystem change. */
  | { kind: 'config' };

export interface PlannedStep {
  /**
   * 1-based index within its stage, for progress names like `[builder 2/5]`.
   * Ordinal 1 belongs to the FROM vertex when the stage starts from an image.
   * Steps that are not vertices (`vertex: false`) carry the index of the last vertex.
   */
  ordinal: number;
  /** The N of `[builder i/N]`: FROM <image> + RUN/COPY/ADD/WORKDIR (+ ONBUILD triggers run here). */
  total: number;
  /** True when BuildKit shows this step as a progress vertex (RUN, COPY, ADD, WORKDIR other than `/`). */
  vertex: boolean;
  step: Step;
  /** The image config after this step. */
  config: ContainerConfig;
  /** The history entry this step contributes to the image. */
  history: HistoryEntry;
  /** Progress name: `RUN pip install ...` as BuildKit prints it (original flags). */
  name: string;
  location: SourceRange;
  /**
   * Canonical, deterministic description of the step for its cache key (the
   * instruction as expanded, env/args that affect it; never secret values).
   */
  cacheMaterial: string;
}

export interface PlannedStage {
  index: number;
  /** Lowercase stage name, if named. */
  name?: string;
  /** `builder`, or `stage-1` for unnamed stages. */
  displayName: string;
  /**
   * The stage part of progress names (`[builder 2/5]`): the display name, or ''
   * when the build has a single stage and no implicit image (BuildKit prints `[2/5]`).
   */
  progressName: string;
  /** `FROM --platform=` after expansion, when given. */
  platform?: string;
  base: StageBase;
  location: SourceRange;
  /** Stages this one needs (base stage, COPY --from, RUN --mount=from). */
  dependsOn: number[];
  /** Images this one needs besides its base (COPY --from=<image>). */
  imageDeps: string[];
}

export interface BuildGraph {
  stages: PlannedStage[];
  /** Index of the target stage. */
  target: number;
  /** Stages needed for the target, dependencies first. Others are never resolved or run. */
  needed: number[];
}
