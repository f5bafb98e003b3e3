/**
 * USER and COPY --chown resolution against an image's own /etc/passwd and
 * /etc/group (read through resolveInRoot, so a symlinked /etc/passwd cannot
 * point at the host's).
 *
 * USER follows BuildKit's executor: `uid:gid` (both numeric, or `root`) is
 * taken as is; anything else goes through runc's GetExecUser rules:
 *   - a name must exist in passwd ("unable to find user app: no matching
 *     entries in passwd file"); a numeric uid need not (gid then 0);
 *   - a uid or name found in passwd gives that entry's primary gid;
 *   - an explicit group replaces the primary gid and disables supplementary
 *     groups; a group name must exist in /etc/group;
 *   - without an explicit group, supplementary gids are the groups whose
 *     member list names the user.
 *
 * --chown follows BuildKit's FileOp: `name` gives the passwd uid and primary
 * gid, a numeric `uid` alone gives gid = uid, `:group` overrides the gid. A
 * name that is missing is an error (as the Dockerfile reference documents),
 * or id 0 with `missing: 'root'` (BuildKit's FileOp code, used for WORKDIR).
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { StagecraftError } from '../errors.js';
import { resolveInRoot } from './scoped-path.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface Owner {
  uid: number;
  gid: number;
}

const MAX_ID = 2 ** 31 - 1;

/** A decimal id, or undefined when `s` is not all digits. */
function numericId(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function field(parts: string[], i: number): string {
  return parts[i] ?? '';
}

function intField(parts: string[], i: number): number {
  const n = Number.parseInt(field(parts, i).trim(), 10);
  return Number.isFinite(n) ? n : 0;
}

/** Parse passwd(5) text. Blank lines are skipped; bad numbers read as 0 (like runc). */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const p = line.split(':');
    out.push({ name: field(p, 0), uid: intField(p, 2), gid: intField(p, 3), home: field(p, 5), shell: field(p, 6) });
  }
  return out;
}

