/**
 * Tar headers: ustar blocks with PAX extended records where ustar cannot
 * hold a value (long or non-ASCII names, large numbers, xattrs). Xattr
 * values stay binary (security.capability is not text).
 */

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'dir' | 'fifo';

export interface TarHeader {
  /** Relative path, '/'-separated, no leading './' or '/', no trailing '/'. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content (regular files only; 0 otherwise). */
  size: number;
  /** Seconds since the epoch (integer). */
  mtime: number;
  /** Symlink target, or the path a hardlink points to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  uname?: string;
  gname?: string;
  /** Extended attributes by full name (e.g. `security.capability`). */
  xattrs?: Record<string, Uint8Array>;
}

export const BLOCK = 512;

const TYPEFLAG: Record<EntryType, string> = { file: '0', hardlink: '1', symlink: '2', chardev: '3', blockdev: '4', dir: '5', fifo: '6' };

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** ustar's name/prefix split; undefined when the name does not fit. */
function splitName(name: string): [prefix: string, name: string] | undefined {
  if (!isAscii(name) || name.includes('\0')) return undefined;
  if (name.length <= 100) return ['', name];
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (rest.length === 0 || rest.length > 100) return undefined;
    if (prefix.length <= 155) return [prefix, rest];
  }
  return undefined;
}

function writeString(buf: Buffer, s: string, off: number, len: number): void {
  buf.write(s, off, len, 'latin1');
}

function writeOctal(buf: Buffer, n: number, off: number, len: number): void {
  // len-1 digits then a NUL, as GNU and Go write them.
  writeString(buf, n.toString(8).padStart(len - 1, '0'), off, len - 1);
  buf[off + len - 1] = 0;
}

function paxRecord(key: string, value: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum;
}

function ustarBlock(f: RawHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  const split = splitName(f.name) ?? ['', f.name.slice(0, 100)];
  writeString(block, split[1], 0, 100);
  writeOctal(block, f.mode & 0o7777, 100, 8);
  writeOctal(block, Math.min(f.uid, MAX_OCTAL_7), 108, 8);
  writeOctal(block, Math.min(f.gid, MAX_OCTAL_7), 116, 8);
  writeOctal(block, Math.min(f.size, MAX_OCTAL_11), 124, 12);
  writeOctal(block, Math.max(0, Math.min(f.mtime, MAX_OCTAL_11)), 136, 12);
  block[156] = f.typeflag.charCodeAt(0);
  writeString(block, isAscii(f.linkname) ? f.linkname.slice(0, 100) : '', 157, 100);
  writeString(block, 'ustar\u000000', 257, 8);
  writeString(block, isAscii(f.uname) ? f.uname.slice(0, 32) : '', 265, 32);
  writeString(block, isAscii(f.gname) ? f.gname.slice(0, 32) : '', 297, 32);
  writeOctal(block, Math.min(f.devmajor, MAX_OCTAL_7), 329, 8);
  writeOctal(block, Math.min(f.devminor, MAX_OCTAL_7), 337, 8);
  writeString(block, split[0], 345, 155);
  writeString(block, checksum(block).toString(8).padStart(6, '0'), 148, 6);
  block[154] = 0;
  block[155] = 32;
  return block;
}

/**
 * Encodes one header: a PAX record block when needed, then the ustar block.
 * Deterministic: the same header always gives the same bytes.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const name = h.type === 'dir' ? `${h.path}/` : h.path;
  const linkname = h.linkname ?? '';
  const uname = h.uname ?? '';
  const gname = h.gname ?? '';
  const size = h.type === 'file' ? h.size : 0;
  const mtime = Math.floor(h.mtime);
  const pax: Buffer[] = [];
  if (!splitName(name)) pax.push(paxRecord('path', Buffer.from(name, 'utf8')));
  if (linkname.length > 100 || !isAscii(linkname)) pax.push(paxRecord('linkpath', Buffer.from(linkname, 'utf8')));
  if (size > MAX_OCTAL_11) pax.push(paxRecord('size', Buffer.from(String(size))));
  if (h.uid > MAX_OCTAL_7) pax.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > MAX_OCTAL_7) pax.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (mtime < 0 || mtime > MAX_OCTAL_11) pax.push(paxRecord('mtime', Buffer.from(String(mtime))));
  if (uname.length > 32 || !isAscii(uname)) pax.push(paxRecord('uname', Buffer.from(uname, 'utf8')));
  if (gname.length > 32 || !isAscii(gname)) pax.push(paxRecord('gname', Buffer.from(gname, 'utf8')));
  for (const key of Object.keys(h.xattrs ?? {}).sort()) pax.push(paxRecord(`SCHILY.xattr.${key}`, h.xattrs![key]!));
  const fields: RawHeader = {
    name, typeflag: TYPEFLAG[h.type], mode: h.mode, uid: h.uid, gid: h.gid, size, mtime, linkname, uname, gname,
    devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0,
  };
  const main = ustarBlock(fields);
  if (pax.length === 0) return main;
  const data = Buffer.concat(pax);
  const base = h.path.split('/').pop() ?? 'entry';
  const paxHead = ustarBlock({
    ...fields, name: `PaxHeaders.0/${isAscii(base) ? base : 'entry'}`.slice(0, 100), typeflag: 'x', size: data.length, linkname: '', mode: 0o644,
    uid: Math.min(h.uid, MAX_OCTAL_7), gid: Math.min(h.gid, MAX_OCTAL_7), uname: '', gname: '', devmajor: 0, devminor: 0, mtime: Math.max(0, Math.min(mtime, MAX_OCTAL_11)),
  });
  return Buffer.concat([paxHead, data, Buffer.alloc(padding(data.length)), main]);
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

// ---------------------------------------------------------------- decoding

export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

function readString(block: Buffer, off: number, len: number): string {
  const end = block.indexOf(0, off);
  return block.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

function readNumber(block: Buffer, off: number, len: number, field: string): number {
  if ((block[off]! & 0x80) !== 0) {
    // base-256 (GNU): big-endian two's complement with the top bit as marker.
    let n = 0;
    for (let i = off; i < off + len; i++) n = n * 256 + (i === off ? block[i]! & 0x7f : block[i]!);
    if (!Number.isSafeInteger(n)) throw new TarFormatError(`tar header field ${field} is too large`);
    return n;
  }
  const s = block.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`tar header field ${field} is not octal: ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** One raw header block, before PAX/GNU long-name records are applied. */
