/**
 * Pure parts of secrets and ADD sources, table-driven and property-based:
 * `--secret` / `--ssh` flag parsing as `docker build` takes them, where a
 * secret's value is looked up (without ever putting it in a message), and
 * the names ADD gives to URL and git sources.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildSecrets, parseSecretFlag, parseSshFlag, type SecretSpec } from '../../src/build/secrets.js';
import { gitFragment, redact, remoteKind, urlFileName } from '../../src/build/add-sources.js';

let passed = 0;
const TOTAL = 5;

describe('secret and ADD source parsing', () => {
  it('--secret and --ssh values', () => {
    const ok: Array<[string, SecretSpec]> = [
      ['id=aws,src=/x/creds', { id: 'aws', source: { kind: 'file', path: '/x/creds' } }],
      ['id=aws,source=/x/creds,type=file', { id: 'aws', source: { kind: 'file', path: '/x/creds' } }],
      ['id=tok,env=GH_TOKEN', { id: 'tok', source: { kind: 'env', name: 'GH_TOKEN' } }],
      ['id=tok,type=env,src=GH_TOKEN', { id: 'tok', source: { kind: 'env', name: 'GH_TOKEN' } }],
      ['env=GH_TOKEN', { id: 'GH_TOKEN', source: { kind: 'env', name: 'GH_TOKEN' } }],
      ['src=/run/keys/deploy.pem', { id: 'deploy.pem', source: { kind: 'file', path: '/run/keys/deploy.pem' } }],
      ['id=API_KEY', { id: 'API_KEY', source: { kind: 'auto' } }],
      ['id=k,type=file', { id: 'k', source: { kind: 'file', path: 'k' } }],
    ];
    for (const [text, want] of ok) assert.deepEqual(parseSecretFlag(text), want, text);
    const bad: Array<[string, RegExp]> = [
      ['id=a,src=/f,env=B', /both src= and env=/],
      ['id=a,bogus=1', /unexpected key "bogus"/],
      ['type=file', /needs an id/],
      ['id=a,type=socket', /unsupported secret type "socket"/],
      ['id', /expected key=value/],
    ];
    for (const [text, re] of bad) assert.throws(() => parseSecretFlag(text), re, text);
    assert.deepEqual(parseSshFlag('default'), { id: 'default', paths: [] });
    assert.deepEqual(parseSshFlag('default=/a.sock,/b.sock'), { id: 'default', paths: ['/a.sock', '/b.sock'] });
    assert.deepEqual(parseSshFlag('deploy=/run/agent'), { id: 'deploy', paths: ['/run/agent'] });
    assert.throws(() => parseSshFlag('=x'), /invalid --ssh/);
    assert.throws(() => parseSshFlag('a b'), /invalid --ssh/);
    passed++;
  });

  it('--secret id/src round-trips for any id and path without commas', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9_./-]{1,20}$/);
    fc.assert(fc.property(word, word, (id, src) => {
      assert.deepEqual(parseSecretFlag(`id=${id},src=${src}`), { id, source: { kind: 'file', path: src } });
      assert.deepEqual(parseSecretFlag(`src=${src},id=${id}`), { id, source: { kind: 'file', path: src } });
    }));
    passed++;
  });

  it('secret values: file, env, auto (env first, then the file named like the id); messages never hold a value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-secret-unit-'));
    try {
      const value = 'value-that-must-not-be-printed';
      await writeFile(join(dir, 'f'), value);
      const s = new BuildSecrets(
        [parseSecretFlag(`id=f,src=${join(dir, 'f')}`), parseSecretFlag('id=e,env=SC_UNIT_E'), parseSecretFlag('id=SC_UNIT_AUTO'), parseSecretFlag('id=unset,env=SC_UNIT_UNSET'), parseSecretFlag(`id=gone,src=${join(dir, 'gone')}`)],
        [parseSshFlag('default')],
        { SC_UNIT_E: value, SC_UNIT_AUTO: value },
      );
      assert.equal((await s.secret('f'))?.toString(), value);
      assert.equal((await s.secret('e'))?.toString(), value);
      assert.equal((await s.secret('SC_UNIT_AUTO'))?.toString(), value);
      assert.equal(await s.secret('nope'), undefined);
      await assert.rejects(s.secret('unset'), (e: Error) => /SC_UNIT_UNSET is not set/.test(e.message) && !e.message.includes(value));
      await assert.rejects(s.secret('gone'), /is not a readable file/);
      assert.throws(() => s.sshSockets('default'), /SSH_AUTH_SOCK is not set/);
      assert.equal(s.sshSockets('other'), undefined);
      assert.deepEqual(new BuildSecrets([], [parseSshFlag('default')], { SSH_AUTH_SOCK: '/s' }).sshSockets('default'), ['/s']);
      await writeFile(join(dir, 'big'), Buffer.alloc(600 * 1024));
      await assert.rejects(new BuildSecrets([parseSecretFlag(`id=big,src=${join(dir, 'big')}`)]).secret('big'), /larger than/);
      passed++;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ADD source kinds and URL file names', () => {
    const kinds: Array<[string, ReturnType<typeof remoteKind>]> = [
      ['http://example.com/foobar', 'url'],
      ['https://example.com/a/b.tar.gz', 'url'],
      ['https://github.com/moby/buildkit.git#v0.10.1', 'git'],
      ['git@github.com:user/repo.git', 'git'],
      ['git://host/repo', 'git'],
      ['ssh://git@host/repo', 'git'],
      ['file.txt', undefined],
      ['./http://x', undefined],
    ];
    for (const [src, want] of kinds) assert.equal(remoteKind(src), want, src);
    const names: Array<[string, string]> = [
      ['http://example.com/foobar', 'foobar'],
      ['http://example.com/dir/file.tar.gz?x=1#frag', 'file.tar.gz'],
      ['http://example.com', '__unnamed__'],
      ['http://example.com/', '__unnamed__'],
      ['http://example.com/a%20b', 'a b'],
    ];
    for (const [src, want] of names) assert.equal(urlFileName(src), want, src);
    // Credentials in a source URL never reach a message.
    assert.equal(redact('https://user:s3cret@example.com/r.git#main'), 'https://***@example.com/r.git#main');
    assert.equal(redact('https://example.com/a@b'), 'https://example.com/a@b');
    assert.equal(redact('git@github.com:u/r.git'), 'git@github.com:u/r.git');
    passed++;
  });

  it('git fragments: #ref and #ref:subdir', () => {
    assert.deepEqual(gitFragment('https://h/r.git'), { remote: 'https://h/r.git', ref: '', subdir: '' });
    assert.deepEqual(gitFragment('https://h/r.git#v0.14.1:docs'), { remote: 'https://h/r.git', ref: 'v0.14.1', subdir: 'docs' });
    assert.deepEqual(gitFragment('git@h:u/r.git#main'), { remote: 'git@h:u/r.git', ref: 'main', subdir: '' });
    assert.deepEqual(gitFragment('git@h:u/r.git#:sub/dir'), { remote: 'git@h:u/r.git', ref: '', subdir: 'sub/dir' });
    passed++;
  });

  it('summary', () => {
    console.log(`secret and ADD source parsing: ${passed}/${TOTAL} passed`);
    assert.equal(passed, TOTAL);
  });
});
