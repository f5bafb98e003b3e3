import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const found = new Map<string, string | undefined>();

/** Absolute path of an executable on PATH, or undefined (remembered for the process). */
export function findExecutable(name: string): string | undefined {
  if (found.has(name)) return found.get(name);
  let hit: string | undefined;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    try { accessSync(join(dir, name), constants.X_OK); hit = join(dir, name); break; } catch { /* next */ }
  }
  found.set(name, hit);
  return hit;
}
