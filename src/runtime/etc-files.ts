/**
 * The /etc/hosts and /etc/resolv.conf a RUN step sees (pure text in, text out).
 * Both are bound read-only over the rootfs and never become part of a layer.
 */
import type { NetworkMode } from './spec.js';

export interface HostEntry {
  host: string;
  ip: string;
}

/** localhost lines plus the step's hostname, then any extra hosts (--add-host). */
export function hostsFile(hostname: string, extra: HostEntry[] = []): string {
  const lines = [
    `127.0.0.1\tlocalhost ${hostname}`,
    '::1\tlocalhost ip6-localhost ip6-loopback',
    ...extra.map((e) => `${e.ip}\t${e.host}`),
  ];
  return lines.join('\n') + '\n';
}

/**
 * The host's resolv.conf for the step. With a private network namespace
 * (network 'none') loopback nameservers point at nothing, so they are dropped;
 * with host networking the file is used as it is.
 */
export function resolvConf(hostResolvConf: string, network: NetworkMode): string {
  if (network === 'host') return hostResolvConf;
  const kept = hostResolvConf
    .split('\n')
    .filter((line) => !/^\s*nameserver\s+(127\.|::1\s*$|::1$)/.test(line));
  return kept.join('\n');
}
