/**
 * What the local store knows about the base images a Dockerfile names, for
 * lint's resolver: the image config's Env, Shell and platform, and the
 * distribution ID from /etc/os-release in its unpacked layers. Read-only:
 * a missing store or image just means "unknown".
 */
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../store/index.js';
import { normalizeRef } from '../build/images.js';
import type { BaseImageInfo } from '../lint/index.js';
import type { OutlineStage } from '../outline/index.js';

/** `ID=alpine` from os-release text. */
export function osReleaseId(text: string): string | undefined {
  const m = /^ID=("?)([^"\n]*)\1\s*$/m.exec(text);
  return m?.[2] || undefined;
}

function readOsRelease(store: Store, diffIds: readonly string[]): string | undefined {
  for (let i = diffIds.length - 1; i >= 0; i--) {
    const dir = store.layerDir(diffIds[i] as Parameters<Store['layerDir']>[0]);
    for (const rel of ['etc/os-release', 'usr/lib/os-release']) {
      const p = join(dir, rel);
      try {
        if (lstatSync(p).isFile()) return readFileSync(p, 'utf8');
      } catch {
        // not in this layer
      }
    }
  }
  return undefined;
}

/** Base image info for the stages' image bases found in the store at `root` (nothing when there is no store). */
export async function localBaseImages(root: string, stages: readonly OutlineStage[]): Promise<Map<string, BaseImageInfo>> {
  const out = new Map<string, BaseImageInfo>();
  if (!existsSync(join(root, 'blobs'))) return out;
  let store: Store;
  try {
    store = await Store.open(root);
  } catch {
    return out;
  }
  for (const s of stages) {
    if (s.baseStage !== undefined || s.base === 'scratch' || out.has(s.base)) continue;
    try {
      const img = await store.resolve(normalizeRef(s.base).toString());
      const c = img.config;
      const info: BaseImageInfo = {
        platform: [c.os, c.architecture, c.variant].filter((x): x is string => !!x).join('/'),
        ...(c.config?.Env ? { env: c.config.Env } : {}),
        ...(c.config?.Shell ? { shell: c.config.Shell } : {}),
        ...(c.config?.WorkingDir ? { workingDir: c.config.WorkingDir } : {}),
      };
      const osRelease = readOsRelease(store, c.rootfs.diff_ids);
      const id = osRelease !== undefined ? osReleaseId(osRelease) : undefined;
      if (id !== undefined) info.osReleaseId = id;
      out.set(s.base, info);
    } catch {
      // not in the store: unknown
    }
  }
  return out;
}
