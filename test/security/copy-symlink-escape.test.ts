/**
 * Threat: a build context or an image plants symlinks so that COPY (or USER
 * lookup) reads or writes files on the build host outside its roots.
 * Every case builds the malicious tree in code, with a sentinel directory on
 * the "host" (outside both roots) whose contents must never be read into the
 * image nor changed.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/errors.js';
import { copy } from '../../src/fs/copy.js';
import { resolveInRoot } from '../../src/fs/scoped-path.js';
import { resolveChown, resolveUser } from '../../src/fs/users.js';

const base = mkdtempSync(join(tmpdir(), 'sc-threat-'));
after(() => rmSync(base, { recursive: true, force: true }));
const host = join(base, 'host');
const SECRET = 'host-secret-do-not-copy';
let ctx: string;
let dst: string;
let n = 0;

function sentinelIntact(): void {
  assert.deepEqual(readdirSync(host).sort(), ['passwd', 'secret', 'sub']);
  assert.equal(readFileSync(join(host, 'secret'), 'utf8'), SECRET);
  assert.deepEqual(readdirSync(join(host, 'sub')), []);
}

/** Every file under dir: no regular file may hold the secret. */
function assertNoSecret(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) assertNoSecret(p);
    else if (st.isFile()) assert.notEqual(readFileSync(p, 'utf8'), SECRET, `secret leaked into ${p}`);
  }
}

beforeEach(() => {
  rmSync(host, { recursive: true, force: true });
  mkdirSync(join(host, 'sub'), { recursive: true });
  writeFileSync(join(host, 'secret'), SECRET);
  writeFileSync(join(host, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
  n++;
  ctx = join(base, `ctx${n}`);
  dst = join(base, `dst${n}`);
  mkdirSync(ctx);
  mkdirSync(dst);
});

describe('threat: context symlinks pointing outside the context', () => {
  it('a link inside a copied directory is copied as a link, never followed', async () => {
    mkdirSync(join(ctx, 'app'));
    symlinkSync(join(host, 'secret'), join(ctx, 'app/abs-link'));
    symlinkSync('../../host/secret', join(ctx, 'app/rel-link'));
    symlinkSync(host, join(ctx, 'app/dir-link'));
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['app'], dest: '/app' });
    assert.equal(readlinkSync(join(dst, 'app/abs-link')), join(host, 'secret'));
    assert.equal(readlinkSync(join(dst, 'app/rel-link')), '../../host/secret');
    assert.ok(lstatSync(join(dst, 'app/dir-link')).isSymbolicLink());
    assertNoSecret(dst);
    sentinelIntact();
  });

  it('a top-level source link to an absolute host path resolves inside the context (not found)', async () => {
    symlinkSync(join(host, 'secret'), join(ctx, 'leak'));
    await assert.rejects(copy({ srcRoot: ctx, destRoot: dst, sources: ['leak'], dest: '/x' }), (e) => isStagecraftError(e) && /not found/.test(e.message));
    assertNoSecret(dst);
  });

  it('a ../../ chain in a source link clamps at the context root', async () => {
    symlinkSync('../../../../../../../../' + relative('/', join(host, 'secret')), join(ctx, 'climb'));
    await assert.rejects(copy({ srcRoot: ctx, destRoot: dst, sources: ['climb'], dest: '/x' }), /not found/);
    // ...and when the same path exists inside the context, that is what is copied.
    mkdirSync(join(ctx, relative('/', host)), { recursive: true });
    writeFileSync(join(ctx, relative('/', join(host, 'secret'))), 'inside-context');
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['climb'], dest: '/x' });
    assert.equal(readFileSync(join(dst, 'x'), 'utf8'), 'inside-context');
  });

  it('wildcard matches that are links to the host are not followed out', async () => {
    symlinkSync(join(host, 'secret'), join(ctx, 'match-me'));
    await assert.rejects(copy({ srcRoot: ctx, destRoot: dst, sources: ['match-*'], dest: '/x/' }), /not found/);
    assertNoSecret(dst);
  });

  it('source ../ and leading / never leave the context', async () => {
    await assert.rejects(copy({ srcRoot: join(ctx), destRoot: dst, sources: ['../host/secret'], dest: '/x' }), /"\/host\/secret": not found/);
    await assert.rejects(copy({ srcRoot: ctx, destRoot: dst, sources: ['/../../../' + relative('/', join(host, 'secret'))], dest: '/x' }), /not found/);
    assertNoSecret(dst);
  });
});

