/**
 * stagecraft's own multi-stage checks: same warning shape as BuildKit's
 * rules, names prefixed `Stagecraft`. docs/lint.md describes each, with its
 * limits.
 */
import type { LintRule } from './rules.js';

function rule<A extends unknown[]>(r: Omit<LintRule<A>, 'experimental' | 'stagecraft' | 'url'> & { url?: string }): LintRule<A> {
  return { experimental: false, stagecraft: true, url: '', ...r };
}

export const StagecraftCopyFromMissingPath = rule({
  name: 'StagecraftCopyFromMissingPath',
  description: 'COPY --from names a path the source stage never creates',
  level: 'warning',
  detail: (path: string, stage: string, why: string) => `COPY --from=${stage} source '${path}' is never created in stage '${stage}' (${why})`,
  fix: (path: string, stage: string) => `check the path, or make stage '${stage}' create ${path} (COPY/RUN) before copying it`,
});

export const StagecraftUnusedStage = rule({
  name: 'StagecraftUnusedStage',
  description: 'Stage is not needed by the target and is never built',
  level: 'info',
  detail: (stage: string, target: string) => `Stage '${stage}' is not used by target '${target}' and will not be built`,
  fix: (stage: string) => `remove stage '${stage}', build it with --target ${stage}, or COPY --from it`,
});

export const StagecraftLibcMismatch = rule({
  name: 'StagecraftLibcMismatch',
  description: 'Copying between stages whose base images use different C libraries (musl vs glibc)',
  level: 'warning',
  detail: (from: string, fromLibc: string, fromBase: string, to: string, toLibc: string, toBase: string) =>
    `Copying from stage '${from}' (${fromLibc}, ${fromBase}) into stage '${to}' (${toLibc}, ${toBase}): compiled files will not run across C libraries`,
  fix: (_from: string, fromLibc: string) =>
    `base both stages on the same C library (${fromLibc === 'musl' ? 'both -alpine' : 'both Debian/Ubuntu-based'}), or copy only static binaries and plain data`,
});

export const StagecraftPythonVersionMismatch = rule({
  name: 'StagecraftPythonVersionMismatch',
  description: 'Copying Python packages into a stage with a different Python version',
  level: 'warning',
  detail: (path: string, built: string, to: string, runs: string) =>
    `'${path}' holds packages for Python ${built}, but stage '${to}' runs Python ${runs}: they will not be found or will not load`,
  fix: (_path: string, built: string) => `use python:${built} for both stages (or rebuild the packages for the target's Python)`,
});
