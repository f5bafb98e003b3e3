import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from './support/conformance.js';

/** Which internal modules each of ours may import (the one-way flow of STYLE.md). */
const ALLOWED: Record<string, string[]> = {
  // util: small helpers (edit distance, finding executables, the helper shells) on Node built-ins alone.
  util: [],
  oci: [],
  tar: ['oci', 'util'],
  store: ['oci', 'tar', 'errors', 'util'],
  archive: ['oci', 'tar', 'store', 'reference', 'errors', 'util'],
};

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
}

describe('module boundaries', () => {
  for (const [mod, allowed] of Object.entries(ALLOWED)) {
    it(`src/${mod} imports only ${allowed.length ? allowed.join(', ') : 'Node built-ins'} (plus npm packages outside oci)`, () => {
      const dir = join(repoRoot, 'src', mod);
      const bad: string[] = [];
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
        for (const spec of imports(join(dir, f))) {
          if (spec.startsWith('node:')) continue;
          if (spec.startsWith('./')) continue;
          if (spec.startsWith('../')) {
            const target = spec.slice(3).split('/')[0]!.replace(/\.js$/, '');
            if (!allowed.includes(target)) bad.push(`${f} -> ${spec}`);
            continue;
          }
          if (mod === 'oci' || mod === 'util') bad.push(`${f} -> ${spec} (${mod} is pure: Node built-ins only)`);
        }
      }
      assert.deepEqual(bad, []);
    });
  }
});
