/**
 * The OCI runtime-spec config.json for one RUN step (pure: data in, data out).
 *
 * Shaped like what Docker/BuildKit give a RUN process: Docker's default
 * capability set, Docker's masked and read-only /proc and /sys paths, private
 * mount/pid/ipc/uts namespaces, host networking unless network is 'none'
 * (then a private network namespace), /etc/hosts and /etc/resolv.conf bound
 * read-only from files we generate, /sys/fs/cgroup read-only. No
 * seccomp/AppArmor profile and no cgroup limits; with no cgroupsPath runc puts
 * the container in /<id> under each controller (works on this hybrid v1/v2 host).
 */

export type NetworkMode = 'host' | 'none';

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/** A mount the caller adds (RUN --mount, later): bind, tmpfs, ... */
export interface ExtraMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface SpecOptions {
  /** Absolute path of the merged rootfs on the host. */
  rootfs: string;
  args: string[];
  /** KEY=value; PATH gets the default when absent. */
  env: string[];
  cwd: string;
  user: ProcessUser;
  hostname: string;
  network: NetworkMode;
  /** Host paths of the generated files bound over /etc/hosts and /etc/resolv.conf. */
  hostsPath: string;
  resolvConfPath: string;
  extraMounts?: ExtraMount[];
  cgroupsPath?: string;
  /** RLIMIT_NOFILE soft and hard (default 1048576, like dockerd's). */
  nofile?: number;
}

/** Docker's default capabilities for containers and RUN steps. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
] as const;

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi',
  '/sys/firmware', '/sys/devices/virtual/powercap',
] as const;

export const READONLY_PATHS = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
] as const;

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted', string[]>;
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    resources: { devices: { allow: boolean; access: string }[] };
    cgroupsPath?: string;
  };
}

/** The mounts every step gets, before the caller's extra mounts. */
export function standardMounts(hostsPath: string, resolvConfPath: string): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    { destination: '/etc/hosts', type: 'bind', source: hostsPath, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: resolvConfPath, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] },
  ];
}

export function generateSpec(o: SpecOptions): OciSpec {
  const caps = [...DEFAULT_CAPABILITIES];
  const nofile = o.nofile ?? 1048576;
  const env = o.env.some((e) => e.startsWith('PATH=')) ? [...o.env] : [DEFAULT_PATH, ...o.env];
  const namespaces = [{ type: 'mount' }, { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }];
  if (o.network === 'none') namespaces.push({ type: 'network' });
  const user: OciSpec['process']['user'] = { uid: o.user.uid, gid: o.user.gid };
  if (o.user.additionalGids && o.user.additionalGids.length > 0) user.additionalGids = [...o.user.additionalGids];
  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user,
      args: [...o.args],
      env,
      cwd: o.cwd.startsWith('/') ? o.cwd : `/${o.cwd}`,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: false,
    },
    root: { path: o.rootfs, readonly: false },
    hostname: o.hostname,
    mounts: [...standardMounts(o.hostsPath, o.resolvConfPath), ...(o.extraMounts ?? []).map((m) => ({ ...m, options: [...m.options] }))],
    linux: {
      namespaces,
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      // Deny all devices; the runtime adds its standard allow list (null, zero, full, random, tty, pts...).
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
  if (o.cgroupsPath) spec.linux.cgroupsPath = o.cgroupsPath;
  return spec;
}

/** Container paths the runtime may have to create in the rootfs to mount on (for stub cleanup). */
export function mountTargets(spec: Pick<OciSpec, 'mounts'>): string[] {
  return spec.mounts.map((m) => m.destination);
}
