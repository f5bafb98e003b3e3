/**
 * Deterministic tar headers for layer diffs (pure: data in, bytes out).
 *
 * We encode headers ourselves instead of with tar-stream's packer because
 * tar-stream writes PAX values as UTF-8 strings (binary xattr values such as
 * security.capability would be corrupted) and silently clamps uid/gid above
 * 2097151. Here: USTAR when a field fits, one PAX extended header otherwise
 * (long or non-ASCII names, big ids/sizes, xattrs as SCHILY.xattr.*), records
 * sorted by key, no user/group names, whole-second mtimes.
 */

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarEntry {
  /** Path inside the layer, no leading '/' or './'; directories without trailing '/'. */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (& 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (fractions are dropped). */
  mtime: number;
  /** Content length for 'file'; 0 otherwise. */
  size: number;
  /** Target for 'symlink' and 'link'. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as PAX SCHILY.xattr.<name>. */
  xattrs?: Map<string, Buffer>;
}

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0', link: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6',
};

export const BLOCK = 512;

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

/** Zero bytes needed after `size` bytes of content to reach a block boundary. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

const OCTAL_MAX_7 = 0o7777777;
const OCTAL_MAX_11 = 0o77777777777;

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

/** Split a name into USTAR prefix (<=155) and name (<=100), or undefined if impossible. */
function splitUstar(name: string): { prefix: string; name: string } | undefined {
  if (name.length <= 100) return { prefix: '', name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { prefix, name: rest };
    if (rest.length > 100) break;
  }
  return undefined;
}

/** One PAX record: "<len> <key>=<value>\n", where len counts itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'ascii'), body]);
}

/** The header block(s) for one entry: a PAX header + its data when needed, then the USTAR header. */
export function encodeHeader(e: TarEntry): Buffer {
  const name = e.type === 'directory' ? `${e.name}/` : e.name;
  const pax = new Map<string, Buffer>();
  const split = isAscii(name) ? splitUstar(name) : undefined;
  if (!split) pax.set('path', Buffer.from(name, 'utf8'));
  const linkname = e.linkname ?? '';
  if (linkname.length > 100 || !isAscii(linkname)) pax.set('linkpath', Buffer.from(linkname, 'utf8'));
  if (e.uid > OCTAL_MAX_7) pax.set('uid', Buffer.from(String(e.uid)));
  if (e.gid > OCTAL_MAX_7) pax.set('gid', Buffer.from(String(e.gid)));
  if (e.size > OCTAL_MAX_11) pax.set('size', Buffer.from(String(e.size)));
  for (const [k, v] of e.xattrs ?? []) pax.set(`SCHILY.xattr.${k}`, v);

  const ustar = ustarBlock({
    name: split ? split.name : truncateAscii(name, 100),
    prefix: split ? split.prefix : '',
    mode: e.mode & 0o7777,
    uid: Math.min(e.uid, OCTAL_MAX_7),
    gid: Math.min(e.gid, OCTAL_MAX_7),
    size: e.type === 'file' ? Math.min(e.size, OCTAL_MAX_11) : 0,
    mtime: Math.max(0, Math.min(Math.floor(e.mtime), OCTAL_MAX_11)),
    typeflag: TYPEFLAG[e.type],
    linkname: pax.has('linkpath') ? truncateAscii(linkname, 100) : linkname,
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  });
  if (pax.size === 0) return ustar;

  const keys = [...pax.keys()].sort();
  const data = Buffer.concat(keys.map((k) => paxRecord(k, pax.get(k)!)));
  const base = e.name.split('/').pop() ?? '';
  const paxHead = ustarBlock({
    name: truncateAscii(`PaxHeaders/${base}`, 100),
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHead, data, Buffer.alloc(padding(data.length)), ustar]);
}

function truncateAscii(s: string, n: number): string {
  // Only a fallback name when PAX carries the real one; keep it plain ASCII.
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, n);
}

interface UstarFields {
  name: string; prefix: string; mode: number; uid: number; gid: number; size: number;
  mtime: number; typeflag: string; linkname: string; devmajor: number; devminor: number;
}

function ustarBlock(f: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(f.name, 0, 100, 'utf8');
  octal(b, 100, 8, f.mode);
  octal(b, 108, 8, f.uid);
  octal(b, 116, 8, f.gid);
  octal(b, 124, 12, f.size);
  octal(b, 136, 12, f.mtime);
  b.fill(0x20, 148, 156); // checksum computed with spaces
  b.write(f.typeflag, 156, 1, 'ascii');
  b.write(f.linkname, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'latin1');
  octal(b, 329, 8, f.devmajor);
  octal(b, 337, 8, f.devminor);
  b.write(f.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'latin1');
  return b;
}

/** Zero-padded octal of width-1 digits followed by NUL. */
function octal(b: Buffer, off: number, width: number, value: number): void {
  b.write(value.toString(8).padStart(width - 1, '0') + '\u0000', off, width, 'latin1');
}
