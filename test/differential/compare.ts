/**
 * The differential suite's comparison: an image archive (`docker save` or
 * stagecraft's saveDockerArchive, both Docker v1.2 archives) read into one
 * line per path of the flattened filesystem plus the config fields users rely
 * on, and a readable diff of two such images.
 *
 * A path line is `<kind><mode> <uid>:<gid>` followed by, for files,
 * `<size> sha256:<16 hex> links=<n>`, for symlinks `-> <target>`, for devices
 * `<major>,<minor>`. Times are never compared.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { createHash } from 'node:crypto';
import { flattenLayers, readTar, type FlatTree } from '../../src/tar/index.js';

export interface ImageConfigDoc {
  config?: Record<string, unknown> | null;
  history?: Array<{ created_by?: string; empty_layer?: boolean; comment?: string }>;
  rootfs: { diff_ids: string[] };
}

export interface ComparableImage {
  /** path (relative, no leading '/') -> line */
  tree: Map<string, string>;
  config: ImageConfigDoc;
}

/** The config fields compared (Shell as well: SHELL is inherited by FROM <stage>). */
export const CONFIG_FIELDS = ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell'] as const;

const KIND: Record<string, string> = { file: 'f', hardlink: 'f', dir: 'd', symlink: 'l', chardev: 'c', blockdev: 'b', fifo: 'p' };

/**
 * One line per path. Hard links are files with their target's content and
 * the size of their group (which name of a group is the tar `file` entry
 * depends on tar order, so it is not compared).
 */
export function treeLines(flat: FlatTree, pycCode: Map<string, string>): Map<string, string> {
  const group = new Map<string, string>();
  for (const [p, e] of flat) if (e.header.type === 'hardlink') group.set(p, posix.normalize(e.header.linkname ?? '').replace(/^\/+/, ''));
  const root = (p: string): string => { let r = p; for (let i = 0; i < 16 && group.has(r); i++) r = group.get(r)!; return r; };
  const groupSize = new Map<string, number>();
  for (const p of flat.keys()) if (flat.get(p)!.header.type === 'file' || flat.get(p)!.header.type === 'hardlink') groupSize.set(root(p), (groupSize.get(root(p)) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const [p, e] of flat) {
    const h = e.header;
    const head = `${KIND[h.type] ?? h.type}${h.type === 'symlink' ? '' : h.mode.toString(8).padStart(4, '0')} ${h.uid}:${h.gid}`;
    if (h.type === 'file' || h.type === 'hardlink') {
      const src = h.type === 'hardlink' ? flat.get(root(p)) : e;
      const digest = pycCode.get(root(p)) ?? (src?.contentDigest ?? 'missing').replace(/^sha256:/, '').slice(0, 16);
      out.set(p, `${head} ${src?.header.size ?? '?'} sha256:${digest} links=${groupSize.get(root(p)) ?? 1}`);
    } else if (h.type === 'symlink') out.set(p, `${head} -> ${h.linkname ?? ''}`);
    else if (h.type === 'chardev' || h.type === 'blockdev') out.set(p, `${head} ${h.devmajor ?? 0},${h.devminor ?? 0}`);
    else out.set(p, head);
  }
  return out;
}

/**
 * Reads an extracted `docker save` archive directory: its first image's
 * config and flattened filesystem. A timestamp-based .pyc header holds its
 * source's mtime (bytes 8-11), so .pyc files are hashed without their
 * 16-byte header.
 */
export async function readSavedImage(dir: string): Promise<ComparableImage> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Array<{ Config: string; Layers: string[] }>;
  const m = manifest[0]!;
  const config = JSON.parse(await readFile(join(dir, m.Config), 'utf8')) as ImageConfigDoc;
  const layers = m.Layers.map((l) => () => createReadStream(join(dir, l)));
  const flat = await flattenLayers(layers);
  const pycCode = new Map<string, string>();
  const pycs = new Set([...flat.keys()].filter((p) => p.endsWith('.pyc') && flat.get(p)!.header.type === 'file'));
  if (pycs.size > 0) {
    // The last layer holding each .pyc wins.
    for (const l of m.Layers) {
      for await (const e of readTar(createReadStream(join(dir, l)))) {
        const rel = e.header.path.replace(/^\.?\/+/, '');
        if (!pycs.has(rel) || e.header.type !== 'file') { for await (const _ of e.body) { /* skip */ } continue; }
        const chunks: Buffer[] = [];
        for await (const c of e.body) chunks.push(c);
        pycCode.set(rel, createHash('sha256').update(Buffer.concat(chunks).subarray(16)).digest('hex').slice(0, 16));
      }
    }
  }
  return { tree: treeLines(flat, pycCode), config };
}

/** A path matches an ignore pattern when it is the pattern or below it; `*` matches within one name. */
export function ignored(path: string, patterns: readonly string[]): boolean {
  return patterns.some((raw) => {
    const pat = raw.replace(/^\/+|\/+$/g, '');
    const re = new RegExp(`^${pat.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}(?:/.*)?$`);
    return re.test(path);
  });
}

