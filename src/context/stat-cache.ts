/**
 * A persistent map from a file's stat (size, mtime, ctime, inode) to its
 * sha256, so a no-op rebuild hashes the context without reading it.
 *
 * Stored as one JSON file at a path the caller picks (in the store). A file
 * is trusted only when size, mtimeNs, ctimeNs and ino all match. Entries for
 * files changed within RACY_WINDOW_NS of hashing are not stored ("racily
 * clean", as git calls it): a write in the same timestamp tick as our read
 * would leave the stat unchanged, so such files are read again next time.
 */
import type { BigIntStats } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const RACY_WINDOW_NS = 50_000_000n;

/** Past this many entries, a save keeps only the files hashed by this process. */
export const MAX_ENTRIES = 250_000;

let saveCounter = 0;

interface Entry {
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  sha256: string;
}

interface CacheFile {
  version: 1;
  entries: Record<string, Entry>;
}

function key(st: BigIntStats): Omit<Entry, 'sha256'> {
  return { size: String(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: String(st.ino) };
}

export class StatCache {
  private entries: Map<string, Entry>;
  private dirty = false;
  /** Files looked up or stored since load. */
  private readonly touched = new Set<string>();
  /** The save in flight: saves run one after another, so the last rename holds the newest entries. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string | undefined,
    entries: Map<string, Entry>,
  ) {
    this.entries = entries;
  }

  /** An in-memory cache that is never saved. */
  static memory(): StatCache {
    return new StatCache(undefined, new Map());
  }

  /** Load from `path`; a missing or unreadable file starts empty. */
  static async load(path: string): Promise<StatCache> {
    let entries = new Map<string, Entry>();
    try {
      const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<CacheFile>;
      if (parsed.version === 1 && parsed.entries && typeof parsed.entries === 'object') {
        entries = new Map(Object.entries(parsed.entries));
      }
    } catch {
      // No cache yet, or a corrupt one: start over (it is only a cache).
    }
    return new StatCache(path, entries);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached sha256 for `file` if its stat is unchanged. */
  lookup(file: string, st: BigIntStats): string | undefined {
    this.touched.add(file);
    const e = this.entries.get(file);
    if (!e) return undefined;
    const k = key(st);
    return e.size === k.size && e.mtimeNs === k.mtimeNs && e.ctimeNs === k.ctimeNs && e.ino === k.ino ? e.sha256 : undefined;
  }

  /** Remember a hash, unless the file changed too recently to trust its stat. */
  store(file: string, st: BigIntStats, sha256: string, readStartNs: bigint): void {
    this.touched.add(file);
    if (st.mtimeNs > readStartNs - RACY_WINDOW_NS || st.ctimeNs > readStartNs - RACY_WINDOW_NS) {
      if (this.entries.delete(file)) this.dirty = true;
      return;
    }
    this.entries.set(file, { ...key(st), sha256 });
    this.dirty = true;
  }

  /**
   * Write atomically (temp file + rename) if anything changed. Concurrent
   * callers (several COPY steps hashing one context) are queued: two writes
   * in flight could rename in either order and leave the older snapshot.
   */
  save(): Promise<void> {
    const next = this.saving.then(() => this.writeNow());
    this.saving = next.catch(() => {});
    return next;
  }

  private async writeNow(): Promise<void> {
    if (!this.path || !this.dirty) return;
    // Cleared first: a store() during the write marks it dirty again.
    this.dirty = false;
    if (this.entries.size > MAX_ENTRIES) {
      for (const k of [...this.entries.keys()]) if (!this.touched.has(k)) this.entries.delete(k);
    }
    const data: CacheFile = { version: 1, entries: Object.fromEntries(this.entries) };
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.${Date.now()}.${++saveCounter}.tmp`;
    await writeFile(tmp, JSON.stringify(data));
    await rename(tmp, this.path);
  }
}
