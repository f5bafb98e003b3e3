/**
 * Reads .dockerignore text into patterns (moby/patternmatcher/ignorefile):
 * a leading BOM is dropped, lines starting with `#` are comments, lines are
 * trimmed, blank lines skipped; paths are cleaned and a leading `/` removed
 * (the context is the root), keeping a leading `!`.
 */
import { cleanPath, trimGoSpace } from './go-path.js';

export function readDockerignore(text: string | null | undefined): string[] {
  if (text === null || text === undefined) return [];
  const out: string[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // bufio.ScanLines: no empty token after a final newline
  lines.forEach((rawLine, index) => {
    let line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (index === 0 && line.startsWith('\uFEFF')) line = line.slice(1);
    if (line.startsWith('#')) return;
    let pattern = trimGoSpace(line);
    if (pattern === '') return;
    const invert = pattern.startsWith('!');
    if (invert) pattern = trimGoSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? '!' + pattern : pattern);
  });
  return out;
}
