import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isStagecraftError } from '../src/errors.js';
import { cleanPath, isInside, resolveInRoot, resolvePartsInRoot } from '../src/fs/scoped-path.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'sc-scoped-'));
  await mkdir(join(root, 'usr/lib'), { recursive: true });
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await symlink('usr/lib', join(root, 'lib'));          // relative
  await symlink('/usr/lib', join(root, 'lib64'));       // absolute: means root/usr/lib
  await symlink('../../../../etc', join(root, 'usr/up')); // climbs past root
  await symlink('/etc/passwd', join(root, 'pw'));       // host path if followed naively
  await symlink('loop2', join(root, 'loop1'));
  await symlink('loop1', join(root, 'loop2'));
  await symlink('self/x', join(root, 'self'));
  await symlink('missing/deeper', join(root, 'dangling'));
});
after(async () => rm(root, { recursive: true, force: true }));

describe('resolveInRoot', () => {
  const cases: Array<[string, string, boolean?]> = [
    ['/', ''],
    ['', ''],
    ['/usr/lib', 'usr/lib'],
    ['usr/lib', 'usr/lib'],
    ['/lib/x', 'usr/lib/x'],
    ['/lib64/x', 'usr/lib/x'],
    ['/lib', 'usr/lib'],
    ['/lib', 'lib', false],
    ['/usr/up/passwd', 'etc/passwd'],
    ['/pw', 'etc/passwd'],
    ['/pw', 'pw', false],
    ['/../../etc/passwd', 'etc/passwd'],
    ['/a/../../b', 'b'],
    ['/lib/../share', 'usr/share'],
    ['/dangling', 'missing/deeper'],
    ['/new/dir/../file', 'new/file'],
    ['/etc/passwd/x', 'etc/passwd/x'],
    // climbing back out of a missing dir resumes the lookup: the link is still followed inside the root
    ['/missing/../pw', 'etc/passwd'],
    ['/missing/deeper/../../lib64/x', 'usr/lib/x'],
    ['/missing/../lib', 'lib', false],
  ];
  for (const [input, want, follow] of cases) {
    it(`${JSON.stringify(input)}${follow === false ? ' (no final follow)' : ''} -> root/${want}`, async () => {
      const got = await resolveInRoot(root, input, follow === false ? { followFinal: false } : {});
      assert.equal(got, want === '' ? root : join(root, want));
    });
  }

  it('symlink loops fail with ELOOP as a StagecraftError', async () => {
    for (const p of ['/loop1', '/loop2/x', '/self']) {
      await assert.rejects(resolveInRoot(root, p), (e) => isStagecraftError(e) && /ELOOP/.test(e.message));
    }
  });

  it('missingFrom says where the existing part ends', async () => {
    const cases: Array<[string, string, number]> = [
      ['/etc', 'etc', 1],
      ['/usr/lib/new/x', 'usr/lib/new/x', 2],
      ['/lib/new', 'usr/lib/new', 2],
      ['/new/../etc/passwd', 'etc/passwd', 2],
      ['/etc/passwd/x', 'etc/passwd/x', 2],
      ['/dangling/y', 'missing/deeper/y', 0],
      ['/', '', 0],
    ];
    for (const [input, parts, missingFrom] of cases) {
      assert.deepEqual(await resolvePartsInRoot(root, input), { parts: parts === '' ? [] : parts.split('/'), missingFrom }, input);
    }
  });

  it('property: any path resolves inside the root, through no symlink the kernel would follow', async () => {
    const comp = fc.constantFrom('..', '.', 'lib', 'lib64', 'usr', 'up', 'pw', 'etc', 'dangling', 'x', '', 'missing');
    await fc.assert(
      fc.asyncProperty(fc.array(comp, { maxLength: 10 }), fc.boolean(), fc.boolean(), async (parts, abs, follow) => {
        const p = (abs ? '/' : '') + parts.join('/');
        const got = await resolveInRoot(root, p, { followFinal: follow });
        assert.ok(isInside(root, got), `${p} -> ${got}`);
        const { parts: comps } = await resolvePartsInRoot(root, p, { followFinal: follow });
        assert.equal(join(root, ...comps), got);
        const checked = follow ? comps.length : comps.length - 1;
        for (let i = 1; i <= checked; i++) {
          const st = await lstat(join(root, ...comps.slice(0, i))).catch(() => undefined);
          assert.ok(!st?.isSymbolicLink(), `${p} -> ${got} goes through the symlink ${comps.slice(0, i).join('/')}`);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('property: cleanPath is absolute, has no dot components and is idempotent', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('..', '.', 'a', 'b', ''), { maxLength: 12 }), (parts) => {
        const c = cleanPath(parts.join('/'));
        assert.ok(c.startsWith('/'));
        assert.ok(!c.split('/').some((x) => x === '.' || x === '..'));
        assert.equal(cleanPath(c), c);
      }),
      { numRuns: 500 },
    );
  });
});
