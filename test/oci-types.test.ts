import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  buildManifest, canonicalJson, encodeDocument, formatPlatform, HashingStream, isDigest, layerCompression, MediaType,
  normalizePlatform, parseImageConfig, parseIndex, parseManifest, parsePlatform, platformMatches, selectManifest, sha256,
  sniffCompression, toOciMediaType, type Index,
} from '../src/oci/index.js';
import { loadTestVectors, OciSchemaValidator } from './support/oci-schema.js';
import { corpusMissing } from './support/conformance.js';

describe('digests', () => {
  it('sha256 of the empty string is the well-known value', () => {
    assert.equal(sha256(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
  it('isDigest accepts only sha256:<64 lowercase hex>', () => {
    const table: Array<[string, boolean]> = [
      [sha256('x'), true], ['sha256:' + 'A'.repeat(64), false], ['sha256:' + 'a'.repeat(63), false], ['sha512:' + 'a'.repeat(128), false], ['a'.repeat(64), false],
    ];
    for (const [s, want] of table) assert.equal(isDigest(s), want, s);
  });
  it('HashingStream matches one-shot hashing for any chunking', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), async (chunks) => {
      const h = new HashingStream();
      await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), h, new Writable({ write(_c, _e, cb) { cb(); } }));
      const all = Buffer.concat(chunks);
      assert.deepEqual(h.result(), { digest: sha256(all), size: all.length });
    }), { numRuns: 50 });
  });
});

describe('canonical JSON', () => {
  it('is independent of key insertion order and drops undefined', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  });
  it('property: serialising a re-ordered copy gives identical bytes, and the result round-trips', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const reordered = JSON.parse(JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x)));
      assert.equal(canonicalJson(reordered), canonicalJson(v));
      assert.deepEqual(JSON.parse(canonicalJson(v)), JSON.parse(JSON.stringify(v)));
    }), { numRuns: 200 });
  });
});

describe('media types', () => {
  it('maps layer types to compression and Docker types to OCI', () => {
    assert.equal(layerCompression(MediaType.dockerLayerGzip), 'gzip');
    assert.equal(layerCompression(MediaType.ociLayerZstd), 'zstd');
    assert.equal(layerCompression(MediaType.ociLayer), 'none');
    assert.equal(layerCompression(MediaType.ociConfig), undefined);
    assert.equal(toOciMediaType(MediaType.dockerManifestList), MediaType.ociIndex);
  });
  it('sniffs compression from magic bytes', () => {
    assert.equal(sniffCompression(Uint8Array.from([0x1f, 0x8b, 8])), 'gzip');
    assert.equal(sniffCompression(Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
    assert.equal(sniffCompression(Buffer.from('etc/')), 'none');
  });
});

describe('platforms', () => {
  const table: Array<[string, string]> = [
    ['linux/amd64', 'linux/amd64'], ['linux/x86_64', 'linux/amd64'], ['linux/aarch64', 'linux/arm64'], ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm', 'linux/arm/v7'], ['linux/arm/6', 'linux/arm/v6'], ['LINUX/AMD64', 'linux/amd64'],
  ];
  for (const [input, want] of table) it(`${input} normalises to ${want}`, () => assert.equal(formatPlatform(parsePlatform(input)!), want));
  it('rejects malformed platform strings', () => {
    for (const bad of ['linux', 'linux/', '/amd64', 'a/b/c/d']) assert.equal(parsePlatform(bad), undefined, bad);
  });
  it('matches and selects from an index', () => {
    const d = (architecture: string, variant?: string) => ({ mediaType: MediaType.ociManifest, size: 1, digest: sha256(architecture + (variant ?? '')), platform: variant ? { os: 'linux', architecture, variant } : { os: 'linux', architecture } });
    const index: Index = { schemaVersion: 2, manifests: [d('amd64'), d('arm', 'v6'), d('arm', 'v7'), d('arm64', 'v8')] };
    assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm64' })?.digest, sha256('arm64v8'));
    assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v7' })?.digest, sha256('armv7'));
    assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v8' })?.digest, sha256('armv7'));
    assert.equal(selectManifest(index, { os: 'linux', architecture: 's390x' }), undefined);
    assert.equal(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' }), false);
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }), { os: 'linux', architecture: 'arm64' });
  });
});

describe('documents', () => {
  const config = {
    architecture: 'amd64', os: 'linux', created: '2024-01-02T03:04:05Z',
    config: { Env: ['PATH=/usr/bin'], Cmd: ['sh'], Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9 }, OnBuild: ['RUN x'], Shell: ['/bin/sh', '-c'], ExposedPorts: { '80/tcp': {} }, Labels: { a: 'b' } },
    rootfs: { type: 'layers' as const, diff_ids: [sha256('layer')] },
    history: [{ created: '2024-01-02T03:04:05Z', created_by: 'RUN x', empty_layer: false, comment: 'buildkit' }],
  };
  it('builds a manifest and config whose digests are stable and that pass the OCI schemas', { skip: corpusMissing('oci-image-spec') }, () => {
    const v = new OciSchemaValidator(loadTestVectors());
    const c = encodeDocument(config, MediaType.ociConfig);
    const m = encodeDocument(buildManifest(c.descriptor, [{ mediaType: MediaType.ociLayer, digest: sha256('layer'), size: 5 }]), MediaType.ociManifest);
    assert.deepEqual(v.validate(Buffer.from(c.raw).toString(), MediaType.ociConfig), { ok: true });
    assert.deepEqual(v.validate(Buffer.from(m.raw).toString(), MediaType.ociManifest), { ok: true });
    assert.equal(encodeDocument(JSON.parse(Buffer.from(m.raw).toString()), MediaType.ociManifest).descriptor.digest, m.descriptor.digest);
    assert.equal(parseManifest(m.raw).layers.length, 1);
    assert.equal(parseImageConfig(c.raw).config?.Healthcheck?.Interval, 1e9);
  });
  it('rejects broken documents with a message naming the field', () => {
    assert.throws(() => parseManifest('{"schemaVersion":1}'), /schemaVersion/);
    assert.throws(() => parseManifest('{"schemaVersion":2,"config":{"mediaType":"x/y","size":1,"digest":"sha256:00"},"layers":[]}'), /digest/);
    assert.throws(() => parseImageConfig('{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":["nope"]}}'), /diff_ids\[0\]/);
    assert.throws(() => parseImageConfig('{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":["NOEQUALS"]}}'), /Env/);
    assert.throws(() => parseManifest('null'), /not a JSON object/);
    assert.deepEqual(parseIndex('{"schemaVersion":2,"manifests":null}').manifests, []);
  });
});
