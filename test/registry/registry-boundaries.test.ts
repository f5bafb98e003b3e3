/**
 * The registry and reference modules keep to their place in the flow:
 * reference is pure (no Node I/O, only errors); registry talks HTTP and reads
 * Docker's config but never reaches into the store, the build or the CLI
 * (push takes the store through the small LocalImages interface). Also:
 * chunked uploads re-slice any stream into exact chunks.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { chunks } from '../../src/registry/push.js';
import { repoRoot } from '../support/conformance.js';

const ALLOWED: Record<string, { internal: string[]; node: boolean }> = {
  reference: { internal: ['errors'], node: false },
  // util: helpers on Node built-ins alone (the lazy built-in loader among them).
  registry: { internal: ['errors', 'oci', 'reference', 'util'], node: true },
};

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
}

let passed = 0;
after(() => console.log(`registry boundaries and chunks: ${passed}/3 passed`));

describe('registry and reference boundaries', () => {
  for (const [mod, rule] of Object.entries(ALLOWED)) {
    it(`src/${mod} imports only ${rule.internal.join(', ')}${rule.node ? ' and Node built-ins' : ''}`, () => {
      const dir = join(repoRoot, 'src', mod);
      const bad: string[] = [];
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
        for (const spec of imports(join(dir, f))) {
          if (spec.startsWith('./')) continue;
          if (spec.startsWith('node:')) {
            if (!rule.node) bad.push(`${f} -> ${spec} (pure module)`);
            continue;
          }
          if (spec.startsWith('../')) {
            const target = spec.slice(3).split('/')[0]!.replace(/\.js$/, '');
            if (!rule.internal.includes(target)) bad.push(`${f} -> ${spec}`);
            continue;
          }
          bad.push(`${f} -> ${spec} (no npm packages here)`);
        }
      }
      assert.deepEqual(bad, []);
      passed++;
    });
  }
});

describe('chunks', () => {
  it('re-slices any stream into chunks of exactly the size asked (the last may be shorter), losing nothing', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
      fc.integer({ min: 1, max: 200 }),
      async (parts, size) => {
        const input = Buffer.concat(parts.map((p) => Buffer.from(p)));
        const out: Uint8Array[] = [];
        for await (const c of chunks(Readable.from(parts.map((p) => Buffer.from(p))), size)) out.push(c);
        assert.ok(Buffer.concat(out).equals(input));
        out.slice(0, -1).forEach((c) => assert.equal(c.byteLength, size));
        if (out.length > 0) {
          const last = out.at(-1)!.byteLength;
          assert.ok(last > 0 && last <= size);
        }
        assert.equal(out.length, Math.ceil(input.length / size));
      },
    ), { numRuns: 200 });
    passed++;
  });
});
