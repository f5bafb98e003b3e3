import type { LintWarning } from './types.js';

/** `Dockerfile:12: RuleName: detail (fix: ...)` — one line per warning, for the lint command. */
export function formatWarning(w: LintWarning, file = w.location.file ?? 'Dockerfile'): string {
  return `${file}:${w.location.startLine}: ${w.rule}: ${w.detail} (fix: ${w.fix})`;
}

/** BuildKit's short form, as `docker build` prints check warnings: `RuleName: detail (line 12)`. */
export function formatShort(w: LintWarning): string {
  return w.location.startLine > 0 ? `${w.rule}: ${w.detail} (line ${w.location.startLine})` : `${w.rule}: ${w.detail}`;
}
