/** Build and read small directory trees for filesystem tests. */
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync, chmodSync, utimesSync, lchownSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type TreeSpec = Record<string, string | { link: string } | { dir: true; mode?: number } | { file: string; mode?: number; mtime?: number; uid?: number; gid?: number }>;

/** Create entries under root. Keys are relative paths; parents are created (0755). */
export function writeTree(root: string, spec: TreeSpec): void {
  for (const [rel, v] of Object.entries(spec)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof v === 'string') writeFileSync(p, v);
    else if ('link' in v) symlinkSync(v.link, p);
    else if ('dir' in v) {
      mkdirSync(p, { recursive: true });
      if (v.mode !== undefined) chmodSync(p, v.mode);
    } else {
      writeFileSync(p, v.file);
      if (v.mode !== undefined) chmodSync(p, v.mode);
      if (v.uid !== undefined) lchownSync(p, v.uid, v.gid ?? v.uid);
      if (v.mtime !== undefined) utimesSync(p, v.mtime, v.mtime);
    }
  }
}

/** A listing: "path" -> "f:content" | "d" | "l:target", sorted. */
export function readTree(root: string, sub = ''): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(root, r);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `l:${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = 'd';
        walk(r);
      } else out[r] = `f:${readFileSync(p, 'utf8')}`;
    }
  };
  walk(sub);
  return out;
}

export function modeOf(p: string): string {
  return (lstatSync(p).mode & 0o7777).toString(8);
}

export function ownerOf(p: string): string {
  const st = lstatSync(p);
  return `${st.uid}:${st.gid}`;
}