/** The compared config fields; null, '' and absent are the same (Docker writes null, stagecraft omits). */
export function configFields(doc: ImageConfigDoc): Record<string, unknown> {
  const c = doc.config ?? {};
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_FIELDS) if (c[k] !== undefined && c[k] !== null && c[k] !== '') out[k] = c[k];
  return out;
}

/**
 * Docker 20.10's history texts in current BuildKit's form:
 *   EXPOSE map[8080/tcp:{} 9090/udp:{}]  ->  EXPOSE [8080/tcp 9090/udp]
 *   ARG VERSION=1 (the default as written) -> ARG VERSION=7 (the value used)
 *   ARG TARGETOS (platform args without their value) -> ARG TARGETOS=linux
 *   HEALTHCHECK &{["CMD" "x"] "5s" "0s" "0s" '\x00'} -> HEALTHCHECK {Test:[CMD x] Interval:5s ... Retries:0}
 */
export function docker2010History(createdBy: string, buildArgs: Record<string, string>, platformArgs: Record<string, string> = {}): string {
  const health = /^HEALTHCHECK &\{\[(.*)\] "([^"]*)" "([^"]*)" "([^"]*)" '\\x([0-9a-f]{2})'\}$/.exec(createdBy);
  if (health) {
    const test = [...health[1]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string).join(' ');
    return `HEALTHCHECK {Test:[${test}] Interval:${health[2]} Timeout:${health[3]} StartPeriod:${health[4]} StartInterval:0s Retries:${parseInt(health[5]!, 16)}}`;
  }
  const expose = /^EXPOSE map\[(.*)\]$/.exec(createdBy);
  if (expose) return `EXPOSE [${expose[1]!.replace(/:\{\}/g, '')}]`;
  if (createdBy.startsWith('ARG ')) {
    return 'ARG ' + createdBy.slice(4).split(' ').map((kv) => {
      const k = kv.split('=')[0]!;
      if (buildArgs[k] !== undefined) return `${k}=${buildArgs[k]}`;
      return !kv.includes('=') && platformArgs[k] !== undefined ? `${k}=${platformArgs[k]}` : kv;
    }).join(' ');
  }
  return createdBy;
}

/** Current BuildKit's COPY/ADD history without the flags Docker 20.10 did not record. */
export function withoutCopyFlags(createdBy: string): string {
  return /^(COPY|ADD) /.test(createdBy) ? createdBy.replace(/ --(?:chown|chmod)=\S+| --parents/g, '') : createdBy;
}

/**
 * `layer|empty <created_by>` per history entry. WORKDIR lines carry no
 * marker: Docker 20.10 commits a layer for WORKDIR of an existing
 * directory, current BuildKit marks that (empty) step empty_layer; the
 * directory itself is compared in the tree.
 */
export function historyLines(doc: ImageConfigDoc, fix: (s: string) => string): string[] {
  return (doc.history ?? []).map((h) => {
    const text = fix(String(h.created_by ?? ''));
    return text.startsWith('WORKDIR ') ? text : `${h.empty_layer === true ? 'empty ' : 'layer '}${text}`;
  });
}

/** JSON with object keys sorted, so key order never counts as a difference. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => (val && typeof val === 'object' && !Array.isArray(val)
    ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : val));
}

/** Differences as `- oracle` / `+ stagecraft` lines (empty when identical). */
export function diffTrees(oracle: Map<string, string>, ours: Map<string, string>): string[] {
  const out: string[] = [];
  const paths = [...new Set([...oracle.keys(), ...ours.keys()])].sort();
  for (const p of paths) {
    const a = oracle.get(p);
    const b = ours.get(p);
    if (a === b) continue;
    if (a !== undefined) out.push(`- /${p} ${a}`);
    if (b !== undefined) out.push(`+ /${p} ${b}`);
  }
  return out;
}

export function diffValues(label: string, oracle: unknown, ours: unknown): string[] {
  const a = canonical(oracle);
  const b = canonical(ours);
  return a === b ? [] : [`- ${label} ${a}`, `+ ${label} ${b}`];
}

/** Line-wise diff of two lists, in order (history): the first differing index onwards. */
export function diffLists(label: string, oracle: string[], ours: string[]): string[] {
  const out: string[] = [];
  const n = Math.max(oracle.length, ours.length);
  for (let i = 0; i < n; i++) {
    if (oracle[i] === ours[i]) continue;
    if (oracle[i] !== undefined) out.push(`- ${label}[${i}] ${oracle[i]}`);
    if (ours[i] !== undefined) out.push(`+ ${label}[${i}] ${ours[i]}`);
  }
  return out;
}

/**
 * A hand-written expected entry (`oracle: expected`): `d0755 0:0`,
 * `l 0:0 -> target`, or `f0644 0:0 =<content>` (the content as text), or a
 * file line exactly as treeLines writes it.
 */
export function expectedLine(spec: string): string {
  const m = /^(f[0-7]{4}) (\d+:\d+) =([\s\S]*)$/.exec(spec);
  if (!m) return spec;
  const bytes = Buffer.from(m[3]!, 'utf8');
  return `${m[1]} ${m[2]} ${bytes.length} sha256:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)} links=1`;
}
