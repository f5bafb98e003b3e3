/**
 * Builds (or confirms cached) every base image the integration tests use.
 * Usage: node --import tsx scripts/make-base-images.ts [name ...]
 */
import { baseImageNames, ensureBaseImages, type BaseImageName } from '../test/support/base-images.js';

const args = process.argv.slice(2);
const unknown = args.filter((a) => !(baseImageNames as readonly string[]).includes(a));
if (unknown.length > 0) {
  console.error(`unknown base image(s): ${unknown.join(', ')}; known: ${baseImageNames.join(', ')}`);
  process.exit(2);
}
const names = (args.length > 0 ? args : [...baseImageNames]) as BaseImageName[];
const started = Date.now();
const layouts = await ensureBaseImages(names);
for (const n of names) console.log(`${n}\t${layouts[n].ociLayout}:${layouts[n].tag}`);
console.log(`base images ready: ${names.length}/${names.length} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
