import type { LintWarning } from './types.js';

/** `Dockerfile:12: RuleName: detail (fix: ...)` — one line per warning. */
export function formatWarning(w: LintWarning, file = w.location.file ?? 'Dockerfile'): string {
  return `${file}:${w.location.startLine}: ${w.rule}: ${w.detail} (fix: ${w.fix})`;
}
