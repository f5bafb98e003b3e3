/**
 * Property: COPY of a whole tree is faithful (same names, types, contents,
 * link targets, modes), and the content digest of the copy equals the
 * digest of the source (it depends on what lands, not where it came from).
 */
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { hashTree } from '../src/context/tree-hash.js';
import { copy } from '../src/fs/copy.js';
import { readTree } from './support/fs-tree.js';

const base = mkdtempSync(join(tmpdir(), 'sc-copy-prop-'));
after(() => rmSync(base, { recursive: true, force: true }));

type Node = { kind: 'file'; content: string; mode: number } | { kind: 'link'; target: string } | { kind: 'dir'; mode: number; children: Record<string, Node> };

const name = fc.constantFrom('a', 'b', 'c.txt', 'd.go', 'é', 'sp ace', '.hidden', '%20');
const mode = fc.constantFrom(0o644, 0o755, 0o600, 0o4755, 0o700, 0o444);
const leaf: fc.Arbitrary<Node> = fc.oneof(
  fc.record({ kind: fc.constant('file' as const), content: fc.string({ maxLength: 40 }), mode }),
  fc.record({ kind: fc.constant('link' as const), target: fc.constantFrom('a', '../b', '/etc/passwd', 'missing', '.') }),
);
const tree = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.record({ kind: fc.constant('dir' as const), mode: fc.constantFrom(0o755, 0o700, 0o750), children: fc.dictionary(name, tie('node'), { maxKeys: 4 }) }),
  ),
})).node;

function build(path: string, node: Node): void {
  if (node.kind === 'file') {
    writeFileSync(path, node.content);
    chmodSync(path, node.mode);
  } else if (node.kind === 'link') symlinkSync(node.target, path);
  else {
    mkdirSync(path);
    for (const [k, v] of Object.entries(node.children)) build(join(path, k), v);
    chmodSync(path, node.mode);
  }
}

function modes(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of Object.keys(readTree(root))) {
    const st = lstatSync(join(root, rel));
    if (!st.isSymbolicLink()) out[rel] = (st.mode & 0o7777).toString(8);
  }
  return out;
}

describe('copy property', () => {
  it('copying a random tree is faithful, and the digest survives the copy', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.dictionary(name, tree, { minKeys: 1, maxKeys: 5 }), async (top) => {
        runs++;
        const src = join(base, `s${runs}`);
        const dst = join(base, `d${runs}`);
        mkdirSync(src);
        mkdirSync(dst);
        for (const [k, v] of Object.entries(top)) build(join(src, k), v);
        await copy({ srcRoot: src, destRoot: dst, sources: ['.'], dest: '/' });
        assert.deepEqual(readTree(dst), readTree(src));
        assert.deepEqual(modes(dst), modes(src));
        assert.equal((await hashTree(dst, ['.'])).digest, (await hashTree(src, ['.'])).digest);
      }),
      { numRuns: 40 },
    );
    console.log(`copy faithfulness property: ${runs}/${runs} random trees passed`);
  });
});
