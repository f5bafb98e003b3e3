/**
 * How long a cold run waits after the tools are reset, so that what it
 * measures is the builders and not the deletes just before it.
 *
 * ext4 without a journal (this benchmark VM's root filesystem) will not hand
 * out an inode freed in the last 60 s (fs/ext4/ialloc.c, RECENTCY_MIN), or
 * the last 360 s while the inode-table block holding it is still dirty in
 * the buffer cache (RECENTCY_DIRTY): the allocator reads each candidate's
 * inode-table entry, sees a recent deletion time and moves on. A build that
 * creates many files right after a reset deleted many (the previous case's
 * store, BuildKit's prune) walks past every one of them: the same 100k-file
 * build ran in 5.3 s on a settled filesystem and 18.4 s straight after
 * `rm -rf` of 100k files, and cold cells swung 2-3x with which tool happened
 * to go first. So the harness syncs the filesystem (the blocks are then
 * clean: the 60 s window) and waits 61 s. Journalled ext4 and other
 * filesystems have no such check, and no wait.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** The mount of `path` in /proc/self/mountinfo text: filesystem type and source (the longest mount point that holds it). */
export function mountOf(mountinfo: string, path: string): { fsType: string; source: string; device: string } | undefined {
  let best: { point: string; fsType: string; source: string; device: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const point = (fields[4] ?? '').replace(/\\040/g, ' ');
    const device = fields[2] ?? '';
    const [fsType, source] = right.split(' ');
    if (!fsType || source === undefined) continue;
    const holds = point === '/' || path === point || path.startsWith(`${point}/`);
    if (holds && (!best || point.length >= best.point.length)) best = { point, fsType, source, device };
  }
  return best && { fsType: best.fsType, source: best.source, device: best.device };
}

/** fs/ext4/ialloc.c: a freed inode is not reused for this many seconds once its inode-table block is clean. */
export const EXT4_RECENTCY_MIN_SECONDS = 60;

/**
 * Seconds to wait after deletes (and a sync) before a timed cold build on
 * the filesystem of `path`: the kernel's window plus one second for the
 * clock's granularity on ext4 without a journal, else 0. `jbd2` lists
 * /proc/fs/jbd2 (one `<device>-<inode>` entry per journalled filesystem,
 * named by the kernel's device name); `kernelName` maps a mountinfo
 * `major:minor` to that name (a /dev/mapper source is dm-N there).
 */
export function settleSeconds(mountinfo: string, jbd2: string[], path: string, kernelName: (device: string) => string | undefined): number {
  const m = mountOf(mountinfo, path);
  if (!m || m.fsType !== 'ext4') return 0;
  const dev = kernelName(m.device) ?? basename(m.source);
  if (jbd2.some((e) => e.startsWith(`${dev}-`))) return 0;
  return EXT4_RECENTCY_MIN_SECONDS + 1;
}

/** settleSeconds for this machine. */
export function settleSecondsHere(path: string): number {
  const read = (f: string): string => { try { return readFileSync(f, 'utf8'); } catch { return ''; } };
  let jbd2: string[] = [];
  try { jbd2 = readdirSync('/proc/fs/jbd2'); } catch { /* no journalled filesystem mounted */ }
  const kernelName = (device: string): string | undefined => /^DEVNAME=(.+)$/m.exec(read(`/sys/dev/block/${device}/uevent`))?.[1];
  return settleSeconds(read('/proc/self/mountinfo'), jbd2, path, kernelName);
}

/** Writes back the filesystem of `path` (GNU sync -f), so the freed inodes' table blocks are clean and the short window applies. */
export function syncFilesystem(path: string): void {
  spawnSync('sync', ['-f', path], { stdio: 'ignore', timeout: 600_000 });
}
