/**
 * Overlay mounts for real: many layers with long paths (the 4 KiB option
 * limit), read-only mounts, empty lowers, clear errors, no mounts left behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../support/conformance.js';
import { mountOverlay, mountsUnder, withOverlay, MAX_LOWER_LAYERS } from '../../src/fs/overlay.js';
import { isStagecraftError } from '../../src/errors.js';
import { assertNothingMounted, rootSkipReason, tempDir } from './runtime-fixtures.js';

const skip = rootSkipReason();
let passed = 0;
const TOTAL = 12;

describe('overlay mounts', { skip }, () => {
  let base: string;
  before(async () => { base = await tempDir('ovl'); });
  after(async () => {
    await assertNothingMounted(base);
    await fs.rm(base, { recursive: true, force: true });
    console.log(`overlay mounts: ${passed}/${TOTAL} passed`);
  });

  it('mounts 150 layers whose paths are far longer than the 4 KiB option limit', async () => {
    const deep = path.join(base, 'x'.repeat(60), 'layers-with-a-rather-long-directory-name');
    const lowers: string[] = [];
    for (let i = 0; i < 150; i++) {
      const dir = path.join(deep, `sha256-${String(i).padStart(3, '0')}${'0123456789abcdef'.repeat(4)}`);
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(path.join(dir, `only-${i}`), String(i));
      await fs.writeFile(path.join(dir, 'shared'), `layer ${i}`);
      lowers.push(dir);
    }
    const totalChars = lowers.join(':').length;
    assert.ok(totalChars > 4096 * 3, `lowerdir string would be ${totalChars} chars`);
    const target = path.join(base, 'merged-150');
    await withOverlay({ lowerDirs: lowers, target, readonly: true }, async (m) => {
      const names = await fs.readdir(m.target);
      assert.equal(names.length, 151);
      assert.equal(await fs.readFile(path.join(m.target, 'shared'), 'utf8'), 'layer 0', 'topmost layer wins');
      assert.equal(await fs.readFile(path.join(m.target, 'only-149'), 'utf8'), '149');
      await assert.rejects(fs.writeFile(path.join(m.target, 'new'), 'x'), /EROFS/);
    });
    // Writable, same 150 layers: writes land in the upper.
    const upper = path.join(base, 'u150');
    await withOverlay({ lowerDirs: lowers, upperDir: upper, workDir: path.join(base, 'w150'), target }, async (m) => {
      await fs.writeFile(path.join(m.target, 'shared'), 'changed');
      await fs.rm(path.join(m.target, 'only-7'));
    });
    assert.equal(await fs.readFile(path.join(upper, 'shared'), 'utf8'), 'changed', 'metacopy=off: the whole file is in the upper');
    const wh = await fs.lstat(path.join(upper, 'only-7'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    assert.equal(await fs.readFile(path.join(lowers[0]!, 'shared'), 'utf8'), 'layer 0', 'lower untouched');
    passed++;
  });

  it('layer, upper and work dirs whose paths hold characters the mount options treat specially (, : = \\) mount through the symlink dir; plain ones leave no scratch behind', async () => {
    const odd = path.join(base, 'odd,dir:with=specials\\x');
    const lowers = ['l1', 'l2'].map((n) => path.join(odd, n));
    for (const [i, d] of lowers.entries()) {
      await fs.mkdir(d, { recursive: true });
      await fs.writeFile(path.join(d, 'f'), `layer ${i}`);
    }
    const upper = path.join(odd, 'upper');
    await withOverlay({ lowerDirs: lowers, upperDir: upper, workDir: path.join(odd, 'work'), target: path.join(base, 'merged-odd') }, async (m) => {
      assert.equal(await fs.readFile(path.join(m.target, 'f'), 'utf8'), 'layer 0');
      await fs.writeFile(path.join(m.target, 'g'), 'new');
    });
    assert.equal(await fs.readFile(path.join(upper, 'g'), 'utf8'), 'new');
    // Plain paths are named in the options as they are: no stagecraft-ovl-* scratch dir is made for them.
    const tmp = (await import('node:os')).tmpdir();
    const scratchBefore = (await fs.readdir(tmp)).filter((n) => n.startsWith('stagecraft-ovl-')).sort();
    const plain = path.join(base, 'plain');
    await fs.mkdir(path.join(plain, 'l'), { recursive: true });
    await withOverlay({ lowerDirs: [path.join(plain, 'l')], upperDir: path.join(plain, 'u'), workDir: path.join(plain, 'w'), target: path.join(plain, 'm') }, async (m) => {
      const during = (await fs.readdir(tmp)).filter((n) => n.startsWith('stagecraft-ovl-')).sort();
      assert.deepEqual(during, scratchBefore);
      await fs.writeFile(path.join(m.target, 'h'), 'x');
    });
    assert.equal(await fs.readFile(path.join(plain, 'u', 'h'), 'utf8'), 'x');
    passed++;
  });

  it('an empty layer list gives an empty, writable filesystem', async () => {
    const upper = path.join(base, 'u-empty');
    await withOverlay({ lowerDirs: [], upperDir: upper, workDir: path.join(base, 'w-empty'), target: path.join(base, 'm-empty') }, async (m) => {
      assert.deepEqual(await fs.readdir(m.target), []);
      await fs.writeFile(path.join(m.target, 'f'), 'x');
    });
    assert.deepEqual(await fs.readdir(upper), ['f']);
    passed++;
  });

  it('a read-only mount of a single layer works (overlay needs two lowers without an upper)', async () => {
    const l = path.join(base, 'single');
    await fs.mkdir(l, { recursive: true });
    await fs.writeFile(path.join(l, 'a'), 'a');
    await withOverlay({ lowerDirs: [l], target: path.join(base, 'm-single'), readonly: true }, async (m) => {
      assert.deepEqual(await fs.readdir(m.target), ['a']);
    });
    passed++;
  });

  it('the same layer listed twice (an image repeating a layer) mounts, and the merged tree is the same', async () => {
    const a = path.join(base, 'twice-a');
    const b = path.join(base, 'twice-b');
    await fs.mkdir(a, { recursive: true });
    await fs.mkdir(b, { recursive: true });
    await fs.writeFile(path.join(a, 'f'), 'from a');
    await fs.writeFile(path.join(b, 'f'), 'from b');
    await fs.writeFile(path.join(b, 'only-b'), 'b');
    // Top first: a over b over a. The top a decides f; b's only-b shows through.
    await withOverlay({ lowerDirs: [a, b, a], target: path.join(base, 'm-twice'), readonly: true }, async (m) => {
      assert.deepEqual((await fs.readdir(m.target)).sort(), ['f', 'only-b']);
      assert.equal(await fs.readFile(path.join(m.target, 'f'), 'utf8'), 'from a');
    });
    passed++;
  });

  it('chmod of a lower file copies the whole file up (metacopy off) and renaming a lower dir is EXDEV (redirect_dir off: mv falls back to copying)', async () => {
    const l = path.join(base, 'meta-lower');
    await fs.mkdir(path.join(l, 'd'), { recursive: true });
    await fs.writeFile(path.join(l, 'big'), Buffer.alloc(100_000, 7));
    await fs.writeFile(path.join(l, 'd/inner'), 'inner');
    const upper = path.join(base, 'meta-upper');
    await withOverlay({ lowerDirs: [l], upperDir: upper, workDir: path.join(base, 'meta-work'), target: path.join(base, 'meta-m') }, async (m) => {
      await fs.chmod(path.join(m.target, 'big'), 0o600);
      await assert.rejects(fs.rename(path.join(m.target, 'd'), path.join(m.target, 'd2')), /EXDEV/);
    });
    const st = await fs.stat(path.join(upper, 'big'));
    assert.equal(st.size, 100_000);
    assert.equal(st.blocks > 0, true, 'upper file has data blocks, not just metadata');
    await assert.rejects(fs.lstat(path.join(upper, 'd')), /ENOENT/, 'no redirect entry was left in the upper');
    passed++;
  });

  it('fails with a clear MOUNT error for a missing layer dir, leaving nothing mounted', async () => {
    const target = path.join(base, 'm-missing');
    await assert.rejects(
      mountOverlay({ lowerDirs: [path.join(base, 'does-not-exist')], upperDir: path.join(base, 'u-m'), workDir: path.join(base, 'w-m'), target }),
      (e: unknown) => isStagecraftError(e) && e.code === 'MOUNT' && e.message.includes(target) && e.message.includes('does-not-exist is missing'),
    );
    assert.deepEqual(await mountsUnder(target), []);
    passed++;
  });

  it(`refuses more than ${MAX_LOWER_LAYERS} layers with UNSUPPORTED`, async () => {
    await fs.mkdir(path.join(base, 'one'), { recursive: true });
    // Distinct directories: the same layer listed twice is mounted once.
    const lowers = Array.from({ length: MAX_LOWER_LAYERS + 1 }, (_, i) => path.join(base, 'many', String(i)));
    await Promise.all(lowers.map((d) => fs.mkdir(d, { recursive: true })));
    const target = path.join(base, 'm-too-many');
    await assert.rejects(
      mountOverlay({ lowerDirs: lowers, target, readonly: true }),
      (e: unknown) => isStagecraftError(e) && e.code === 'UNSUPPORTED',
    );
    assert.deepEqual(await mountsUnder(target), [], 'nothing left mounted');
    passed++;
  });

  it('withOverlay unmounts when the callback throws; unmount twice is harmless', async () => {
    const l = path.join(base, 'one');
    const target = path.join(base, 'm-throw');
    await assert.rejects(withOverlay({ lowerDirs: [l], target, readonly: true }, async () => { throw new Error('boom'); }), /boom/);
    assert.deepEqual(await mountsUnder(target), []);
    const m = await mountOverlay({ lowerDirs: [l], target, readonly: true });
    assert.deepEqual(await mountsUnder(target), [target]);
    await m.unmount();
    await m.unmount();
    assert.deepEqual(await mountsUnder(target), []);
    passed++;
  });

  it('a missing layer dir at a process\'s first writable mount (the `volatile` probe) is named, and later mounts still get `volatile`', async () => {
    // A fresh process: the probe happens once per process, at its first writable mount.
    const d = await tempDir('probe');
    const script = path.join(d, 'probe.mts');
    await fs.mkdir(path.join(d, 'lower'));
    await fs.writeFile(script, [
      `import { mountOverlay } from ${JSON.stringify(path.join(repoRoot, 'src/fs/overlay.ts'))};`,
      `import { readFileSync } from 'node:fs';`,
      `const d = ${JSON.stringify(d)};`,
      'const out = {};',
      "try { await mountOverlay({ lowerDirs: [d + '/gone'], upperDir: d + '/u1', workDir: d + '/w1', target: d + '/m1' }); out.first = 'mounted'; }",
      'catch (e) { out.first = e.code + \': \' + e.message; }',
      "const m = await mountOverlay({ lowerDirs: [d + '/lower'], upperDir: d + '/u2', workDir: d + '/w2', target: d + '/m2' });",
      "out.options = readFileSync('/proc/self/mountinfo', 'utf8').split('\\n').find((l) => l.split(' ')[4] === d + '/m2') ?? '';",
      'await m.unmount();',
      'console.log(JSON.stringify(out));',
    ].join('\n'));
    const r = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, encoding: 'utf8' }).trim().split('\n').pop()!) as { first: string; options: string };
    assert.match(r.first, /^MOUNT: .*layer directory .*\/gone is missing/);
    assert.match(r.options, /[,\s](fsync=)?volatile(,|$)/, `the second mount has no volatile option: ${r.options}`);
    assert.deepEqual(await mountsUnder(d), []);
    await fs.rm(d, { recursive: true, force: true });
    passed++;
  });

  it('a non-root user gets a one-line MOUNT error saying to run as root', async () => {
    const d = await tempDir('nonroot'); // its own dir: `base` is 0700, which nobody cannot enter
    await fs.chmod(d, 0o777);
    const script = path.join(d, 'try-mount.mts');
    const overlayModule = path.join(repoRoot, 'src/fs/overlay.ts');
    await fs.writeFile(script, [
      `import { mountOverlay } from ${JSON.stringify(overlayModule)};`,
      `const d = ${JSON.stringify(d)};`,
      "try { await mountOverlay({ lowerDirs: [], upperDir: d + '/u', workDir: d + '/w', target: d + '/m' }); console.log(JSON.stringify({ ok: true })); }",
      'catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint })); }',
    ].join('\n'), { mode: 0o644 });
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', script], {
      cwd: repoRoot, encoding: 'utf8', env: { ...process.env, HOME: d },
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { code?: string; message?: string; hint?: string };
    assert.equal(r.code, 'MOUNT');
    assert.match(r.message ?? '', /not allowed to mount overlay/);
    assert.match(r.hint ?? '', /root/);
    assert.deepEqual(await mountsUnder(d), []);
    await fs.rm(d, { recursive: true, force: true });
    passed++;
  });

  it('rejects inconsistent options before touching anything', async () => {
    await assert.rejects(mountOverlay({ lowerDirs: [], target: path.join(base, 'bad') }), (e: unknown) => isStagecraftError(e) && e.code === 'INTERNAL');
    await assert.rejects(
      mountOverlay({ lowerDirs: [], target: path.join(base, 'bad'), readonly: true, upperDir: path.join(base, 'x') }),
      (e: unknown) => isStagecraftError(e) && e.code === 'INTERNAL',
    );
    passed++;
  });
});
