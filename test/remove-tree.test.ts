/**
 * removeTree (src/util/remove-tree.ts): removes what `rm -rf` removes,
 * never follows a symlink out of the tree, and takes a missing path or a
 * plain file as rm does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree } from '../src/util/remove-tree.js';

/** Runs `fn` in a new temporary directory, removed afterwards whatever happens. */
async function inScratch(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'stagecraft-remove-tree-'));
  try {
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

describe('removeTree', () => {
  it('removes a tree like an overlay work dir left by a volatile mount, with mode-000 directories', async () => {
    await inScratch(async (root) => {
      const step = join(root, 'step');
      const deep = join(step, 'work', 'work', 'incompat', 'volatile');
      await mkdir(deep, { recursive: true });
      await writeFile(join(deep, 'dirty'), '');
      await mkdir(join(step, 'merged'));
      await mkdir(join(step, 'upper', 'a', 'b'), { recursive: true });
      for (let i = 0; i < 50; i++) await writeFile(join(step, 'upper', 'a', `f${i}`), String(i));
      await writeFile(join(step, 'upper', 'a', 'b', 'g'), 'g');
      await chmod(join(step, 'upper', 'a', 'b', 'g'), 0);
      for (const d of ['work/work/incompat/volatile', 'work/work/incompat', 'work/work']) await chmod(join(step, d), 0);
      await removeTree(step);
      assert.equal(existsSync(step), false);
      assert.equal(existsSync(root), true, 'only the given path goes');
    });
  });

  it('removes symlinks without following them, to directories or files outside the tree', async () => {
    await inScratch(async (root) => {
      const outside = join(root, 'outside');
      await mkdir(join(outside, 'sub'), { recursive: true });
      await writeFile(join(outside, 'keep'), 'keep');
      await writeFile(join(outside, 'sub', 'keep2'), 'keep2');
      const tree = join(root, 'tree');
      await mkdir(join(tree, 'd'), { recursive: true });
      await symlink(outside, join(tree, 'to-dir'));
      await symlink(join(outside, 'keep'), join(tree, 'd', 'to-file'));
      await symlink('/nonexistent/target', join(tree, 'dangling'));
      await removeTree(tree);
      assert.equal(existsSync(tree), false);
      assert.equal(readFileSync(join(outside, 'keep'), 'utf8'), 'keep');
      assert.equal(readFileSync(join(outside, 'sub', 'keep2'), 'utf8'), 'keep2');
    });
  });

  it('removes fifos and other non-regular files', async () => {
    await inScratch(async (root) => {
      const tree = join(root, 'tree');
      await mkdir(tree);
      const r = spawnSync('mkfifo', [join(tree, 'fifo')]);
      assert.equal(r.status, 0, String(r.stderr));
      assert.ok(lstatSync(join(tree, 'fifo')).isFIFO());
      await removeTree(tree);
      assert.equal(existsSync(tree), false);
    });
  });

  it('takes a missing path as done and removes a plain file given as the path', async () => {
    await inScratch(async (root) => {
      await removeTree(join(root, 'missing'));
      await removeTree(join(root, 'missing', 'below'));
      const file = join(root, 'file');
      await writeFile(file, 'x');
      await removeTree(file);
      assert.equal(existsSync(file), false);
      const link = join(root, 'link');
      await symlink(root, link);
      await removeTree(link);
      assert.equal(existsSync(link), false, 'a symlink given as the path is removed');
      assert.equal(existsSync(root), true, 'and its target is not');
    });
  });

  it('matches rm -rf on random trees: nothing is left', async () => {
    await inScratch(async (root) => {
      // A deterministic pseudo-random tree: depth up to 4, files, empty dirs and links.
      let seed = 12345;
      const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
      for (let t = 0; t < 20; t++) {
        const tree = join(root, `t${t}`);
        const dirs = [tree];
        await mkdir(tree);
        for (let i = 0; i < 40; i++) {
          const parent = dirs[rnd(dirs.length)]!;
          const name = join(parent, `e${i}`);
          const kind = rnd(3);
          if (kind === 0 && parent.split('/').length - tree.split('/').length < 4) { await mkdir(name); dirs.push(name); }
          else if (kind === 1) await symlink(dirs[rnd(dirs.length)]!, name);
          else await writeFile(name, 'x'.repeat(rnd(100)));
        }
        await removeTree(tree);
        assert.equal(existsSync(tree), false, `tree ${t} is gone`);
      }
    });
  });
});