/** Parse group(5) text. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const p = line.split(':');
    const list = field(p, 3);
    out.push({ name: field(p, 0), gid: intField(p, 2), members: list === '' ? [] : list.split(',') });
  }
  return out;
}

/** Read an /etc file of the image, or undefined when it does not exist. */
async function readImageFile(rootfs: string, path: string): Promise<string | undefined> {
  const host = await resolveInRoot(rootfs, path);
  try {
    // A RUN step reads two of these before it starts: a small regular file is read in one
    // synchronous call (a thread-pool round trip each cost 1-3 ms on the build VM).
    const st = statSync(host);
    if (st.isFile() && st.size <= 1 << 20) return readFileSync(host, 'utf8');
    return await readFile(host, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function splitSpec(spec: string): [string, string | undefined] {
  const i = spec.indexOf(':');
  return i < 0 ? [spec, undefined] : [spec.slice(0, i), spec.slice(i + 1)];
}

/** `root` counts as 0 in BuildKit's numeric fast paths. */
function fastId(s: string): number | undefined {
  return s === 'root' ? 0 : numericId(s);
}

/**
 * Resolve a USER value (`name`, `uid`, `name:group`, `uid:gid`, mixed) in
 * `rootfs`. An empty spec is root.
 */
export async function resolveUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  if (spec === '') return { uid: 0, gid: 0, additionalGids: [] };
  const [userArg, groupArg] = splitSpec(spec);
  // BuildKit's fast path: both parts given and numeric (or "root").
  if (groupArg !== undefined) {
    const u = fastId(userArg);
    const g = fastId(groupArg);
    if (u !== undefined && g !== undefined) return { uid: u, gid: g, additionalGids: [] };
  }
  const passwdText = await readImageFile(rootfs, '/etc/passwd');
  const groupText = await readImageFile(rootfs, '/etc/group');
  // An image without /etc/passwd (scratch-like) still runs as root when asked by name.
  if (passwdText === undefined && userArg === 'root' && groupArg === undefined) return { uid: 0, gid: 0, additionalGids: [] };
  const users = passwdText === undefined ? [] : parsePasswd(passwdText);
  const groups = groupText === undefined ? [] : parseGroup(groupText);

  let uid = 0;
  let gid = 0;
  let matchedName: string | undefined;
  const uidNum = numericId(userArg);
  if (userArg !== '') {
    const found = users.find((u) => (uidNum !== undefined ? u.uid === uidNum : u.name === userArg));
    if (found) {
      uid = found.uid;
      gid = found.gid;
      matchedName = found.name;
    } else if (uidNum === undefined) {
      throw new StagecraftError('NOT_FOUND', `unable to find user ${userArg}: no matching entries in passwd file`, {
        hint: `add the user to the image first (e.g. RUN useradd ${userArg}) or use a numeric uid`,
      });
    } else {
      uid = uidNum;
    }
  }

  const additionalGids: number[] = [];
  if (groupArg !== undefined && groupArg !== '') {
    const gidNum = numericId(groupArg);
    const found = groups.find((g) => (gidNum !== undefined ? g.gid === gidNum : g.name === groupArg));
    if (found) gid = found.gid;
    else if (gidNum !== undefined) gid = gidNum;
    else {
      throw new StagecraftError('NOT_FOUND', `unable to find group ${groupArg}: no matching entries in group file`, {
        hint: `add the group to the image first (e.g. RUN groupadd ${groupArg}) or use a numeric gid`,
      });
    }
  } else if (matchedName !== undefined) {
    for (const g of groups) if (g.members.includes(matchedName)) additionalGids.push(g.gid);
  }
  return { uid, gid, additionalGids };
}

export interface ChownOptions {
  /**
   * What a name absent from passwd/group gives: 'error' (COPY --chown, as
   * the Dockerfile reference documents) or 'root' (id 0, what BuildKit's
   * FileOp does, e.g. for the directory WORKDIR creates for USER).
   */
  missing?: 'error' | 'root';
}

/**
 * Resolve a COPY/ADD --chown value, or the owner BuildKit gives a WORKDIR
 * directory for the stage's USER (same FileOp rules, `missing: 'root'`).
 * `rootfs` is the destination stage's root (where names are looked up).
 * Returns undefined for an empty spec.
 */
export async function resolveChown(rootfs: string, spec: string, options: ChownOptions = {}): Promise<Owner | undefined> {
  const lenient = options.missing === 'root';
  if (spec === '') return undefined;
  const [userArg, groupArg] = splitSpec(spec);
  let uid = 0;
  let gid = 0;
  const u = fastId(userArg);
  if (u !== undefined) {
    uid = u;
    gid = u;
  } else if (userArg !== '') {
    const text = await readImageFile(rootfs, '/etc/passwd');
    const found = (text === undefined ? [] : parsePasswd(text)).find((e) => e.name === userArg);
    if (found) {
      uid = found.uid;
      gid = found.gid;
    } else if (!lenient) {
      throw new StagecraftError('COPY', `--chown: unable to find user ${userArg}: no matching entries in passwd file`, {
        hint: 'use a numeric uid:gid, or create the user in this stage before the COPY',
      });
    }
  }
  if (groupArg !== undefined && groupArg !== '') {
    const g = fastId(groupArg);
    if (g !== undefined) gid = g;
    else {
      const text = await readImageFile(rootfs, '/etc/group');
      const found = (text === undefined ? [] : parseGroup(text)).find((e) => e.name === groupArg);
      if (found) gid = found.gid;
      else if (!lenient) {
        throw new StagecraftError('COPY', `--chown: unable to find group ${groupArg}: no matching entries in group file`, {
          hint: 'use a numeric gid, or create the group in this stage before the COPY',
        });
      }
      // Lenient: an unknown group keeps the gid the user part gave (BuildKit FileOp).
    }
  }
  return { uid, gid };
}
