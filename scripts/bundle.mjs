// Bundles the CLI and the library with esbuild. Commands are imported lazily,
// so code splitting keeps `stagecraft --version` from loading the build engine.
import { build } from 'esbuild';

await build({
  entryPoints: { cli: 'src/cli/entry.ts', index: 'src/index.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
