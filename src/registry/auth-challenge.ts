/**
 * `WWW-Authenticate` challenges (RFC 7235) as registries send them:
 *   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull"
 *   Basic realm="Registry Realm"
 * Pure.
 */

export interface AuthChallenge {
  /** Lower-cased scheme: 'bearer', 'basic', ... */
  scheme: string;
  params: Record<string, string>;
}

/** Parses one header value into its challenges (several may share a header). */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ',') { i++; continue; }
    const token = readToken();
    if (token === '') { i++; continue; }
    skipSpace();
    if (header[i] === '=' && current) {
      i++;
      skipSpace();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < n && header[i] !== ',') i++;
        value = header.slice(start, i).trim();
      }
      current.params[token.toLowerCase()] = value;
    } else {
      // A token not followed by '=' starts a new challenge.
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
      // token68 form (e.g. `Negotiate abc==`) is not used by registries; skip it.
    }
  }
  return out;
}

/** The pull scope for a repository, as token servers expect it. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}
