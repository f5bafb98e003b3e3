/**
 * Table tests for the registry's configuration decisions: how each host is
 * reached (TLS mode), what certs.d holds, the keys credentials are filed
 * under, login server names, and reference edge cases Docker defines.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loginRegistry } from '../../src/cli/registry-commands.js';
import { parseReference } from '../../src/reference/index.js';
import { hostMode, readHostTls, serverKey } from '../../src/registry/index.js';

let passed = 0;
after(() => console.log(`registry config: ${passed} cases passed`));

describe('hostMode', () => {
  const tls = { ca: ['PEM'], clientCerts: [] };
  const cases: Array<[string, Parameters<typeof hostMode>[0], string]> = [
    ['a public registry is verified HTTPS', { loopback: false, insecure: false, tls: undefined }, 'https-verify'],
    ['loopback without certs.d is plain HTTP', { loopback: true, insecure: false, tls: undefined }, 'http'],
    ['loopback with a certs.d CA is verified HTTPS', { loopback: true, insecure: false, tls }, 'https-verify'],
    ['an insecure registry tries unverified HTTPS first', { loopback: false, insecure: true, tls: undefined }, 'https-insecure'],
    ['an explicitly insecure loopback registry also tries HTTPS first', { loopback: true, insecure: true, tls: undefined }, 'https-insecure'],
    ['a certs.d CA wins over --insecure-registry', { loopback: false, insecure: true, tls }, 'https-verify'],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      assert.equal(hostMode(input).kind, want);
      passed++;
    });
  }
});

describe('readHostTls', () => {
  it('reads *.crt as CAs and .cert/.key pairs as client certificates; no directory means none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-certsd-'));
    try {
      await mkdir(join(dir, 'reg.example:5000'));
      await writeFile(join(dir, 'reg.example:5000', 'ca.crt'), 'CA PEM');
      await writeFile(join(dir, 'reg.example:5000', 'client.cert'), 'CERT PEM');
      await writeFile(join(dir, 'reg.example:5000', 'client.key'), 'KEY PEM');
      assert.deepEqual(await readHostTls(dir, 'reg.example:5000'), { ca: ['CA PEM'], clientCerts: [{ cert: 'CERT PEM', key: 'KEY PEM' }] });
      assert.equal(await readHostTls(dir, 'reg.example'), undefined, 'the port is part of the directory name');
      await mkdir(join(dir, 'half'));
      await writeFile(join(dir, 'half', 'client.cert'), 'CERT PEM');
      await assert.rejects(readHostTls(dir, 'half'), /client certificate .*client.cert has no key client.key beside it/);
      await mkdir(join(dir, 'empty'));
      assert.equal(await readHostTls(dir, 'empty'), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    passed++;
  });
});

describe('credential keys', () => {
  const cases: Array<[string, string]> = [
    ['docker.io', 'https://index.docker.io/v1/'],
    ['index.docker.io', 'https://index.docker.io/v1/'],
    ['registry-1.docker.io', 'https://index.docker.io/v1/'],
    ['https://index.docker.io/v1/', 'https://index.docker.io/v1/'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['Registry.Example:443', 'registry.example:443'],
    ['https://ghcr.io', 'ghcr.io'],
  ];
  for (const [input, want] of cases) {
    it(`${input} is filed under ${want}`, () => {
      assert.equal(serverKey(input), want);
      passed++;
    });
  }
});

describe('loginRegistry', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'docker.io'],
    ['', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['localhost:5000', 'localhost:5000'],
    ['https://reg.example:5000/', 'reg.example:5000'],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${want}`, () => {
      assert.equal(loginRegistry(input), want);
      passed++;
    });
  }
  it('refuses a server with white space', () => {
    assert.throws(() => loginRegistry('reg example'), /"reg example" is not a registry host/);
    passed++;
  });
});

describe('references: edges Docker defines', () => {
  const hex = 'a'.repeat(64);
  it('keeps a tag and a digest together, and asks for the digest', () => {
    const r = parseReference(`busybox:1.36@sha256:${hex}`);
    assert.equal(r.tag, '1.36');
    assert.equal(r.manifestRef, `sha256:${hex}`);
    assert.equal(r.familiar(), `busybox:1.36@sha256:${hex}`);
    passed++;
  });
  it('accepts sha512 digests and refuses wrong lengths', () => {
    assert.equal(parseReference(`app@sha512:${'b'.repeat(128)}`).digest, `sha512:${'b'.repeat(128)}`);
    assert.throws(() => parseReference(`app@sha512:${'b'.repeat(64)}`), /sha512 digest must be 128 lowercase hex digits/);
    assert.throws(() => parseReference(`app@md5:${'b'.repeat(32)}`), /unsupported digest algorithm "md5"/);
    passed++;
  });
  it('bounds tags at 128 characters and names at 255 (normalised)', () => {
    assert.equal(parseReference(`app:${'t'.repeat(128)}`).tag, 't'.repeat(128));
    assert.throws(() => parseReference(`app:${'t'.repeat(129)}`), /tag .* is not valid/);
    const room = 255 - 'docker.io/library/'.length;
    assert.equal(parseReference('x'.repeat(room)).repository, `library/${'x'.repeat(room)}`);
    assert.throws(() => parseReference('x'.repeat(room + 1)), /longer than 255 characters/);
    passed++;
  });
  it('refuses a bare image id as a name, but takes sha256:<hex> as a name and tag like Docker', () => {
    assert.throws(() => parseReference(hex), /image id, not a repository name/);
    const r = parseReference(`sha256:${hex}`);
    assert.equal(r.repository, 'library/sha256');
    assert.equal(r.tag, hex);
    passed++;
  });
});
