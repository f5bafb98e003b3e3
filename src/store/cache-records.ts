import { readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, sha256 } from '../oci/digest.js';
import { writeFileAtomic } from './atomic.js';

/** Build-cache records: `<root>/cache/<sha256(key)>.json` holding {key, value}. */
export class CacheRecords {
  readonly dir: string;
  readonly #tmp: string;

  constructor(root: string, tmpDir: string) {
    this.dir = join(root, 'cache');
    this.#tmp = tmpDir;
  }

  #path(key: string): string {
    return join(this.dir, `${digestHex(sha256(key))}.json`);
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    try {
      // Synchronous: a record is a few hundred bytes, and a rebuild looks them up one step after
      // another, where a thread-pool round trip costs ~10x the read (docs/performance.md).
      const rec = JSON.parse(readFileSync(this.#path(key), 'utf8')) as { key: string; value: T };
      return rec.key === key ? rec.value : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Not fsynced: what a record names is synced before it is written (a build
   * syncs the store first), and a record lost to a crash, or left empty or
   * torn by one, is a cache miss (get() treats unreadable records as absent).
   */
  async put(key: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.#path(key), JSON.stringify({ key, value }), this.#tmp, undefined, { durable: false });
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  /** Every record's value (for garbage collection roots). */
  async *values(): AsyncGenerator<unknown> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      try {
        yield (JSON.parse(await readFile(join(this.dir, n), 'utf8')) as { value: unknown }).value;
      } catch { /* a torn record cannot exist (atomic writes); skip anything foreign */ }
    }
  }

  async clear(): Promise<number> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.map((n) => rm(join(this.dir, n), { force: true })));
    return names.length;
  }
}
