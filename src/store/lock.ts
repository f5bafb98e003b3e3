import { rmSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { StagecraftError } from '../errors.js';

/** Whether process `pid` exists (EPERM: it exists but is not ours). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock between stagecraft processes (a lock file holding the owner's pid,
 * created with O_EXCL; a lock whose owner died is taken over) and between
 * async callers in this process (a promise queue).
 */
export class StoreLock {
  readonly #path: string;
  readonly #timeoutMs: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string, timeoutMs = 60_000) {
    this.#path = path;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs fn while holding the lock. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(async () => {
      await this.#acquire();
      try {
        return await fn();
      } finally {
        rmSync(this.#path, { force: true });
      }
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #acquire(): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      try {
        // Synchronous, as the release below: microseconds, where the thread pool took a millisecond or more.
        writeFileSync(this.#path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = Number((await readFile(this.#path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !alive(owner)) {
        // The owner died holding the lock; take it over (another waiter may race us: O_EXCL decides).
        await rm(this.#path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new StagecraftError('STORE', `the image store is locked by process ${owner || 'unknown'} (${this.#path})`, { hint: 'wait for the other stagecraft command to finish, or remove the lock file if that process is gone' });
      }
      await sleep(20 + Math.random() * 30);
    }
  }
}
