import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { baseKey, stepKey } from '../../src/build/cache-key.js';

describe('cache keys', () => {
  const root = baseKey({ kind: 'image', manifestDigest: 'sha256:' + 'a'.repeat(64), platform: 'linux/amd64' });

  it('are deterministic and change with every input', () => {
    const k = stepKey(root, 'RUN echo hi', ['sha256:1']);
    assert.equal(k, stepKey(root, 'RUN echo hi', ['sha256:1']));
    assert.notEqual(k, stepKey(root, 'RUN echo ho', ['sha256:1']));
    assert.notEqual(k, stepKey(root, 'RUN echo hi', ['sha256:2']));
    assert.notEqual(k, stepKey(baseKey({ kind: 'scratch' }), 'RUN echo hi', ['sha256:1']));
    assert.notEqual(root, baseKey({ kind: 'image', manifestDigest: 'sha256:' + 'a'.repeat(64), platform: 'linux/arm64' }));
  });

  it('a stage base reuses the parent stage key', () => {
    assert.equal(baseKey({ kind: 'stage', key: root }), root);
  });

  it('never collide by shifting bytes between parts', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (a, b, c) => {
        fc.pre(a + b !== '' || c !== '');
        // Moving a boundary between material and inputs must change the key.
        const k1 = stepKey(root, a + b, [c]);
        const k2 = stepKey(root, a, [b + c]);
        return b === '' || k1 !== k2;
      }),
    );
  });
});
