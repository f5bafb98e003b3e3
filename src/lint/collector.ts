/**
 * Collects warnings the way BuildKit's linter does: rules skipped by
 * `# check=skip=` (or by a `# check=skip=` comment right above one
 * instruction), experimental rules only when enabled, each warning once.
 */
import { parseCheckDirective, type CheckDirective } from '../dockerfile/parser/index.js';
import type { Node } from '../dockerfile/ast.js';
import type { LintRule } from './rules.js';
import type { LintLocation, LintWarning } from './types.js';

interface LocalSkip {
  startLine: number;
  endLine: number;
  skip: CheckDirective['skip'];
}

function skips(list: CheckDirective['skip'], name: string): boolean {
  return list === 'all' || list.includes(name);
}

/** `check=skip=A,B // why` comment lines directly above instructions. */
export function localSkips(ast: Node): LocalSkip[] {
  const out: LocalSkip[] = [];
  for (const node of ast.children) {
    for (const comment of node.prevComment) {
      const m = /^\s*check\s*=\s*(\S*)/i.exec(comment);
      if (!m) continue;
      try {
        const c = parseCheckDirective(m[1] ?? '');
        out.push({ startLine: node.startLine, endLine: node.endLine, skip: c.skip });
      } catch {
        // a malformed local comment is just a comment
      }
    }
  }
  return out;
}

export class Collector {
  private readonly seen = new Set<string>();
  readonly warnings: LintWarning[] = [];

  constructor(
    readonly config: CheckDirective,
    private readonly file: string | undefined,
    private readonly local: readonly LocalSkip[] = [],
  ) {}

  /** Experimental rules run only when enabled by `experimental=`, and then regardless of `skip=` (as in BuildKit). */
  enabled(rule: LintRule<never[]>): boolean {
    if (rule.experimental) {
      const ex = this.config.experimental;
      return ex === 'all' || ex.includes(rule.name);
    }
    return !skips(this.config.skip, rule.name);
  }

  run<A extends unknown[]>(rule: LintRule<A>, at: { startLine: number; endLine: number }, ...args: A): void {
    if (!this.enabled(rule as unknown as LintRule<never[]>)) return;
    if (this.local.some((l) => at.startLine >= l.startLine && at.startLine <= l.endLine && skips(l.skip, rule.name))) return;
    const detail = rule.detail(...args);
    const key = `${rule.name}\0${detail}\0${at.startLine}\0${at.endLine}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const location: LintLocation = { startLine: at.startLine, endLine: at.endLine };
    if (this.file !== undefined) location.file = this.file;
    this.warnings.push({
      rule: rule.name,
      description: rule.description,
      url: rule.url,
      detail,
      level: rule.level,
      location,
      fix: rule.fix(...args),
    });
  }
}
