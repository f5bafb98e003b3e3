/**
 * examples/node-app: `npm ci` in node:18-bookworm (Debian's nodejs and npm),
 * offline, from vendored package tarballs; the runner, node:18-bookworm-slim,
 * gets node_modules and the app and has no npm. Needs root, runc,
 * docker-registry and skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { existsIn, runImage, withRootfs } from '../support/oci-run.js';
import { buildSkipReason, buildWithEvents, MB, openBuildEnv, REPO, steps, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build node', 1);
const EXAMPLE = join(REPO, 'examples', 'node-app');
/** What the vendored banner package prints for `text`. */
function framed(text: string): string {
  const rule = '-'.repeat(text.length + 4);
  return `${rule}\n| ${text} |\n${rule}\n`;
}

describe('multi-stage Node.js build', { skip }, () => {
  let env: BuildEnv;

  before(async () => {
    env = await openBuildEnv(['node:18-bookworm', 'node:18-bookworm-slim']);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('npm ci in the builder; the runner has node_modules and the app, not npm, and is smaller', async () => {
    const buildArgs = { REGISTRY: env.host };
    const { result, events } = await buildWithEvents({ context: EXAMPLE, tags: ['hello-node:1'], buildArgs, root: env.root });
    const ci = steps(events).find((s) => s.name.startsWith('RUN npm ci'));
    assert.ok(ci && ci.cached === false && ci.stage === 'deps', 'npm ci ran in the deps stage');
    const ciLog = events.flatMap((e) => (e.type === 'step-log' && e.id === ci.id ? [e.line] : [])).join('\n');
    assert.match(ciLog, /added 2 packages/);
    const tag = result.tags[0]!;

    const run = await runImage(env.root, tag);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.deepEqual(run.args, ['node', 'index.js']);
    assert.equal(run.stdout, framed('hello, multi-stage'));
    const id = await runImage(env.root, tag, { args: ['id', '-u'] });
    assert.equal(id.stdout.trim(), '1000');
    // The package's bin entry works through the link npm made.
    const bin = await runImage(env.root, tag, { args: ['node_modules/.bin/banner', 'from', 'bin'] });
    assert.equal(bin.exitCode, 0, bin.stderr);
    assert.equal(bin.stdout, framed('from bin'));

    await withRootfs(env.root, tag, async (fs) => {
      assert.equal(await readlink(join(fs, 'app/node_modules/.bin/banner')), '../banner/bin/banner.js');
      const pkg = JSON.parse(await readFile(join(fs, 'app/node_modules/greet/package.json'), 'utf8')) as { version: string };
      assert.equal(pkg.version, '1.2.0');
      assert.ok(await existsIn(fs, '/usr/bin/node'));
      assert.equal(await existsIn(fs, '/usr/bin/npm'), false, 'npm stays in the builder');
      assert.equal(await existsIn(fs, '/usr/share/nodejs/npm'), false);
      assert.equal(await existsIn(fs, '/app/vendor'), false, 'the vendored tarballs stay in the builder');
      assert.equal(await existsIn(fs, '/root/.npm'), false, "npm's cache stays in the builder");
    });

    const deps = result.stages.find((s) => s.name === 'deps');
    const runner = result.stages.find((s) => s.name === 'runner');
    assert.ok(deps && runner, `stages: ${result.stages.map((s) => s.name).join(', ')}`);
    console.log(`build node: deps ${(deps.size / MB).toFixed(1)} MB, runner ${(runner.size / MB).toFixed(1)} MB`);
    assert.ok(deps.size - runner.size > 20 * MB, `deps ${deps.size} - runner ${runner.size} bytes`);

    // A change to the app re-runs neither npm ci nor anything in the deps stage.
    const again = await buildWithEvents({ context: EXAMPLE, tags: ['hello-node:1'], buildArgs, root: env.root });
    assert.ok(steps(again.events).every((s) => s.cached === true), 'nothing changed: every step cached');
    assert.equal(again.result.configDigest, result.configDigest);
    tally.pass();
  });
});
