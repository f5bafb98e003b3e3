/**
 * Leftovers of RUN steps whose runtime was killed: `runc run` removes its
 * container's state record when the container exits, and runContainer
 * deletes it when runc fails, but a SIGKILL of runc (or of the machine's
 * whole process tree) leaves `<stateRoot>/stagecraft-<16 hex>/state.json`
 * for a container that no longer runs, and the step's bundle directory
 * (`$TMPDIR/stagecraft-bundle-*`: config.json, hosts, resolv.conf).
 * `stagecraft prune` sweeps both: a record goes when its init process is
 * gone (or the pid now belongs to another process: the start time the
 * runtime recorded differs) and no runtime process still names the
 * container (a `runc run` that is about to remove its own record must not
 * find it gone), a bundle when it is over an hour old and no kept record
 * names it. Live steps of running builds are never touched.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SweepResult {
  /** Container state records removed. */
  containers: number;
  /** Bundle directories removed. */
  bundles: number;
}

export interface SweepOptions {
  /** The runtime binary, for `delete -f` (the state record is the runtime's to remove). */
  runtimePath?: string | undefined;
  /** Where bundles are made; default os.tmpdir(). */
  tmpDir?: string;
  /** Bundles younger than this are left (a step that is being set up has no record yet). Default one hour. */
  bundleAgeMs?: number;
  /** A record without a readable state.json is left while younger than this (the runtime is writing it). Default ten minutes. */
  brokenAgeMs?: number;
  now?: number;
}

const OURS = /^stagecraft-[0-9a-f]{16}$/;

interface StateRecord {
  pid: number;
  /** Start time in clock ticks since boot, as the runtime recorded it (field 22 of /proc/<pid>/stat). */
  start: number | undefined;
  bundle: string | undefined;
}

/** The parts of a runc/crun state.json the sweep needs; undefined when it cannot be read. */
export function parseState(text: string): StateRecord | undefined {
  let s: unknown;
  try {
    s = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof s !== 'object' || s === null) return undefined;
  const o = s as { init_process_pid?: unknown; init_process_start?: unknown; config?: { labels?: unknown } };
  const pid = Number(o.init_process_pid);
  if (!Number.isSafeInteger(pid) || pid < 0) return undefined;
  const start = o.init_process_start === undefined ? undefined : Number(o.init_process_start);
  const labels = Array.isArray(o.config?.labels) ? (o.config.labels as unknown[]).filter((l): l is string => typeof l === 'string') : [];
  const bundle = labels.find((l) => l.startsWith('bundle='))?.slice('bundle='.length);
  return { pid, start: Number.isFinite(start) ? start : undefined, bundle };
}

/** The fields after the command name in /proc/<pid>/stat text (the name may hold spaces and parentheses): [0] is field 3, the state. */
function statFields(statText: string): string[] | undefined {
  const close = statText.lastIndexOf(')');
  return close < 0 ? undefined : statText.slice(close + 2).split(' ');
}

/** Start time (clock ticks since boot) from /proc/<pid>/stat text: field 22. */
export function startTimeOf(statText: string): number | undefined {
  const v = Number(statFields(statText)?.[22 - 3]);
  return Number.isFinite(v) ? v : undefined;
}

async function running(r: StateRecord): Promise<boolean> {
  if (r.pid === 0) return false;
  const stat = await fs.readFile(`/proc/${r.pid}/stat`, 'utf8').catch(() => undefined);
  const fields = stat === undefined ? undefined : statFields(stat);
  // Gone, a zombie (its parent has not reaped it yet) or dying: it no longer runs the step.
  if (!fields || ['Z', 'X', 'x'].includes(fields[0]!)) return false;
  return r.start === undefined || Number(fields[22 - 3]) === r.start;
}

function deleteWith(runtimePath: string, stateRoot: string, id: string): Promise<boolean> {
  return new Promise((resolve) => execFile(runtimePath, ['--root', stateRoot, 'delete', '-f', id], { timeout: 30_000 }, (err) => resolve(!err)));
}

async function ageMs(p: string, now: number): Promise<number> {
  const st = await fs.lstat(p).catch(() => undefined);
  return st ? now - st.mtimeMs : 0;
}

/** Container ids (ours) named in the command line of a live process: runtimes still working on them. */
async function namedByLiveProcesses(): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const pid of (await fs.readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n))) {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    for (const arg of cmdline.split('\0')) if (OURS.test(arg)) ids.add(arg);
  }
  return ids;
}

export async function sweepRuntimeLeftovers(stateRoot: string, o: SweepOptions = {}): Promise<SweepResult> {
  const now = o.now ?? Date.now();
  const out: SweepResult = { containers: 0, bundles: 0 };
  const liveBundles = new Set<string>();
  const ids = (await fs.readdir(stateRoot).catch(() => [] as string[])).filter((n) => OURS.test(n));
  const named = ids.length > 0 ? await namedByLiveProcesses() : new Set<string>();
  for (const id of ids) {
    const dir = path.join(stateRoot, id);
    const record = parseState(await fs.readFile(path.join(dir, 'state.json'), 'utf8').catch(() => ''));
    const keep = named.has(id) || (record ? await running(record) : (await ageMs(dir, now)) < (o.brokenAgeMs ?? 10 * 60_000));
    if (keep) {
      if (record?.bundle) liveBundles.add(record.bundle);
      continue;
    }
    // The runtime removes its own record (and anything it left in cgroups); a record it cannot read goes by hand.
    const deleted = record && o.runtimePath ? await deleteWith(o.runtimePath, stateRoot, id) : false;
    if (!deleted) await fs.rm(dir, { recursive: true, force: true });
    out.containers++;
  }
  const tmp = o.tmpDir ?? os.tmpdir();
  for (const name of (await fs.readdir(tmp).catch(() => [] as string[])).filter((n) => n.startsWith('stagecraft-bundle-'))) {
    const dir = path.join(tmp, name);
    if (liveBundles.has(dir) || (await ageMs(dir, now)) < (o.bundleAgeMs ?? 60 * 60_000)) continue;
    await fs.rm(dir, { recursive: true, force: true });
    out.bundles++;
  }
  return out;
}
