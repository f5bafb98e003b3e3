import type { Descriptor, Index, Platform } from './types.js';

/** Node's `process.arch` names mapped to OCI architecture names. */
const NODE_ARCH: Record<string, string> = {
  x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle',
};

/** The platform for a Node `process.platform`/`process.arch` pair (callers pass them in; this module reads no globals). */
export function platformFromNode(nodePlatform: string, nodeArch: string): Platform {
  const os = nodePlatform === 'win32' ? 'windows' : nodePlatform;
  return normalizePlatform({ os, architecture: NODE_ARCH[nodeArch] ?? nodeArch });
}

/**
 * Canonical spelling: x86_64→amd64, aarch64→arm64, arm64 drops the default
 * variant v8, arm defaults to v7, variants lower-cased.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  switch (architecture) {
    case 'x86_64': case 'x86-64': architecture = 'amd64'; break;
    case 'aarch64': architecture = 'arm64'; break;
    case 'armhf': architecture = 'arm'; variant ??= 'v7'; break;
    case 'armel': architecture = 'arm'; variant ??= 'v6'; break;
    case 'i386': case 'i686': architecture = '386'; break;
  }
  if (architecture === 'arm64' && (variant === 'v8' || variant === '8')) variant = undefined;
  if (architecture === 'arm') {
    if (variant === undefined || variant === '') variant = 'v7';
    else if (/^\d+$/.test(variant)) variant = `v${variant}`;
  }
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features']) out['os.features'] = [...p['os.features']];
  return out;
}

/** Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`). Returns undefined when malformed. */
export function parsePlatform(s: string): Platform | undefined {
  const parts = s.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return n.variant ? `${n.os}/${n.architecture}/${n.variant}` : `${n.os}/${n.architecture}`;
}

/** Does an image built for `have` satisfy a request for `want`? (Exact after normalisation; a want without variant accepts any variant.) */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  if (w.variant !== undefined && w.variant !== h.variant) return false;
  if (w['os.version'] !== undefined && w['os.version'] !== h['os.version']) return false;
  return true;
}

/** The manifest in an index for a platform: exact variant preferred, else the first compatible one. */
export function selectManifest(index: Index, want: Platform): Descriptor | undefined {
  const wn = normalizePlatform(want);
  const candidates = index.manifests.filter((d) => d.platform !== undefined && platformMatches({ os: wn.os, architecture: wn.architecture }, d.platform));
  const exact = candidates.find((d) => d.platform !== undefined && normalizePlatform(d.platform).variant === wn.variant);
  if (exact) return exact;
  if (wn.variant === undefined) return candidates[0];
  // arm/v7 can run v6 and v5 images: take the highest variant not above the request.
  const level = (v: string | undefined): number => Number(v?.replace(/^v/, '') ?? 0);
  return candidates
    .filter((d) => level(normalizePlatform(d.platform!).variant) <= level(wn.variant))
    .sort((a, b) => level(normalizePlatform(b.platform!).variant) - level(normalizePlatform(a.platform!).variant))[0];
}
