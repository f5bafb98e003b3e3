/**
 * Progress of a build as typed events. The CLI renders them (a live view on a
 * TTY, plain lines in CI, JSON lines with --progress=json); library users
 * subscribe with `onEvent`.
 */
import type { SourceRange } from '../errors.js';

export type BuildEvent =
  | { type: 'build-start'; dockerfile: string; context: string; target: string; stages: string[] }
  | { type: 'warning'; rule: string; message: string; location?: SourceRange | undefined; url?: string | undefined; fix?: string | undefined }
  | { type: 'resolve-start'; ref: string }
  | { type: 'resolve-done'; ref: string; digest: string; layers: number; pulledBytes: number; durationMs: number }
  | { type: 'step-start'; id: string; stage: string; name: string }
  | { type: 'step-log'; id: string; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'step-done'; id: string; cached: boolean; durationMs: number; layerSize: number }
  | { type: 'step-error'; id: string; message: string }
  | { type: 'stage-done'; stage: string; size: number; durationMs: number }
  | { type: 'image'; ref: string | undefined; manifestDigest: string; configDigest: string; size: number }
  | { type: 'summary'; lines: string[] }
  | { type: 'build-done'; durationMs: number };

export type EventSink = (event: BuildEvent) => void;

/** Step ids as BuildKit names vertices: `[builder 2/5]`. */
export function stepId(stage: string, ordinal: number, total: number): string {
  return `[${stage} ${ordinal}/${total}]`;
}
