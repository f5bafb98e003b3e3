/**
 * How long a cold run waits after the tools are reset, so that what it
 * measures is the builders and not the deletes just before it.
 *
 * ext4 without a journal (this benchmark VM's root filesystem) will not hand
 * out an inode freed in the last `vm.dirty_expire_centisecs` (30 s by
 * default, 5 s more while the inode table block is dirty): the allocator
 * reads each candidate's inode-table entry, sees a recent deletion time and
 * moves on. A build that creates many files right after a reset deleted many
 * (the previous case's store, BuildKit's prune) walks past every one of them;
 * the same build ran in 5.3 s on a settled filesystem and 18.4 s straight
 * after `rm -rf` of 100k files, and cold cells swung 2-3x with which tool
 * happened to go first. Journalled ext4 and other filesystems have no such
 * check, and no wait.
 */
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

/**
 * Seconds to wait after deletes before a timed cold build on the filesystem
 * of `path`: the window plus a margin on ext4 without a journal, else 0.
 * `jbd2` lists /proc/fs/jbd2 (one `<device>-<inode>` entry per journalled
 * filesystem, named by the kernel's device name); `kernelName` maps a
 * mountinfo `major:minor` to that name (a /dev/mapper source is dm-N there);
 * `dirtyExpireCentisecs` is vm.dirty_expire_centisecs.
 */
export function settleSeconds(
  mountinfo: string, jbd2: string[], dirtyExpireCentisecs: number, path: string, kernelName: (device: string) => string | undefined,
): number {
  const m = mountOf(mountinfo, path);
  if (!m || m.fsType !== 'ext4') return 0;
  const dev = kernelName(m.device) ?? basename(m.source);
  if (jbd2.some((e) => e.startsWith(`${dev}-`))) return 0;
  // The kernel's window is whole seconds (+5 while the block is dirty); one more for the clock's granularity.
  return Math.ceil(dirtyExpireCentisecs / 100) + 6;
}

/** settleSeconds for this machine. */
export function settleSecondsHere(path: string): number {
  const read = (f: string): string => { try { return readFileSync(f, 'utf8'); } catch { return ''; } };
  let jbd2: string[] = [];
  try { jbd2 = readdirSync('/proc/fs/jbd2'); } catch { /* no journalled filesystem mounted */ }
  const expire = Number(read('/proc/sys/vm/dirty_expire_centisecs').trim());
  const kernelName = (device: string): string | undefined => /^DEVNAME=(.+)$/m.exec(read(`/sys/dev/block/${device}/uevent`))?.[1];
  return settleSeconds(read('/proc/self/mountinfo'), jbd2, Number.isFinite(expire) && expire > 0 ? expire : 3000, path, kernelName);
}
