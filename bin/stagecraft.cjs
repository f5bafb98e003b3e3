#!/usr/bin/env node
'use strict';
// Runs the bundled CLI (npm run build); in a checkout without dist/, or with
// STAGECRAFT_FROM_SOURCE=1 (the tests set it, so a stale dist/ is never what
// they test), runs the TypeScript sources through tsx.
//
// CommonJS, and the bundle is one CommonJS file compiled with a V8 code cache
// kept beside it: a cache made by a build run for builds, another for every
// other command, each written once (again only when V8 rejects it, e.g. after
// an upgrade of Node or of the bundle). Without a writable dist/ there is
// simply no cache. (An ES module entry costs the ES module loader's start-up,
// and ES modules cannot have a code cache on Node 20.)
// Started by bin/stagecraft, which keeps NODE_EXTRA_CA_CERTS from node's start-up: processes started from here get it back.
if (process.env.STAGECRAFT_EXTRA_CA_CERTS !== undefined && process.env.NODE_EXTRA_CA_CERTS === undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.STAGECRAFT_EXTRA_CA_CERTS;
}
// bin/stagecraft's prestarted syscall helper is this process's alone (bin/syscall-helper-stub.pl): out of
// the environment that child processes inherit (runc, tar, a nested stagecraft), into a global that src/util/syscall-helper.ts claims.
if (process.env.STAGECRAFT_HELPER_SOCKET !== undefined) {
  globalThis[Symbol.for('stagecraft.helperSocket')] = process.env.STAGECRAFT_HELPER_SOCKET;
  delete process.env.STAGECRAFT_HELPER_SOCKET;
}
const { existsSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const bundled = join(__dirname, '..', 'dist', 'cli.cjs');

// Once the command is done, nothing is left to wait for (a build has awaited its image, records,
// scratch removal and sync), and standard output and error are written synchronously to files,
// pipes and terminals on Linux. Exiting then skips node's orderly teardown of the heap and its
// handles, 10-15 ms of every build on the build VM, after the image ID is printed.
function exit() {
  process.exit();
}
const args = process.argv.slice(2);

if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  // The version alone needs none of the CLI (src/version.ts holds the same number; a test keeps them equal).
  process.stdout.write(`${JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version}\n`);
} else if (existsSync(bundled) && process.env.STAGECRAFT_FROM_SOURCE !== '1') {
  const { Script } = require('node:vm');
  const source = readFileSync(bundled, 'utf8');
  // Which cache: a misjudged word (a context directory named build) only picks the other one.
  const kind = args.includes('build') ? 'build' : 'other';
  const cachePath = `${bundled}.${kind}.cache`;
  let cachedData;
  try { cachedData = readFileSync(cachePath); } catch { /* first run */ }
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  // A cache holds the functions compiled by the run that wrote it, and loading it costs time in
  // proportion to its size; other functions compile lazily when used. A build that pulled images (a
  // cold one) or ran --no-cache runs other code than the rebuilds whose latency matters: with the
  // cache a cold build wrote, a no-op rebuild took 26 ms longer on the build VM (median of 25: 210
  // against 184 ms), an incremental one 24 ms. A cache written after loading another one holds both
  // (878 KB against 643 KB), and a no-op rebuild loading that took 10 ms longer (179 against 169 ms).
  // So a cache records the kind of build that wrote it (`.from`), and a build without --no-cache does
  // not load one written by a build that pulled or ran --no-cache: it compiles afresh, once, and
  // writes a cache of its own. A no-op rebuild's cache lacks what a step runs (the overlay, copy and
  // commit paths), which a one-file rebuild then compiled lazily: with the cache of a rebuild that
  // ran a step, such a rebuild took 8 ms less on the build VM (median of 40: 189 against 198 ms)
  // and a no-op one 2 ms more (153 against 151 ms). So the first rebuild that runs a step ('steps')
  // replaces a no-op rebuild's cache ('warm') with one that holds both, once.
  const fromPath = `${cachePath}.from`;
  let from = 'warm';
  if (kind === 'build' && cachedData !== undefined) {
    try { from = readFileSync(fromPath, 'utf8'); } catch { /* written before kinds were recorded */ }
  }
  const warm = from === 'warm' || from === 'steps';
  const useCache = kind !== 'build' || warm || args.includes('--no-cache');
  const script = new Script(wrapper, { filename: bundled, cachedData: useCache ? cachedData : undefined });
  const rewrite = cachedData === undefined || !useCache || script.cachedDataRejected;
  if (rewrite || (kind === 'build' && from === 'warm')) {
    // After the command ran, so the functions it compiled lazily are in the cache too.
    process.once('exit', () => {
      const run = globalThis[Symbol.for('stagecraft.codeCacheRun')] ?? 'warm';
      if (!rewrite && run !== 'steps') return;
      try {
        const tmp = `${cachePath}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cachePath);
        if (kind === 'build') writeFileSync(fromPath, run);
      } catch { /* read-only install: run without a cache */ }
    });
  }
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require('node:module').createRequire(bundled), mod, bundled, join(__dirname, '..', 'dist'));
  mod.exports.main(process.argv).then(exit);
} else {
  (async () => {
    const { register } = await import('tsx/esm/api');
    register();
    const { main } = await import('../src/cli/main.ts');
    await main(process.argv);
  })().then(exit);
}
