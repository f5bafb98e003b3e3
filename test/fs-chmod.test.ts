import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { isStagecraftError } from '../src/errors.js';
import { parseChmod } from '../src/fs/copy-chmod.js';

const scratch = mkdtempSync(join(tmpdir(), 'sc-chmod-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** What chmod(1) does, with umask 0 (as BuildKit applies symbolic modes). */
function realChmod(spec: string, mode: number, isDir: boolean): number {
  const p = join(scratch, isDir ? 'd' : 'f');
  rmSync(p, { recursive: true, force: true });
  if (isDir) mkdirSync(p);
  else writeFileSync(p, '');
  chmodSync(p, mode);
  execFileSync('sh', ['-c', `umask 0; chmod -- "$0" "$1"`, spec, p]);
  return statSync(p).mode & 0o7777;
}

describe('parseChmod', () => {
  const table: Array<[string, number, boolean, number]> = [
    ['755', 0o644, false, 0o755],
    ['0644', 0o755, true, 0o644],
    ['0', 0o777, false, 0],
    ['4755', 0o644, false, 0o4755],
    ['+x', 0o644, false, 0o755],
    ['go-w', 0o777, false, 0o755],
    ['u=rw,g=r,o=r', 0o777, false, 0o644],
    ['u=rwX,go=rX', 0o600, true, 0o755],
    ['u=rwX,go=rX', 0o600, false, 0o644],
    ['u=rwX,go=rX', 0o700, false, 0o755],
    ['a+X', 0o600, false, 0o600],
    ['a+X', 0o610, false, 0o711],
    ['g=u', 0o640, false, 0o660],
    ['o=g-w', 0o675, false, 0o675 & ~0o007 | 0o05],
  ];
  for (const [spec, from, isDir, want] of table) {
    it(`${spec} on ${isDir ? 'dir' : 'file'} ${from.toString(8)} -> ${want.toString(8)}`, () => {
      assert.equal(parseChmod(spec).apply(from, isDir).toString(8), want.toString(8));
    });
  }

  it('rejects bad values with the BuildKit message', () => {
    for (const bad of ['64a', '8', '77777', 'u+q', 'z=r', 'u=rwug']) {
      assert.throws(() => parseChmod(bad), (e) => isStagecraftError(e) && e.message.startsWith(`invalid chmod parameter: '${bad}'`));
    }
    assert.throws(() => parseChmod('64a'), { message: "invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777" });
  });

  it('property: symbolic modes agree with chmod(1)', () => {
    const clause = fc.tuple(
      fc.subarray(['u', 'g', 'o', 'a'] as const),
      fc.array(fc.tuple(fc.constantFrom('+', '-', '='), fc.oneof(fc.subarray(['r', 'w', 'x', 'X'] as const).map((a) => a.join('')), fc.constantFrom('u', 'g', 'o'))), { minLength: 1, maxLength: 2 }),
    ).map(([who, ops]) => who.join('') + ops.map(([o, p]) => o + p).join(''));
    let runs = 0;
    fc.assert(
      fc.property(fc.array(clause, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 0o777 }), fc.boolean(), (clauses, mode, isDir) => {
        const spec = clauses.join(',');
        runs++;
        assert.equal(parseChmod(spec).apply(mode, isDir).toString(8), realChmod(spec, mode, isDir).toString(8), `${spec} on ${mode.toString(8)} dir=${isDir}`);
      }),
      { numRuns: 150 },
    );
    console.log(`chmod(1) differential: ${runs}/${runs} agreed`);
  });
});
