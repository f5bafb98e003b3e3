/**
 * Go's slash-path helpers (`path.Clean`, `filepath.Dir`, `strings.TrimSpace`)
 * on Linux, where `filepath` is `path` with `/`. .dockerignore semantics are
 * defined in terms of them, so their corner cases carry over exactly.
 */

/** Go `path.Clean`: shortest equivalent path; '' becomes '.'. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const body = out.join('/');
  if (rooted) return '/' + body;
  return body === '' ? '.' : body;
}

/** Go `filepath.Dir`: everything but the last element, cleaned. */
export function dirPath(p: string): string {
  const i = p.lastIndexOf('/');
  return cleanPath(p.slice(0, i + 1));
}

const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** Go `strings.TrimSpace` (Unicode White_Space; not U+FEFF). */
export function trimGoSpace(s: string): string {
  return s.replace(GO_SPACE, '');
}
