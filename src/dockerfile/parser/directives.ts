/**
 * Parser directives (`# escape=`, `# syntax=`, `# check=`): only in the block
 * of `#key=value` lines at the very top of the file. The first line that is
 * not a directive, and the first unknown key, end the block; a repeated key
 * is an error. Keys are case-insensitive.
 */
import { StagecraftError } from '../../errors.js';
import { goQuote, isReSpace, trimSpace } from './go-compat.js';
import { goJsonUnmarshal } from './go-json.js';

export const directiveKeys = ['syntax', 'escape', 'check'] as const;
export type DirectiveKey = (typeof directiveKeys)[number];

export interface Directive {
  name: DirectiveKey;
  value: string;
  /** 1-based line of the directive. */
  line: number;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
function isAlnum(c: number): boolean {
  return isLetter(c) || (c >= 0x30 && c <= 0x39);
}

/**
 * Matches `^<prefix>\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` with Go's
 * regexp semantics, in linear time. Returns [key, value] or undefined.
 */
export function matchDirectiveLine(line: string, prefix: '#' | '//'): [string, string] | undefined {
  if (!line.startsWith(prefix)) return undefined;
  let i = prefix.length;
  const n = line.length;
  while (i < n && isReSpace(line.charCodeAt(i))) i++;
  if (i >= n || !isLetter(line.charCodeAt(i))) return undefined;
  const k0 = i;
  while (i < n && isAlnum(line.charCodeAt(i))) i++;
  const key = line.slice(k0, i);
  while (i < n && isReSpace(line.charCodeAt(i))) i++;
  if (line[i] !== '=') return undefined;
  i++;
  const rest = line.slice(i);
  if (rest.length === 0 || rest.includes('\n')) return undefined;
  let lead = 0;
  while (lead < rest.length && isReSpace(rest.charCodeAt(lead))) lead++;
  if (lead === rest.length) {
    // Only whitespace: `.+?` still takes one character (the last one).
    return [key, rest.slice(rest.length - 1)];
  }
  let end = rest.length;
  while (end > lead && isReSpace(rest.charCodeAt(end - 1))) end--;
  return [key, rest.slice(lead, end)];
}

/** Reads directive lines one at a time, like BuildKit's DirectiveParser. */
export class DirectiveParser {
  private line: number;
  private done = false;
  private readonly seen = new Set<string>();

  constructor(private readonly prefix: '#' | '//' = '#', startLine = 0) {
    this.line = startLine;
  }

  get finished(): boolean {
    return this.done;
  }

  /** Throws StagecraftError('PARSE') for a repeated directive. */
  parseLine(text: string): Directive | undefined {
    this.line++;
    if (this.done) return undefined;
    const m = matchDirectiveLine(text, this.prefix);
    if (!m) {
      this.done = true;
      return undefined;
    }
    const name = m[0].toLowerCase();
    if (!(directiveKeys as readonly string[]).includes(name)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(name)) {
      throw new StagecraftError('PARSE', `only one ${name} parser directive can be used`, {
        location: { startLine: this.line, endLine: this.line },
      });
    }
    this.seen.add(name);
    return { name: name as DirectiveKey, value: m[1], line: this.line };
  }

