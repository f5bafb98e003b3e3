/**
 * The final image's config and history for a representative Dockerfile
 * (test/fixtures/build/config), as BuildKit writes them, and the container
 * a runtime starts from that config. Needs root, runc, docker-registry and
 * skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../support/cli.js';
import { readStoredImage, runImage, type StoredImage } from '../support/oci-run.js';
import { buildSkipReason, buildWithEvents, fixture, openBuildEnv, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build config', 4);
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CMD = 'echo A=$A B=$B C=$C; pwd; id -u; id -g; cat assets/hi.txt built.txt';

describe('image config and history', { skip }, () => {
  let env: BuildEnv;
  let image: StoredImage;
  let tag: string;

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    const { result } = await buildWithEvents({ context: fixture('config'), tags: ['config:1'], buildArgs: { REGISTRY: env.host }, root: env.root });
    tag = result.tags[0]!;
    image = await readStoredImage(env.root, tag);
    assert.equal(image.manifestDigest, result.manifestDigest);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('config: Env in order (a redefined variable keeps its place), Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Labels', () => {
    const c = image.config.config!;
    assert.deepEqual(c.Env, [PATH_ENV, 'B=2', 'A=overridden', 'C=3']);
    assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(c.Cmd, [CMD]);
    assert.equal(c.WorkingDir, '/srv/app');
    assert.equal(c.User, '1000:1000');
    assert.deepEqual(c.ExposedPorts, { '7070/tcp': {}, '8080/tcp': {}, '9090/udp': {} });
    assert.deepEqual(c.Labels, { 'org.example.title': 'demo', 'org.example.version': '1.0' });
    assert.equal(image.config.os, 'linux');
    assert.equal(image.config.rootfs.type, 'layers');
    tally.pass();
  });

  it('a stage that is only copied from leaks neither labels nor env into the final image (it does have them itself)', async () => {
    const c = image.config.config!;
    assert.equal(c.Labels?.['stage.only'], undefined);
    assert.ok(!c.Env?.some((e) => e.startsWith('ASSETS_ONLY=')));
    const assets = await buildWithEvents({ context: fixture('config'), target: 'assets', tags: ['config:assets'], buildArgs: { REGISTRY: env.host }, root: env.root });
    assert.deepEqual(assets.result.config.config?.Labels, { 'stage.only': 'assets', 'org.example.title': 'from-assets' });
    assert.ok(assets.result.config.config?.Env?.includes('ASSETS_ONLY=1'));
    tally.pass();
  });

  it('history: created_by and empty_layer per instruction, one non-empty entry per layer', async () => {
    const h = image.config.history ?? [];
    const own = h.slice(-12).map((e) => [e.created_by, e.empty_layer === true]);
    assert.deepEqual(own, [
      ['LABEL org.example.title=demo org.example.version=1.0', true],
      ['ENV B=2 A=1', true],
      ['ENV C=3', true],
      ['ENV A=overridden', true],
      ['WORKDIR /srv/app', false],
      ['COPY /assets ./assets # buildkit', false],
      ['RUN /bin/sh -c echo built > built.txt # buildkit', false],
      ['USER 1000:1000', true],
      ['EXPOSE [8080/tcp 9090/udp]', true],
      ['EXPOSE [7070/tcp]', true],
      ['ENTRYPOINT ["/bin/sh" "-c"]', true],
      [`CMD ["${CMD}"]`, true],
    ]);
    // The base image's history comes first, unchanged; nothing from the assets stage.
    assert.equal(h.length, 13);
    assert.match(h[0]!.created_by ?? '', /^stagecraft fixture: busybox/);
    for (const e of h.slice(-12)) assert.equal(e.comment, 'buildkit.dockerfile.v0');
    assert.equal(h.filter((e) => !e.empty_layer).length, image.config.rootfs.diff_ids.length);
    assert.equal(image.manifest.layers.length, image.config.rootfs.diff_ids.length);
    // Times never go backwards, and the image's created is the last step's.
    const times = h.map((e) => Date.parse(e.created ?? ''));
    for (const [i, t] of times.entries()) assert.ok(Number.isFinite(t) && (i === 0 || t >= times[i - 1]!), `history[${i}].created`);
    assert.equal((image.config as { created?: string }).created, h.at(-1)!.created);
    // `stagecraft history` shows the same, newest first.
    const cli = await runCli(['history', '--no-trunc', tag], { root: env.root });
    assert.equal(cli.code, 0, cli.stderr);
    const rows = cli.stdout.trim().split('\n');
    assert.equal(rows.length, 1 + h.length);
    assert.ok(rows[1]!.includes(`CMD ["${CMD}"]`));
    assert.ok(rows.some((r) => r.includes('EXPOSE [8080/tcp 9090/udp]')));
    tally.pass();
  });

  it('a container started from the config sees the Env, WorkingDir, User and files the Dockerfile set', async () => {
    const run = await runImage(env.root, tag);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.deepEqual(run.args, ['/bin/sh', '-c', CMD]);
    assert.equal(run.stdout, 'A=overridden B=2 C=3\n/srv/app\n1000\n1000\nhi\nbuilt\n');
    tally.pass();
  });
});
