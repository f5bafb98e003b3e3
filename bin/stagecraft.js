#!/usr/bin/env node
// Runs the bundled CLI (npm run build); in a checkout without dist/, or with
// STAGECRAFT_FROM_SOURCE=1 (the tests set it, so a stale dist/ is never what
// they test), runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundled = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (existsSync(bundled) && process.env.STAGECRAFT_FROM_SOURCE !== '1') {
  const { main } = await import(bundled);
  await main(process.argv);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  await main(process.argv);
}