  /** All directives at the top of `text` (stops silently at an error). */
  parseAll(text: string): Directive[] {
    const out: Directive[] = [];
    for (const raw of splitScanLines(text)) {
      if (this.done) break;
      try {
        const d = this.parseLine(raw);
        if (d) out.push(d);
      } catch {
        break;
      }
    }
    return out;
  }
}

/** bufio.ScanLines: split on \n, drop one trailing \r per line, no empty last line. */
function splitScanLines(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts.map((p) => (p.endsWith('\r') ? p.slice(0, -1) : p));
}

function discardBOM(text: string): string {
  return text.startsWith('\ufeff') ? text.slice(1) : text;
}

export interface FoundDirective {
  /** The value up to its first space (for syntax: the frontend image). */
  value: string;
  /** The whole value as written. */
  cmdline: string;
  /** 1-based line; 0 when found in JSON form without a shebang. */
  line: number;
}

function findDirective(key: DirectiveKey, text: string, anyFormat: boolean): FoundDirective | undefined {
  let dt = discardBOM(text);
  let line = 0;
  const nl = dt.indexOf('\n');
  const first = nl < 0 ? dt : dt.slice(0, nl);
  if (first.startsWith('#!')) {
    dt = nl < 0 ? '' : dt.slice(nl + 1);
    line = 1;
  }
  const prefixes: ('#' | '//')[] = anyFormat ? ['#', '//'] : ['#'];
  for (const prefix of prefixes) {
    for (const d of new DirectiveParser(prefix, line).parseAll(dt)) {
      if (d.name === key) {
        const sp = d.value.indexOf(' ');
        return { value: sp < 0 ? d.value : d.value.slice(0, sp), cmdline: d.value, line: d.line };
      }
    }
  }
  if (!anyFormat) return undefined;
  const j = goJsonUnmarshal(dt);
  if (j.ok && j.top.kind === 'object') {
    const v = j.top.members.get(key);
    if (typeof v === 'string') return { value: v, cmdline: v, line };
  }
  return undefined;
}

/**
 * BuildKit's DetectSyntax: `# syntax=`, then `// syntax=`, then a JSON
 * document `{"syntax": "..."}`; a first `#!` line is skipped, a BOM dropped.
 */
export function detectSyntax(text: string): FoundDirective | undefined {
  return findDirective('syntax', text, true);
}

/** BuildKit's ParseDirective(key): only the `#` form (a first `#!` line is skipped). */
export function parseDirective(key: DirectiveKey, text: string): FoundDirective | undefined {
  return findDirective(key, text, false);
}

export interface CheckDirective {
  skip: string[] | 'all';
  error: boolean;
  experimental: string[] | 'all';
}

const goBools: Record<string, boolean> = {
  '1': true, t: true, T: true, TRUE: true, true: true, True: true,
  '0': false, f: false, F: false, FALSE: false, false: false, False: false,
};

/**
 * The value of `# check=` (or BUILDKIT_DOCKERFILE_CHECK):
 * `skip=<all|A,B>;error=<bool>;experimental=<all|A,B>`. Throws
 * StagecraftError('PARSE') for an unknown key or a bad boolean.
 */
export function parseCheckDirective(value: string): CheckDirective {
  const out: CheckDirective = { skip: [], error: false, experimental: [] };
  const s = trimSpace(value);
  if (s === '') return out;
  // strings.SplitN(s, ";", 3)
  const parts: string[] = [];
  let rest = s;
  while (parts.length < 2) {
    const i = rest.indexOf(';');
    if (i < 0) break;
    parts.push(rest.slice(0, i));
    rest = rest.slice(i + 1);
  }
  parts.push(rest);
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) throw new StagecraftError('PARSE', `invalid check option ${goQuote(p)}`);
    const k = trimSpace(p.slice(0, eq));
    const v = trimSpace(p.slice(eq + 1));
    switch (k) {
      case 'skip':
        out.skip = v === 'all' ? 'all' : v.split(',').map(trimSpace);
        break;
      case 'experimental':
        out.experimental = v === 'all' ? 'all' : v.split(',').map(trimSpace);
        break;
      case 'error': {
        const b = Object.hasOwn(goBools, v) ? goBools[v] : undefined;
        if (b === undefined) {
          throw new StagecraftError(
            'PARSE',
            `failed to parse check option ${goQuote(p)}: strconv.ParseBool: parsing ${goQuote(v)}: invalid syntax`,
          );
        }
        out.error = b;
        break;
      }
      default:
        throw new StagecraftError('PARSE', `invalid check option ${goQuote(k)}`);
    }
  }
  return out;
}
