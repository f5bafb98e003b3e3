import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runDag, Singleflight, type Task } from '../../src/build/scheduler.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runDag', () => {
  it('starts a task only after its dependencies and returns every result', async () => {
    const order: string[] = [];
    const task = (id: string, deps: string[], ms: number): Task<unknown> => ({
      id,
      deps,
      run: async (_s, results) => {
        for (const d of deps) assert.ok(results.has(d), `${id} started before ${d} finished`);
        order.push(`start ${id}`);
        await sleep(ms);
        order.push(`end ${id}`);
        return id.toUpperCase();
      },
    });
    const res = await runDag([task('c', ['a', 'b'], 1), task('a', [], 20), task('b', [], 5)], { concurrency: 4 });
    assert.deepEqual([...res.entries()].sort(), [['a', 'A'], ['b', 'B'], ['c', 'C']]);
    assert.ok(order.indexOf('start c') > order.indexOf('end a'));
    assert.ok(order.indexOf('start c') > order.indexOf('end b'));
  });

  it('runs independent tasks concurrently up to the bound and never beyond it', async () => {
    let running = 0;
    let peak = 0;
    const tasks: Task<unknown>[] = Array.from({ length: 6 }, (_, i) => ({
      id: `t${i}`,
      deps: [],
      run: async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(10);
        running--;
      },
    }));
    await runDag(tasks, { concurrency: 2 });
    assert.equal(peak, 2);
  });

  it('aborts the others and rejects with the first failure', async () => {
    let sawAbort = false;
    const tasks: Task<unknown>[] = [
      { id: 'bad', deps: [], run: async () => { await sleep(5); throw new Error('boom'); } },
      {
        id: 'slow', deps: [], run: (signal) => new Promise((_, reject) => {
          signal.addEventListener('abort', () => { sawAbort = true; reject(new Error('aborted')); });
        }),
      },
      { id: 'after', deps: ['bad'], run: async () => assert.fail('must not run') },
    ];
    await assert.rejects(runDag(tasks, { concurrency: 4 }), /boom/);
    assert.equal(sawAbort, true);
  });

  it('rejects unknown dependencies', async () => {
    await assert.rejects(runDag([{ id: 'a', deps: ['zz'], run: async () => 1 }], { concurrency: 1 }), /unknown task zz/);
  });
});

describe('Singleflight', () => {
  it('runs identical concurrent work once', async () => {
    const sf = new Singleflight<number>();
    let calls = 0;
    const fn = async () => { calls++; await sleep(5); return 42; };
    const [a, b] = await Promise.all([sf.do('k', fn), sf.do('k', fn)]);
    assert.equal(a, 42);
    assert.equal(b, 42);
    assert.equal(calls, 1);
    await sf.do('k', fn);
    assert.equal(calls, 2, 'a finished key runs again');
  });
});
