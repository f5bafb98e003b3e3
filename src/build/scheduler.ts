/**
 * Runs a DAG of tasks: each starts as soon as all of its dependencies have
 * finished, with at most `concurrency` running at once. The first failure
 * aborts the signal handed to every task and rejects the whole run once the
 * running tasks have settled (so no mount or container outlives the build).
 */
export interface Task<T> {
  id: string;
  deps: string[];
  run: (signal: AbortSignal, results: ReadonlyMap<string, unknown>) => Promise<T>;
}

export async function runDag(tasks: ReadonlyArray<Task<unknown>>, opts: { concurrency: number; signal?: AbortSignal | undefined }): Promise<Map<string, unknown>> {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const t of tasks) {
    for (const d of t.deps) if (!byId.has(d)) throw new Error(`task ${t.id} depends on unknown task ${d}`);
  }
  const results = new Map<string, unknown>();
  const pending = new Set(tasks.map((t) => t.id));
  const running = new Map<string, Promise<void>>();
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (opts.signal?.aborted) controller.abort(opts.signal.reason);
  let failure: { error: unknown } | undefined;
  const limit = Math.max(1, opts.concurrency);

  try {
    while (pending.size > 0 || running.size > 0) {
      if (!failure && !controller.signal.aborted) {
        for (const id of [...pending]) {
          if (running.size >= limit) break;
          const task = byId.get(id)!;
          if (!task.deps.every((d) => results.has(d))) continue;
          pending.delete(id);
          const p = task
            .run(controller.signal, results)
            .then((value) => {
              results.set(id, value);
            })
            .catch((error: unknown) => {
              if (!failure) failure = { error };
              controller.abort(error);
            })
            .finally(() => running.delete(id));
          running.set(id, p);
        }
      }
      if (running.size === 0) {
        if (failure || controller.signal.aborted) break;
        if (pending.size > 0) throw new Error(`dependency cycle among tasks: ${[...pending].join(', ')}`);
        break;
      }
      await Promise.race(running.values());
    }
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (failure) throw failure.error;
  if (controller.signal.aborted) throw controller.signal.reason ?? new Error('build aborted');
  return results;
}

/**
 * Collapses concurrent identical work: the first caller for a key runs `fn`,
 * later callers for the same key share its promise. Identical steps in two
 * stages (same cache key) therefore run once.
 */
export class Singleflight<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  do(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}
