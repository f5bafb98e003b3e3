import type { Outline, OutlineArg } from './outline.js';

function argLine(a: OutlineArg): string {
  const value = a.value !== undefined ? `=${a.value}` : a.default !== undefined ? `=${a.default}` : '';
  const desc = a.description ? `  # ${a.description}` : '';
  return `${a.name}${value}${desc}`;
}

/** The outline for people: target, what it needs, its build args, every stage. */
export function renderOutline(o: Outline): string {
  const lines: string[] = [];
  lines.push(`TARGET: ${o.target}`);
  lines.push(`NEEDS:  ${o.targetNeeds.join(' -> ')}`);
  lines.push('');
  lines.push('BUILD ARGS');
  if (o.args.length === 0) lines.push('  (none)');
  for (const a of o.args) lines.push(`  ${argLine(a)}${a.scope === 'global' ? '  (global)' : ''}`);
  lines.push('');
  lines.push('STAGES');
  for (const s of o.stages) {
    const mark = s.index === o.targetIndex ? '>' : s.needed ? '*' : ' ';
    const name = s.name ?? `stage-${s.index}`;
    const deps =
      (s.dependsOn.length > 0 ? `  needs ${s.dependsOn.join(', ')}` : '') +
      (s.imageDeps.length > 0 ? `  reads images ${s.imageDeps.join(', ')}` : '');
    const skipped = s.needed ? '' : '  (not needed)';
    lines.push(`${mark} ${s.index} ${name}  FROM ${s.base}${deps}  line ${s.location.startLine}${skipped}`);
    if (s.description) lines.push(`      # ${s.description}`);
    for (const a of s.args) lines.push(`      ARG ${argLine(a)}`);
  }
  return lines.join('\n') + '\n';
}
