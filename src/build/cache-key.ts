/**
 * Build-cache keys. A step's key is a hash of its parent's key, the step as
 * expanded (the planner's cacheMaterial) and the content digests of its inputs
 * (context files, or the key of the stage it copies from). Keys never contain
 * secret values: the planner keeps them out of cacheMaterial.
 */
import { createHash } from 'node:crypto';

const VERSION = 'stagecraft-cache-v1';

export function baseKey(base: { kind: 'scratch' } | { kind: 'image'; manifestDigest: string; platform: string } | { kind: 'stage'; key: string }): string {
  switch (base.kind) {
    case 'scratch':
      return hash([VERSION, 'scratch']);
    case 'image':
      return hash([VERSION, 'image', base.manifestDigest, base.platform]);
    case 'stage':
      return base.key;
  }
}

export function stepKey(parent: string, material: string, inputs: ReadonlyArray<string>): string {
  return hash([VERSION, 'step', parent, material, ...inputs]);
}

function hash(parts: ReadonlyArray<string>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    // Length-prefix every part so that no two part lists hash alike.
    h.update(`${Buffer.byteLength(p)}:`);
    h.update(p);
  }
  return `sha256:${h.digest('hex')}`;
}
