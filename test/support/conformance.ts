import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file lives in test/support/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The shared conformance corpora live beside the repository, in
 * ../shared/conformance. They are never copied into the repo. When they are
 * missing, suites say so loudly and skip with that reason.
 */
export const sharedDir = process.env.STAGECRAFT_SHARED ?? resolve(repoRoot, '..', 'shared');
export const conformanceDir = join(sharedDir, 'conformance');

export function conformancePath(...parts: string[]): string {
  return join(conformanceDir, ...parts);
}

/** Returns a skip reason when the corpus is absent, or false when it is there. */
export function corpusMissing(...parts: string[]): string | false {
  const p = conformancePath(...parts);
  if (existsSync(p)) return false;
  const reason = `conformance corpus not found at ${p} (expected ../shared/conformance beside the repository; set STAGECRAFT_SHARED to override)`;
  console.log(`# SKIP: ${reason}`);
  return reason;
}
