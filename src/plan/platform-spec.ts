/**
 * `FROM --platform=` values parsed as containerd's `platforms.Parse` does,
 * with its error texts (BuildKit shows them as they are).
 */
import { formatPlatform, parsePlatform } from '../oci/platform.js';
import type { Platform } from './types.js';

const COMPONENT = /^[A-Za-z0-9_.-]+$/;
const KNOWN_OS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd',
  'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos',
]);
const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le',
  'mips64p32', 'mips64p32le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm',
  'x86_64', 'x86-64', 'aarch64', 'armhf', 'armel', 'i386',
]);

/**
 * The normalised `os/arch[/variant]`, or an error text without the
 * `failed to parse platform` prefix. `host` fills a single-component spec.
 */
export function parsePlatformSpec(spec: string, host: Platform): { platform: string } | { error: string } {
  const parts = spec.split('/');
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      return {
        error: `${JSON.stringify(part)} is an invalid component of ${JSON.stringify(spec)}: platform specifier component must match "^[A-Za-z0-9_.-]+$": invalid argument`,
      };
    }
  }
  if (parts.length === 1) {
    const one = parts[0]!.toLowerCase();
    if (KNOWN_OS.has(one)) return { platform: formatPlatform({ os: one, architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) }) };
    if (KNOWN_ARCH.has(one)) return { platform: formatPlatform({ os: host.os, architecture: one }) };
    return { error: `${JSON.stringify(spec)}: unknown operating system or architecture: invalid argument` };
  }
  if (parts.length > 3) return { error: `${JSON.stringify(spec)}: cannot parse platform specifier: invalid argument` };
  const p = parsePlatform(spec);
  if (!p) return { error: `${JSON.stringify(spec)}: cannot parse platform specifier: invalid argument` };
  return { platform: formatPlatform(p) };
}
