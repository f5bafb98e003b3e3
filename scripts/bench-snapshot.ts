/**
 * Snapshot walker file-count benchmark (kaniko's case): a directory with N
 * small files (0-2 KiB, 100 per directory, some hardlinks and whiteouts), made
 * once under $BENCH_DIR (default /var/tmp/stagecraft-bench-snapshot), then
 * timed through the layer walker: digest only (what a commit does) and a full
 * tar stream to /dev/null (what regeneration does).
 *
 *   node --import tsx scripts/bench-snapshot.ts 10000 100000
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestLayerDir } from '../src/build/commit.js';
import { writeLayerFromDir } from '../src/tar/from-dir.js';

const base = process.env.BENCH_DIR ?? '/var/tmp/stagecraft-bench-snapshot';

function makeTree(n: number): string {
  const dir = join(base, `files-${n}`);
  if (existsSync(join(dir, '.done'))) return join(dir, 'upper');
  const upper = join(dir, 'upper');
  mkdirSync(upper, { recursive: true });
  let seed = 1;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const payload = Buffer.alloc(2048, 'x');
  for (let i = 0; i < n; i++) {
    const d = join(upper, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(d);
    writeFileSync(join(d, `file${i}`), payload.subarray(0, rnd() % 2048));
  }
  execFileSync('mknod', [join(upper, 'd0', 'gone'), 'c', '0', '0']);
  writeFileSync(join(dir, '.done'), '');
  return upper;
}

async function main(): Promise<void> {
  const counts = process.argv.slice(2).map(Number);
  for (const n of counts.length ? counts : [10_000, 100_000]) {
    const upper = makeTree(n);
    execFileSync('sh', ['-c', 'sync']);
    // one warm-up so both runs see a warm page cache (a step's upper was just written)
    await digestLayerDir(upper);
    let t = process.hrtime.bigint();
    const d = await digestLayerDir(upper);
    const digestS = Number(process.hrtime.bigint() - t) / 1e9;
    t = process.hrtime.bigint();
    const w = await writeLayerFromDir(upper, createWriteStream('/dev/null'));
    const tarS = Number(process.hrtime.bigint() - t) / 1e9;
    if (w.diffId !== d.diffId) throw new Error(`digest ${d.diffId} != regenerated ${w.diffId}`);
    const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
    console.log(`${n} files: commit digest ${digestS.toFixed(2)} s (${Math.round(n / digestS)} files/s), tar to /dev/null ${tarS.toFixed(2)} s (${Math.round(n / tarS)} files/s), ${(d.size / 2 ** 20).toFixed(0)} MiB tar, rss ${rss} MiB`);
  }
}

await main();
