/**
 * Pure parts of the registry command line: `--chunk-size` values and the
 * client options the registry flags make (which config dir, certs dir,
 * mirrors and insecure hosts a build or push gets).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseChunkSize } from '../src/cli/registry-cli.js';
import { isStagecraftError } from '../src/errors.js';
import { registryClientOptions } from '../src/registry/index.js';

let passed = 0;
after(() => console.log(`cli registry flags: ${passed} cases passed`));

describe('--chunk-size', () => {
  const good: Array<[string, number]> = [
    ['1', 1], ['65536', 65536], ['64k', 64 * 1024], ['64KiB', 64 * 1024], ['5MiB', 5 * 1024 * 1024], ['5m', 5 * 1024 * 1024], [' 7 ', 7], ['2 MB', 2 * 1024 * 1024],
  ];
  for (const [text, want] of good) {
    it(`"${text}" is ${want} bytes`, () => {
      assert.equal(parseChunkSize(text), want);
      passed++;
    });
  }
  const bad = ['0', '-1', '', 'x', '1.5', '5G', '1e3', '0k', '99999999999999999999'];
  for (const text of bad) {
    it(`"${text}" is a usage error naming the flag`, () => {
      assert.throws(() => parseChunkSize(text), (e: unknown) => isStagecraftError(e) && e.code === 'USAGE' && e.message.includes('--chunk-size') && e.message.includes(JSON.stringify(text)));
      passed++;
    });
  }
  it('absent stays absent (monolithic uploads)', () => {
    assert.equal(parseChunkSize(undefined), undefined);
    passed++;
  });
  it('any positive whole number of bytes, KiB or MiB round-trips', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.constantFrom(['', 1], ['k', 1024], ['KiB', 1024], ['M', 1024 * 1024], ['MiB', 1024 * 1024]), (n, [suffix, unit]) => {
      assert.equal(parseChunkSize(`${n}${suffix as string}`), n * (unit as number));
    }));
    passed++;
  });
});

describe('registryClientOptions', () => {
  it('passes insecure hosts and mirrors through; certs dir from the flag, else STAGECRAFT_CERTS_DIR, else the client default', () => {
    const o = registryClientOptions({ insecureRegistry: ['a:5000'], registryMirror: ['https://m.example'], certsDir: '/flag' }, { STAGECRAFT_CERTS_DIR: '/env' });
    assert.deepEqual(o.insecureRegistries, ['a:5000']);
    assert.deepEqual(o.registryMirrors, ['https://m.example']);
    assert.equal(o.certsDir, '/flag');
    assert.equal(registryClientOptions({}, { STAGECRAFT_CERTS_DIR: '/env' }).certsDir, '/env');
    assert.equal(registryClientOptions({}, {}).certsDir, undefined);
    assert.deepEqual(registryClientOptions({ insecureRegistry: undefined, registryMirror: undefined }, {}).registryMirrors, []);
    assert.equal(typeof registryClientOptions({}, {}).credentials, 'function');
    passed++;
  });
});
