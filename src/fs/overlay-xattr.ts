/**
 * Extended attributes of a whole directory tree, read in one pass.
 *
 * Node has no xattr API, so we run `getfattr` (Debian package `attr`) once
 * over the tree: one process for the whole upper directory, not one per file.
 * `-P` never follows symlinks while walking, `-h` reads a symlink's own
 * attributes, `-m -` includes every namespace (trusted.* is visible to root),
 * `-e hex` makes values binary-safe.
 *
 * getfattr prints paths with `\ooo` octal escapes for control characters and
 * for `\` itself, so decoding is unambiguous.
 */
import * as path from 'node:path';
import { StagecraftError } from '../errors.js';
import { runHelper } from '../util/helper-shell.js';

/** Attribute name -> raw value. */
export type Xattrs = Map<string, Buffer>;

/** Overlay's own bookkeeping attributes; never part of a layer. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

/** True when a directory's attributes mark it opaque (overlay hides everything below it). */
export function isOpaqueDir(attrs: Xattrs | undefined): boolean {
  if (!attrs) return false;
  for (const key of ['trusted.overlay.opaque', 'user.overlay.opaque']) {
    const v = attrs.get(key);
    // 'y' = opaque. Kernels >= 6.7 also write 'x' (directory holds xwhiteouts), which is not opaque.
    if (v && v.length === 1 && v[0] === 0x79) return true;
  }
  return false;
}

/** Undo getfattr's quoting: `\ooo` is one byte; everything else is literal. */
export function unquoteGetfattr(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else {
      bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Parse `getfattr -d -e hex --absolute-names` output into path -> attributes. */
export function parseGetfattr(text: string, base: string): Map<string, Xattrs> {
  const out = new Map<string, Xattrs>();
  let current: Xattrs | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      const abs = unquoteGetfattr(line.slice('# file: '.length));
      const rel = path.relative(base, abs);
      current = new Map();
      out.set(rel === '' ? '.' : rel, current);
      continue;
    }
    if (line === '' || !current) continue;
    const eq = line.indexOf('=');
    const name = unquoteGetfattr(eq === -1 ? line : line.slice(0, eq));
    const value = eq === -1 ? '' : line.slice(eq + 1);
    current.set(name, decodeValue(value));
  }
  return out;
}

function decodeValue(v: string): Buffer {
  if (v.startsWith('0x')) return Buffer.from(v.slice(2), 'hex');
  if (v.startsWith('0s')) return Buffer.from(v.slice(2), 'base64');
  if (v.startsWith('"') && v.endsWith('"')) return Buffer.from(unquoteGetfattr(v.slice(1, -1)), 'utf8');
  return Buffer.from(v, 'utf8');
}

/**
 * Read the attributes of `root` and everything below it. Keys are paths
 * relative to `root` ('.' for root itself); entries without attributes are absent.
 */
export async function readTreeXattrs(root: string): Promise<Map<string, Xattrs>> {
  const abs = path.resolve(root);
  const text = await runGetfattr(['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', abs]);
  return parseGetfattr(text, abs);
}

/** Read the attributes of the given paths (not recursive). Missing paths are skipped. */
export async function readPathXattrs(paths: string[]): Promise<Map<string, Xattrs>> {
  if (paths.length === 0) return new Map();
  const abs = paths.map((p) => path.resolve(p));
  const text = await runGetfattr(['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', ...abs], true);
  const rel = parseGetfattr(text, '/');
  const out = new Map<string, Xattrs>();
  for (const [k, v] of rel) out.set(path.join('/', k), v);
  return out;
}

/** getfattr through the helper shell (src/util/helper-shell.ts): no fork of this process. */
async function runGetfattr(args: string[], tolerateMissing = false): Promise<string> {
  const r = await runHelper('getfattr', args, { stdout: true, env: { LC_ALL: 'C' } });
  if (r.code === -1 && r.error) {
    const e = r.error;
    throw new StagecraftError('MOUNT', e.code === 'ENOENT'
      ? 'getfattr is not installed; it is needed to read overlay whiteouts and xattrs'
      : `could not run getfattr: ${e.message}`, { cause: e, hint: 'apt-get install attr' });
  }
  const err = r.stderr.slice(0, 4096);
  // getfattr exits 1 when some path had an error (e.g. vanished); fail unless that was expected.
  if (r.code !== 0 && !(tolerateMissing && /No such file or directory/.test(err))) {
    throw new StagecraftError('MOUNT', `getfattr failed (exit ${r.code}): ${err.trim().split('\n')[0] ?? ''}`);
  }
  return r.stdout.toString('utf8');
}
