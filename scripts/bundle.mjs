// Bundles the command line and the library with esbuild.
//
// dist/cli.cjs: the whole command line in one CommonJS file, its npm
// dependencies included. bin/stagecraft.cjs compiles it with a V8 code cache
// (dist/cli.cjs.*.cache, written on first use), which an ES module cannot have
// on Node 20: loading and compiling a dozen modules and their package lookups
// was a third of a no-op build's time (docs/performance.md). Commands and
// large parts (registry, push, lint output) are still initialised only when
// used: esbuild turns their dynamic import() into lazy initialisers.
//
// dist/index.js: the library (ES module, dependencies left to npm).
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** Writes dist/cli.cjs and dist/index.js (with source maps) into `outdir`. */
export async function bundle(outdir = join(REPO, 'dist')) {
  await rm(outdir, { recursive: true, force: true });
  const common = { absWorkingDir: REPO, bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' };
  await Promise.all([
    // Whitespace and syntax minified (names kept, for stack traces): a third less to read and
    // hand to V8 at every start (878 -> 595 KB, ~7 ms of a no-op build's ~40 ms bundle load).
    build({ ...common, entryPoints: ['src/cli/entry.ts'], outfile: join(outdir, 'cli.cjs'), format: 'cjs', minifyWhitespace: true, minifySyntax: true }),
    build({ ...common, entryPoints: { index: 'src/index.ts' }, outdir, format: 'esm', packages: 'external' }),
  ]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle();
