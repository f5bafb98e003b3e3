/**
 * Typed Dockerfile instructions (BuildKit's `instructions` package semantics):
 * AST nodes in, a discriminated union out. Pure: no I/O.
 */
export type * from './types.js';
export { parseInstruction, INSTRUCTION_NAMES } from './parse-instruction.js';
export { parseStages, findStage, buildkitErrorText, type ParsedStages } from './stages.js';
export { BFlags, type Flag, type FlagType } from './bflags.js';
export {
  parseMount, checkMountSyntax, MOUNT_TYPES,
  type Mount, type MountType, type CacheSharing, type BindMount, type CacheMount, type TmpfsMount, type SecretMount,
  type SshMount,
} from './mount.js';
export { parseDevice, type Device } from './device.js';
export { parseExposePorts } from './expose.js';
export { parseGoDuration, formatGoDuration } from './duration.js';
export { parseHeredocWord, chompHeredocContent, type HeredocWord } from './heredoc-word.js';
export { classifySource, copySourceError, type SourceKind } from './parse-files.js';
export { handleJSONArgs } from './request.js';
export { splitCsvRecord, parseGoBool, parseGoUint, ramInBytes } from './go-values.js';
export { closest, withSuggestion } from './suggest.js';
