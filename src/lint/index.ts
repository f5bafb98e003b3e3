/**
 * Dockerfile checks: BuildKit's lint rules and stagecraft's multi-stage
 * checks. Pure: `lint(input)` takes text and returns warnings as data.
 */
export { lint, checkConfig, parsePlatform, CHECK_BUILD_ARG } from './lint.js';
export type {
  LintInput, LintResult, LintWarning, LintLocation, BaseImageInfo, BaseImageResolver, StageFilesystemProbe,
} from './types.js';
export { BUILDKIT_RULES, type LintRule, type LintLevel } from './rules.js';
export {
  StagecraftCopyFromMissingPath, StagecraftUnusedStage, StagecraftLibcMismatch, StagecraftPythonVersionMismatch,
} from './stagecraft-rules.js';
export { identify, libcFromReference, pythonFromReference, type BaseIdentity, type Libc } from './base-identity.js';
export { formatWarning, formatShort } from './format.js';
