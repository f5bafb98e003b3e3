import { spawn } from 'node:child_process';
import { findExecutable } from './compression.js';
import { runHelper } from '../util/helper-shell.js';

/**
 * Extended attributes through the attr tools (getfattr/setfattr): Node has no
 * xattr API, and one process per tree (not per file) keeps this cheap.
 */

/** getfattr/setfattr dump escaping: backslash and bytes outside printable ASCII as \ooo. */
function escapePath(p: string): string {
  let out = '';
  for (const b of Buffer.from(p, 'utf8')) {
    out += b > 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** Undoes escapePath; `s` is getfattr's output as latin1 (one char per byte), the result is UTF-8 decoded. */
function unescapePath(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) { bytes.push(parseInt(s.slice(i + 1, i + 4), 8)); i += 3; }
    else if (s[i] === '\\' && s[i + 1] === '\\') { bytes.push(0x5c); i += 1; }
    else bytes.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

function run(cmd: string, args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.stdin.on('error', () => { /* the exit code reports failures */ });
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString(), code }));
    if (input === undefined) child.stdin.end(); else child.stdin.end(input);
  });
}

export function xattrToolsAvailable(): boolean {
  return findExecutable('getfattr') !== undefined && findExecutable('setfattr') !== undefined;
}

/**
 * All xattrs below `root` (symlinks not followed), keyed by absolute path.
 * Lenient by default: without getfattr, or where it cannot read, there are
 * none. `strict` (a layer walk: a lost opaque marker would be a wrong layer)
 * fails instead.
 */
export async function readTreeXattrs(root: string, opts: { strict?: boolean } = {}): Promise<Map<string, Record<string, Buffer>>> {
  const out = new Map<string, Record<string, Buffer>>();
  const getfattr = findExecutable('getfattr');
  if (!getfattr) {
    if (opts.strict) throw new Error('getfattr is not installed; it is needed to read overlay whiteouts and xattrs (apt-get install attr)');
    return out;
  }
  // Through the helper shell: no fork of this process (one per layer walk and per COPY source otherwise).
  const h = await runHelper(getfattr, ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', root], { stdout: true });
  if (h.code === -1 && h.error) throw h.error;
  const r = { code: h.code, stdout: h.stdout.toString('latin1'), stderr: h.stderr };
  if (opts.strict && r.code !== 0) throw new Error(`getfattr failed (exit ${r.code}): ${r.stderr.trim().split('\n')[0] ?? ''}`);
  // getfattr exits 1 when some path could not be read; leniently, keep what it did print.
  return parseGetfattrDump(r.stdout, out);
}

/**
 * Parse `getfattr -d -e hex --absolute-names` output (read as latin1, one
 * char per byte) into absolute path -> attributes, adding to `out`.
 */
export function parseGetfattrDump(text: string, out = new Map<string, Record<string, Buffer>>()): Map<string, Record<string, Buffer>> {
  let current: Record<string, Buffer> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {};
      out.set(unescapePath(line.slice(8)), current);
    } else if (current && line.includes('=')) {
      const eq = line.indexOf('=');
      const name = line.slice(0, eq);
      const v = line.slice(eq + 1);
      current[name] = v.startsWith('0x') ? Buffer.from(v.slice(2), 'hex') : v.startsWith('0s') ? Buffer.from(v.slice(2), 'base64') : Buffer.from(v.replace(/^"|"$/g, ''), 'latin1');
    }
  }
  return out;
}

/** Sets xattrs on many paths at once (never following symlinks). */
export async function writeXattrs(items: Array<{ path: string; xattrs: Record<string, Uint8Array> }>): Promise<void> {
  if (items.length === 0) return;
  const setfattr = findExecutable('setfattr');
  if (!setfattr) throw new Error('setting extended attributes needs setfattr (apt-get install attr)');
  let dump = '';
  for (const { path, xattrs } of items) {
    const names = Object.keys(xattrs);
    if (names.length === 0) continue;
    dump += `# file: ${escapePath(path)}\n`;
    for (const n of names) dump += `${n}=0x${Buffer.from(xattrs[n]!).toString('hex')}\n`;
    dump += '\n';
  }
  const r = await run(setfattr, ['-h', '--restore=-'], dump);
  if (r.code !== 0) throw new Error(`setfattr failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
}
