/**
 * `stagecraft --version` answers from package.json without loading the CLI
 * (bin/stagecraft.cjs); the number must be the one src/version.ts gives the
 * rest of the program (`--root x --version` goes through commander).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { VERSION } from '../src/version.js';
import { runCli } from './support/cli.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

describe('stagecraft --version', () => {
  it('prints package.json\'s version, the same as src/version.ts', async () => {
    assert.equal(VERSION, pkg.version);
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${pkg.version}\n`);
    }
    const full = await runCli(['--root', '/nonexistent-stagecraft-root', '--version']);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(full.stdout, `${pkg.version}\n`);
  });
});