export interface RawHeader {
  typeflag: string;
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

export function decodeBlock(block: Buffer): RawHeader {
  const stored = readNumber(block, 148, 8, 'chksum');
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) signed += i >= 148 && i < 156 ? 32 : (block[i]! << 24) >> 24;
  if (stored !== checksum(block) && stored !== signed) throw new TarFormatError('tar header checksum mismatch (corrupt or not a tar stream)');
  const magic = block.toString('latin1', 257, 263);
  const ustar = magic === 'ustar\0';
  let name = readString(block, 0, 100);
  if (ustar) {
    const prefix = readString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const flag = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
  return {
    typeflag: flag,
    name,
    mode: readNumber(block, 100, 8, 'mode'),
    uid: readNumber(block, 108, 8, 'uid'),
    gid: readNumber(block, 116, 8, 'gid'),
    size: readNumber(block, 124, 12, 'size'),
    mtime: readNumber(block, 136, 12, 'mtime'),
    linkname: readString(block, 157, 100),
    uname: readString(block, 265, 32),
    gname: readString(block, 297, 32),
    devmajor: magic.startsWith('ustar') ? readNumber(block, 329, 8, 'devmajor') : 0,
    devminor: magic.startsWith('ustar') ? readNumber(block, 337, 8, 'devminor') : 0,
  };
}

/** Parses PAX records; values stay as bytes. */
export function decodePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const sp = data.indexOf(0x20, pos);
    if (sp === -1) throw new TarFormatError('malformed PAX record');
    const len = Number(data.toString('latin1', pos, sp));
    if (!Number.isSafeInteger(len) || len <= sp - pos || pos + len > data.length) throw new TarFormatError('malformed PAX record length');
    const rec = data.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq === -1) throw new TarFormatError('malformed PAX record (no =)');
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

const TYPES: Record<string, EntryType> = { '0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'chardev', '4': 'blockdev', '5': 'dir', '6': 'fifo' };

/** Normalises an entry name: strips leading './' and '/', trailing '/'. ('' means the root.) */
export function normalizeEntryName(name: string): string {
  let n = name.replace(/\/+/g, '/');
  while (n.startsWith('./')) n = n.slice(2);
  n = n.replace(/^\/+/, '');
  if (n === '.') n = '';
  return n.replace(/\/+$/, '');
}

/** Builds the final header from a raw block and the PAX/GNU records that preceded it. */
export function finishHeader(raw: RawHeader, pax: Map<string, Buffer>, longName?: string, longLink?: string): TarHeader {
  let type = TYPES[raw.typeflag];
  if (!type) throw new TarFormatError(`unsupported tar entry type ${JSON.stringify(raw.typeflag)} for ${JSON.stringify(raw.name)}`);
  let name = longName ?? raw.name;
  let linkname = longLink ?? raw.linkname;
  const num = (key: string, fallback: number): number => {
    const v = pax.get(key);
    if (v === undefined) return fallback;
    const n = Number(v.toString('latin1'));
    if (!Number.isFinite(n)) throw new TarFormatError(`PAX ${key} is not a number`);
    return n;
  };
  if (pax.has('path')) name = pax.get('path')!.toString('utf8');
  if (pax.has('linkpath')) linkname = pax.get('linkpath')!.toString('utf8');
  if ([...pax.keys()].some((k) => k.startsWith('GNU.sparse'))) throw new TarFormatError(`sparse tar entries are not supported (${name})`);
  if (raw.typeflag === '0' && name.endsWith('/')) type = 'dir';
  const h: TarHeader = {
    path: normalizeEntryName(name),
    type,
    mode: raw.mode & 0o7777,
    uid: num('uid', raw.uid),
    gid: num('gid', raw.gid),
    size: type === 'file' ? num('size', raw.size) : 0,
    mtime: Math.floor(num('mtime', raw.mtime)),
  };
  if (type === 'symlink' || type === 'hardlink') h.linkname = linkname;
  if (type === 'chardev' || type === 'blockdev') { h.devmajor = raw.devmajor; h.devminor = raw.devminor; }
  const uname = pax.get('uname')?.toString('utf8') ?? raw.uname;
  const gname = pax.get('gname')?.toString('utf8') ?? raw.gname;
  if (uname) h.uname = uname;
  if (gname) h.gname = gname;
  for (const [k, v] of pax) {
    if (k.startsWith('SCHILY.xattr.')) (h.xattrs ??= {})[k.slice('SCHILY.xattr.'.length)] = v;
  }
  return h;
}
