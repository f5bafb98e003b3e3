/**
 * One error type for the whole project. Every failure a user can see carries a
 * `code` (a literal union, so callers can switch on it), the Dockerfile
 * location where there is one, and the underlying `cause`.
 */
export type ErrorCode =
  | 'PARSE'            // Dockerfile syntax
  | 'INSTRUCTION'      // an instruction's arguments or flags are wrong
  | 'EXPANSION'        // ${VAR:?msg} and other word-expansion failures
  | 'STAGE'            // stage graph: unknown target, cycles, bad --from
  | 'DOCKERIGNORE'     // a bad .dockerignore pattern
  | 'LINT'             // a check promoted to an error by `# check=error=true`
  | 'REFERENCE'        // an invalid image reference
  | 'REGISTRY'         // a registry answered with an error
  | 'NOT_FOUND'        // a file, image or tag that does not exist
  | 'DIGEST'           // content did not match its digest
  | 'RUNTIME'          // no OCI runtime, or the runtime failed to start
  | 'MOUNT'            // an overlay mount/unmount failed, or overlay is unavailable
  | 'RUN_FAILED'       // a RUN step exited non-zero
  | 'COPY'             // a COPY/ADD source problem
  | 'STORE'            // local store corruption or locking
  | 'ARCHIVE'          // a docker/oci archive could not be read or written
  | 'UNSUPPORTED'      // input refused on purpose, with a hint (schema-1 manifests, COPY of a device file, too many layers)
  | 'USAGE'            // bad command-line usage
  | 'INTERNAL';

/** A range of lines in a Dockerfile, 1-based and inclusive. */
export interface SourceRange {
  file?: string;
  startLine: number;
  endLine: number;
  /** 1-based column, where known. */
  column?: number;
}

export interface StagecraftErrorOptions {
  location?: SourceRange | undefined;
  cause?: unknown;
  /** A one-line suggestion the CLI prints after the message. */
  hint?: string | undefined;
  /** Further lines the CLI prints below the one-line message (e.g. the tail of a failed RUN's output). */
  details?: string[] | undefined;
}

export class StagecraftError extends Error {
  readonly code: ErrorCode;
  readonly location: SourceRange | undefined;
  readonly hint: string | undefined;
  readonly details: string[];

  constructor(code: ErrorCode, message: string, options: StagecraftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StagecraftError';
    this.code = code;
    this.location = options.location;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }

  /** `Dockerfile:12` or `Dockerfile:12-14`, or '' when there is no location. */
  where(): string {
    const l = this.location;
    if (!l) return '';
    const file = l.file ?? 'Dockerfile';
    const lines = l.startLine === l.endLine ? `${l.startLine}` : `${l.startLine}-${l.endLine}`;
    return `${file}:${lines}`;
  }

  /** One line a person can act on: where, what, and what to try. */
  oneLine(): string {
    const where = this.where();
    const head = where ? `${where}: ${this.message}` : this.message;
    return this.hint ? `${head} (${this.hint})` : head;
  }
}

export function isStagecraftError(e: unknown): e is StagecraftError {
  return e instanceof StagecraftError;
}
