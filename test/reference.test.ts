import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { StagecraftError } from '../src/errors.js';
import { formatReference, parseReference, Reference } from '../src/reference/index.js';

const H = 'a'.repeat(64);
const D = `sha256:${H}`;

type Row = [input: string, registry: string, repository: string, tag: string | undefined, digest: string | undefined, familiar: string];

const valid: Row[] = [
  ['busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined, 'busybox:1.36'],
  ['library/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['docker.io/library/busybox:musl', 'docker.io', 'library/busybox', 'musl', undefined, 'busybox:musl'],
  ['index.docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['index.docker.io/team/app:1', 'docker.io', 'team/app', '1', undefined, 'team/app:1'],
  ['team/app', 'docker.io', 'team/app', 'latest', undefined, 'team/app:latest'],
  ['team/sub/app:v2', 'docker.io', 'team/sub/app', 'v2', undefined, 'team/sub/app:v2'],
  ['library/team/app', 'docker.io', 'library/team/app', 'latest', undefined, 'library/team/app:latest'],
  ['localhost/app', 'localhost', 'app', 'latest', undefined, 'localhost/app:latest'],
  ['localhost:5000/app:dev', 'localhost:5000', 'app', 'dev', undefined, 'localhost:5000/app:dev'],
  ['127.0.0.1:5000/nope:latest', '127.0.0.1:5000', 'nope', 'latest', undefined, '127.0.0.1:5000/nope:latest'],
  ['registry.example.com/a/b/c', 'registry.example.com', 'a/b/c', 'latest', undefined, 'registry.example.com/a/b/c:latest'],
  ['Registry.Example.com/app', 'Registry.Example.com', 'app', 'latest', undefined, 'Registry.Example.com/app:latest'],
  ['UPPERHOST/app', 'UPPERHOST', 'app', 'latest', undefined, 'UPPERHOST/app:latest'],
  ['[::1]:5000/app', '[::1]:5000', 'app', 'latest', undefined, '[::1]:5000/app:latest'],
  ['[fe80::1]/app:1', '[fe80::1]', 'app', '1', undefined, '[fe80::1]/app:1'],
  ['foo:5000', 'docker.io', 'library/foo', '5000', undefined, 'foo:5000'],
  ['localhost:5000', 'docker.io', 'library/localhost', '5000', undefined, 'localhost:5000'],
  [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D, `busybox@${D}`],
  [`busybox:1@${D}`, 'docker.io', 'library/busybox', '1', D, `busybox:1@${D}`],
  [`host:5000/app@${D}`, 'host:5000', 'app', undefined, D, `host:5000/app@${D}`],
  [`app@sha512:${'b'.repeat(128)}`, 'docker.io', 'library/app', undefined, `sha512:${'b'.repeat(128)}`, `app@sha512:${'b'.repeat(128)}`],
  ['a.b-c--d/x__y:_tag', 'a.b-c--d', 'x__y', '_tag', undefined, 'a.b-c--d/x__y:_tag'],
  ['my_app.v2--x', 'docker.io', 'library/my_app.v2--x', 'latest', undefined, 'my_app.v2--x:latest'],
  ['app:1.0-RC_1', 'docker.io', 'library/app', '1.0-RC_1', undefined, 'app:1.0-RC_1'],
  [`app:${'t'.repeat(128)}`, 'docker.io', 'library/app', 't'.repeat(128), undefined, `app:${'t'.repeat(128)}`],
  ['foo_bar.com:8080', 'docker.io', 'library/foo_bar.com', '8080', undefined, 'foo_bar.com:8080'],
  ['xn--n3h.com/myimage:v1', 'xn--n3h.com', 'myimage', 'v1', undefined, 'xn--n3h.com/myimage:v1'],
  ['192.168.1.1:5000/x/y', '192.168.1.1:5000', 'x/y', 'latest', undefined, '192.168.1.1:5000/x/y:latest'],
  ['[2001:db8::1]:5000/repo', '[2001:db8::1]:5000', 'repo', 'latest', undefined, '[2001:db8::1]:5000/repo:latest'],
  ['docker.io/library/ubuntu:22.04', 'docker.io', 'library/ubuntu', '22.04', undefined, 'ubuntu:22.04'],
];

const invalidRows: [input: string, messagePart: RegExp][] = [
  ['', /is empty/],
  [' busybox', /white space/],
  ['Busybox', /must be lowercase/],
  ['team/App', /must be lowercase/],
  ['host:5000/App:1', /must be lowercase/],
  [H, /image id/],
  ['busybox:', /tag after ":" is empty/],
  ['busybox:-x', /tag "-x" is not valid/],
  ['busybox:.x', /tag "\.x" is not valid/],
  [`app:${'t'.repeat(129)}`, /tag .* is not valid/],
  ['busybox@sha256:abc', /digest "sha256:abc" is not valid/],
  [`busybox@sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
  [`busybox@sha256:${'a'.repeat(63)}`, /digest .* is not valid|64 lowercase hex/],
  [`busybox@md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5"/],
  ['busybox@', /digest "" is not valid/],
  ['/busybox', /empty path component|not a valid/],
  ['team//app', /empty path component/],
  ['team/app/', /empty path component/],
  ['-app', /"-app" is not a valid/],
  ['app-', /"app-" is not a valid/],
  ['a___b', /"a___b" is not a valid/],
  ['a..b', /"a\.\.b" is not a valid/],
  ['host:5000/', /repository name is empty/],
  ['a_b.com/app', /registry "a_b\.com" is not a valid/],
  ['-host.com/app', /registry "-host\.com" is not a valid/],
  ['host.com:port/app', /registry "host\.com:port" is not valid|not a valid/],
  [':tag', /repository name is empty/],
  [`registry.example.com/${'a'.repeat(240)}`, /longer than 255/],
  ['app:tag:more', /not a valid|not valid/],
  ['foo_bar.com:8080/app', /registry "foo_bar\.com:8080" is not a valid/],
  ['2001:db8::1/repo', /registry "2001:db8::1" is not a valid/],
  ['[fe80::1%eth0]:5000/repo', /registry .* is not a valid/],
  ['localhost:5000/Uppercase', /must be lowercase/],
];

let passed = 0;
const total = valid.length + invalidRows.length;
after(() => console.log(`reference table: ${passed}/${total} passed`));

describe('parseReference: valid references', () => {
  for (const [input, registry, repository, tag, digest, familiar] of valid) {
    it(JSON.stringify(input), () => {
      const r = parseReference(input);
      assert.equal(r.registry, registry);
      assert.equal(r.repository, repository);
      assert.equal(r.tag, tag);
      assert.equal(r.digest, digest);
      assert.equal(r.familiar(), familiar);
      const full = `${registry}/${repository}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
      assert.equal(r.toString(), full);
      assert.equal(String(r), full);
      // The full and familiar forms parse back to the same reference.
      assert.ok(parseReference(r.toString()).equals(r));
      assert.ok(parseReference(r.familiar()).equals(r));
      passed++;
    });
  }
});

describe('parseReference: invalid references', () => {
  for (const [input, part] of invalidRows) {
    it(JSON.stringify(input.length > 60 ? `${input.slice(0, 57)}...` : input), () => {
      assert.throws(() => parseReference(input), (e: unknown) => {
        assert.ok(e instanceof StagecraftError);
        assert.equal(e.code, 'REFERENCE');
        assert.ok(e.message.startsWith(`invalid image reference ${JSON.stringify(input)}: `), e.message);
        assert.match(e.message, part);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
      passed++;
    });
  }
});

describe('Reference helpers', () => {
  it('apiHost maps docker.io to registry-1.docker.io and leaves others', () => {
    assert.equal(parseReference('busybox').apiHost, 'registry-1.docker.io');
    assert.equal(parseReference('127.0.0.1:5000/app').apiHost, '127.0.0.1:5000');
    assert.equal(parseReference('ghcr.io/o/app').apiHost, 'ghcr.io');
  });
  it('manifestRef prefers the digest over the tag', () => {
    assert.equal(parseReference('busybox').manifestRef, 'latest');
    assert.equal(parseReference(`busybox:1@${D}`).manifestRef, D);
  });
  it('withTag / withDigest validate and return new references', () => {
    const r = parseReference(`busybox:1@${D}`);
    assert.equal(r.withTag('2').toString(), 'docker.io/library/busybox:2');
    assert.equal(parseReference('busybox').withDigest(D).toString(), `docker.io/library/busybox:latest@${D}`);
    assert.throws(() => r.withTag('-bad'), /tag "-bad" is not valid/);
    assert.throws(() => r.withDigest('sha256:zz'), /not valid/);
    assert.equal(r.toString(), `docker.io/library/busybox:1@${D}`);
  });
  it('is frozen and serialises to its full form', () => {
    const r = parseReference('team/app:1');
    assert.ok(Object.isFrozen(r));
    assert.equal(JSON.stringify({ r }), '{"r":"docker.io/team/app:1"}');
    assert.equal(formatReference({ registry: 'h:1', repository: 'x/y', tag: 't' }), 'h:1/x/y:t');
    assert.ok(r instanceof Reference);
  });
});

// ---------------------------------------------------------------------------
// Property: references generated from the grammar round-trip.

const alnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '--');
const pathComponent = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
  .map(([head, tail]) => head + tail.map(([s, a]) => s + a).join(''));
const label = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?$/);
const registryHost = fc.oneof(
  fc.tuple(label, fc.array(label, { minLength: 1, maxLength: 3 })).map(([h, t]) => [h, ...t].join('.')),
  fc.constant('localhost'),
  fc.constantFrom('[::1]', '[fe80::1]'),
);
const registry = fc.tuple(registryHost, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }))
  .map(([h, p]) => (p === undefined ? h : `${h}:${p}`));
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);

const generated = fc.record({
  registry: fc.option(registry, { nil: undefined }),
  path: fc.array(pathComponent, { minLength: 1, maxLength: 3 }),
  tag: fc.option(tag, { nil: undefined }),
  digest: fc.option(digest, { nil: undefined }),
});

describe('parseReference: properties', () => {
  it('format(parse(x)) is canonical and parse(format(parse(x))) equals parse(x)', () => {
    let runs = 0;
    fc.assert(
      fc.property(generated, (g) => {
        // Text that would read differently: a first path component that looks like a host, or Docker Hub itself.
        fc.pre(g.registry !== undefined || g.path.length === 1 || !g.path[0]!.includes('.'));
        fc.pre(g.registry !== 'docker.io' && g.registry !== 'index.docker.io');
        const name = (g.registry ? `${g.registry}/` : '') + g.path.join('/');
        const text = `${name}${g.tag !== undefined ? `:${g.tag}` : ''}${g.digest !== undefined ? `@${g.digest}` : ''}`;
        const r = parseReference(text);
        const registryOut = g.registry ?? 'docker.io';
        const repoOut = g.registry === undefined && g.path.length === 1 ? `library/${g.path[0]}` : g.path.join('/');
        assert.equal(r.registry, registryOut);
        assert.equal(r.repository, repoOut);
        assert.equal(r.tag, g.tag ?? (g.digest === undefined ? 'latest' : undefined));
        assert.equal(r.digest, g.digest);
        const again = parseReference(formatReference(r));
        assert.ok(again.equals(r));
        assert.equal(again.toString(), r.toString());
        assert.ok(parseReference(r.familiar()).equals(r));
        runs++;
      }),
      { numRuns: 500 },
    );
    console.log(`reference round-trip property: ${runs} generated references passed`);
  });

  it('never throws anything but a REFERENCE error on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const r = parseReference(s);
          assert.ok(parseReference(r.toString()).equals(r));
        } catch (e) {
          assert.ok(e instanceof StagecraftError && e.code === 'REFERENCE', String(e));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