describe('threat: COPY destination through symlinks in the image', () => {
  it('an absolute link in the destination path stays inside destRoot', async () => {
    writeFileSync(join(ctx, 'f'), 'payload');
    symlinkSync(join(host, 'sub'), join(dst, 'out'));
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['f'], dest: '/out/' });
    sentinelIntact();
    assert.equal(readFileSync(join(dst, relative('/', join(host, 'sub')), 'f'), 'utf8'), 'payload');
  });

  it('a ../../ link in the destination path clamps at destRoot', async () => {
    writeFileSync(join(ctx, 'f'), 'payload');
    mkdirSync(join(dst, 'a'));
    symlinkSync('../../../../../../../../../../' + relative('/', join(host, 'sub')), join(dst, 'a/up'));
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['f'], dest: '/a/up/f' });
    sentinelIntact();
    assert.ok(existsSync(join(dst, relative('/', join(host, 'sub')), 'f')));
  });

  it('a destination file that is a link to a host file is redirected inside destRoot, never written through', async () => {
    writeFileSync(join(ctx, 'f'), 'payload');
    symlinkSync(join(host, 'secret'), join(dst, 'victim'));
    await copy({ srcRoot: ctx, destRoot: dst, sources: ['f'], dest: '/victim' });
    sentinelIntact();
    assert.equal(readFileSync(join(dst, relative('/', join(host, 'secret'))), 'utf8'), 'payload');
  });

  it('inside a copied tree, a dest link to a host file is replaced, a dest link to a host dir is refused', async () => {
    mkdirSync(join(ctx, 'd/sub'), { recursive: true });
    writeFileSync(join(ctx, 'd/file'), 'payload');
    writeFileSync(join(ctx, 'd/sub/inner'), 'payload');
    mkdirSync(join(dst, 'o'));
    symlinkSync(join(host, 'secret'), join(dst, 'o/file'));
    symlinkSync(join(host, 'sub'), join(dst, 'o/sub'));
    await assert.rejects(copy({ srcRoot: ctx, destRoot: dst, sources: ['d'], dest: '/o' }), (e) => isStagecraftError(e) && /non-directory: \/o\/sub/.test(e.message));
    sentinelIntact();
    assert.equal(readFileSync(join(dst, 'o/file'), 'utf8'), 'payload');
  });

  it('a symlink loop in the destination path fails with ELOOP instead of hanging', async () => {
    writeFileSync(join(ctx, 'f'), 'payload');
    symlinkSync('b', join(dst, 'a'));
    symlinkSync('a', join(dst, 'b'));
    await assert.rejects(copy({ srcRoot: ctx, destRoot: dst, sources: ['f'], dest: '/a/f' }), /ELOOP/);
    sentinelIntact();
  });
});

describe('threat: resolveInRoot escapes', () => {
  it('a link to the host /etc/passwd resolves to the root\'s own etc/passwd', async () => {
    symlinkSync('/etc/passwd', join(dst, 'pw'));
    assert.equal(await resolveInRoot(dst, '/pw'), join(dst, 'etc/passwd'));
  });
  it('a ../../ chain clamps at the root', async () => {
    assert.equal(await resolveInRoot(dst, '/../../../../etc/passwd'), join(dst, 'etc/passwd'));
    mkdirSync(join(dst, 'x'));
    symlinkSync('../../..', join(dst, 'x/up'));
    assert.equal(await resolveInRoot(dst, '/x/up/etc/shadow'), join(dst, 'etc/shadow'));
  });
  it('symlink loops are ELOOP errors', async () => {
    symlinkSync('loop', join(dst, 'loop'));
    await assert.rejects(resolveInRoot(dst, '/loop/x'), (e) => isStagecraftError(e) && /ELOOP/.test(e.message));
  });
});

describe('threat: USER/--chown lookups reading the host\'s account files', () => {
  it('an image /etc/passwd linked to a host file reads the image\'s path instead', async () => {
    mkdirSync(join(dst, 'etc'));
    symlinkSync(join(host, 'passwd'), join(dst, 'etc/passwd'));
    await assert.rejects(resolveUser(dst, 'evil'), /unable to find user evil/);
    await assert.rejects(resolveChown(dst, 'evil'), /unable to find user evil/);
  });
  it('an image /etc linked to a host directory is resolved inside the image', async () => {
    symlinkSync(host, join(dst, 'etc'));
    await assert.rejects(resolveUser(dst, 'evil'), /unable to find user evil/);
  });
  it('an image /etc linked to itself is an ELOOP error, not a host read', async () => {
    symlinkSync('/etc', join(dst, 'etc'));
    await assert.rejects(resolveUser(dst, 'root'), /ELOOP/);
  });
});
