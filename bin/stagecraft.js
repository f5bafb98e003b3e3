#!/usr/bin/env node
// Runs the bundled CLI (npm run build); in a checkout without dist/, or with
// STAGECRAFT_FROM_SOURCE=1 (the tests set it, so a stale dist/ is never what
// they test), runs the TypeScript sources through tsx.
//
// The bundle is one CommonJS file compiled with a V8 code cache kept beside
// it: a cache made by a build run for builds, another for every other
// command, each written once (again only when V8 rejects it, e.g. after an
// upgrade of Node or of the bundle). Without a writable dist/ there is simply
// no cache.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundled = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
if (existsSync(bundled) && process.env.STAGECRAFT_FROM_SOURCE !== '1') {
  const source = readFileSync(bundled, 'utf8');
  // Which cache: a misjudged word (a context directory named build) only picks the other one.
  const kind = process.argv.slice(2).includes('build') ? 'build' : 'other';
  const cachePath = `${bundled}.${kind}.cache`;
  let cachedData;
  try { cachedData = readFileSync(cachePath); } catch { /* first run */ }
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new Script(wrapper, { filename: bundled, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    // After the command ran, so the functions it compiled lazily are in the cache too.
    process.once('exit', () => {
      try {
        const tmp = `${cachePath}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cachePath);
      } catch { /* read-only install: run without a cache */ }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundled), module, bundled, dirname(bundled));
  await module.exports.main(process.argv);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  await main(process.argv);
}
