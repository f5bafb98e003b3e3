import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { humanSize, leftBehindPercent, sizeSummary } from '../../src/report/size.js';

describe('humanSize', () => {
  const cases: Array<[number, string]> = [
    [0, '0 B'], [999, '999 B'], [1000, '1 kB'], [1536, '1.54 kB'], [96_200_000, '96.2 MB'],
    [512_000_000, '512 MB'], [1_250_000_000, '1.25 GB'],
  ];
  for (const [n, s] of cases) it(`${n} -> ${s}`, () => assert.equal(humanSize(n), s));
});

describe('sizeSummary', () => {
  it('reports each stage, the final image and what it left behind', () => {
    const lines = sizeSummary(
      [
        { name: 'builder', size: 512_000_000, layers: 6, builtLayers: 3 },
        { name: 'runner', size: 96_000_000, layers: 4, builtLayers: 2 },
      ],
      { ref: 'myapp:1.0', stage: 'runner', size: 96_000_000, copiedFrom: [{ stage: 'builder', bytes: 12_000_000 }] },
    );
    assert.deepEqual(lines, [
      'Stages:',
      '  builder     512 MB  6 layers, 3 built',
      '  runner       96 MB  4 layers, 2 built  (final)',
      'Final image myapp:1.0: 96 MB',
      '  builder 512 MB -> runner 96 MB (81% left behind; copied 12 MB from builder)',
    ]);
  });

  it('counts stages read through RUN --mount=from: mounted only, copied and mounted, several, in order of first use', () => {
    const stages = [
      { name: 'deps', size: 300_000_000, layers: 3, builtLayers: 1 },
      { name: 'builder', size: 512_000_000, layers: 6, builtLayers: 3 },
      { name: 'final', size: 96_000_000, layers: 4, builtLayers: 2 },
    ];
    const cases: Array<{ copied: Array<{ stage: string; bytes: number }>; mounted: Array<{ stage: string }>; want: string[] }> = [
      { copied: [], mounted: [{ stage: 'builder' }], want: ['  builder 512 MB -> final 96 MB (81% left behind; read through RUN --mount, nothing copied)'] },
      {
        copied: [{ stage: 'builder', bytes: 1_000_000 }, { stage: 'builder', bytes: 500_000 }],
        mounted: [{ stage: 'builder' }, { stage: 'builder' }],
        want: ['  builder 512 MB -> final 96 MB (81% left behind; copied 1.5 MB from builder, and read it through RUN --mount)'],
      },
      {
        copied: [{ stage: 'builder', bytes: 12_000_000 }],
        mounted: [{ stage: 'deps' }],
        want: [
          '  builder 512 MB -> final 96 MB (81% left behind; copied 12 MB from builder)',
          '  deps 300 MB -> final 96 MB (68% left behind; read through RUN --mount, nothing copied)',
        ],
      },
      { copied: [], mounted: [{ stage: 'unknown' }], want: [] },
    ];
    for (const c of cases) {
      const lines = sizeSummary(stages, { ref: undefined, stage: 'final', size: 96_000_000, copiedFrom: c.copied, mountedFrom: c.mounted });
      assert.deepEqual(lines.slice(5), c.want, JSON.stringify(c));
      assert.equal(lines[4], 'Final image (untagged): 96 MB');
    }
  });

  it('never reports a negative share', () => {
    assert.equal(leftBehindPercent(10, 20), 0);
    assert.equal(leftBehindPercent(0, 20), 0);
    assert.equal(leftBehindPercent(100, 19), 81);
  });
});
