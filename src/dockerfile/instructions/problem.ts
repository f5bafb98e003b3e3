import { StagecraftError, type ErrorCode } from '../../errors.js';
import type { InstructionLocation } from './types.js';

/**
 * An instruction's arguments or flags are wrong. Helpers throw this without a
 * location; `parseInstruction` attaches the instruction's lines.
 */
export function problem(
  message: string,
  location?: InstructionLocation,
  cause?: unknown,
  code: ErrorCode = 'INSTRUCTION',
): StagecraftError {
  return new StagecraftError(code, message, {
    location: location ? { startLine: location.startLine, endLine: location.endLine } : undefined,
    cause,
  });
}

/** The same error with `location` set (kept when it already has one). */
export function withLocation(e: unknown, location: InstructionLocation): StagecraftError {
  if (e instanceof StagecraftError) {
    if (e.location) return e;
    return new StagecraftError(e.code, e.message, {
      location: { startLine: location.startLine, endLine: location.endLine },
      cause: e.cause,
      hint: e.hint,
    });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new StagecraftError('INTERNAL', message, { location, cause: e });
}
