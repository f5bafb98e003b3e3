import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseGetfattr } from '../fs/overlay-xattr.js';
import { findExecutable } from './compression.js';

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
 * Lenient: without getfattr, or where it cannot read, there are none. (A
 * layer walk uses the strict reader in fs/overlay-xattr, whose parser this shares.)
 */
export async function readTreeXattrs(root: string): Promise<Map<string, Record<string, Buffer>>> {
  const out = new Map<string, Record<string, Buffer>>();
  const getfattr = findExecutable('getfattr');
  if (!getfattr) return out;
  const abs = resolve(root);
  const r = await run(getfattr, ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', abs]);
  // getfattr exits 1 when some path could not be read; keep what it did print.
  for (const [rel, attrs] of parseGetfattr(Buffer.from(r.stdout, 'latin1').toString('utf8'), abs)) {
    out.set(rel === '.' ? abs : join(abs, rel), Object.fromEntries(attrs));
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
