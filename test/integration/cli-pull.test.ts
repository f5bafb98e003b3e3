/**
 * `stagecraft pull` as a user runs it (`node bin/stagecraft.cjs pull ...` in a
 * child process) against a real loopback registry holding busybox (pushed by
 * skopeo) and a two-platform index made from it: the image is stored, tagged
 * under its full reference and listed by `images`; a second pull downloads
 * nothing; by digest it is recorded under the digest reference only; the
 * index yields the host's or the asked-for platform; failures exit non-zero
 * and tag nothing. Last, with the registry stopped, builds FROM the pulled
 * references still succeed while the same build in a store without the pull
 * fails: a pulled image is never fetched again.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSkipReason, openBuildEnv, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';
import { ensureBaseImages, hostPlatform } from '../support/base-images.js';
import { cliBuild, errorLines, runCli, type CliResult } from '../support/cli.js';
import { skopeo } from '../support/registry.js';

const skip = buildSkipReason();
const tally = new Tally('cli pull', 10);

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface StoredImage { ref: string; manifestDigest: string; configDigest: string }

describe('stagecraft pull', { skip }, () => {
  let env: BuildEnv;
  let work: string;
  /** `127.0.0.1:PORT/busybox:latest` */
  let busybox: string;
  /** The manifest digest the registry serves for busybox:latest (skopeo's view). */
  let busyboxDigest: string;
  let busyboxLayers: number;
  /** `127.0.0.1:PORT/multi:latest`: the host platform -> busybox, `other` -> busybox with another config. */
  let multi: string;
  let multiIndexDigest: string;
  let otherConfigDigest: string;
  const host = hostPlatform();
  const other = host.architecture === 'arm64' ? 'amd64' : 'arm64';
  /** Stores the final, registry-less builds use. */
  let tagRoot: string;
  let digestRoot: string;

  const sc = (args: string[], root: string): Promise<CliResult> => runCli(args, { root });
  const ok = (r: CliResult): CliResult => {
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
    return r;
  };
  const freshRoot = (): Promise<string> => mkdtemp(join(work, 'root-'));
  const stored = async (root: string): Promise<StoredImage[]> => JSON.parse(ok(await sc(['images', '--format', 'json'], root)).stdout) as StoredImage[];
  const blobs = (root: string): Promise<string[]> => readdir(join(root, 'blobs', 'sha256'));
  const context = async (dockerfile: string): Promise<string> => {
    const dir = await mkdtemp(join(work, 'ctx-'));
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  };

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    work = await mkdtemp(join(tmpdir(), 'stagecraft-cli-pull-'));
    env.scratch.push(work);
    busybox = `${env.host}/busybox:latest`;
    const inspected = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${busybox}`]).stdout.toString()) as { Digest: string; Layers: string[] };
    busyboxDigest = inspected.Digest;
    busyboxLayers = inspected.Layers.length;

    // A two-platform index: the host's entry is busybox as pushed, the other
    // architecture's is busybox's layers under a config naming that architecture.
    const { ociLayout } = (await ensureBaseImages(['busybox:latest']))['busybox:latest'];
    const dir = join(work, 'multi-layout');
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    for (const f of await readdir(join(ociLayout, 'blobs', 'sha256'))) {
      const to = join(dir, 'blobs', 'sha256', f);
      if (!existsSync(to)) await link(join(ociLayout, 'blobs', 'sha256', f), to).catch(() => copyFile(join(ociLayout, 'blobs', 'sha256', f), to));
    }
    const blob = (d: string): Promise<Buffer> => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
    const put = async (b: Buffer): Promise<string> => {
      const d = sha256(b);
      await writeFile(join(dir, 'blobs', 'sha256', d.slice(7)), b);
      return d;
    };
    const top = (JSON.parse(await readFile(join(ociLayout, 'index.json'), 'utf8')) as { manifests: Array<{ mediaType: string; digest: string; size: number }> }).manifests[0]!;
    const manifest = JSON.parse((await blob(top.digest)).toString()) as { config: { mediaType: string; digest: string; size: number } };
    const config = JSON.parse((await blob(manifest.config.digest)).toString()) as Record<string, unknown>;
    const otherConfig = Buffer.from(JSON.stringify({ ...config, architecture: other }));
    otherConfigDigest = await put(otherConfig);
    const otherManifest = Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, digest: otherConfigDigest, size: otherConfig.length } }));
    const otherManifestDigest = await put(otherManifest);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: top.mediaType, digest: top.digest, size: top.size, platform: { os: 'linux', architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) } },
        { mediaType: top.mediaType, digest: otherManifestDigest, size: otherManifest.length, platform: { os: 'linux', architecture: other } },
      ],
    }));
    multiIndexDigest = await put(index);
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: multiIndexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }));
    multi = `${env.host}/multi:latest`;
    skopeo(['copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${dir}:latest`, `docker://${multi}`]);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('stores and tags the image, prints docker-like progress and the full reference, and images lists it', async () => {
    tagRoot = await freshRoot();
    const r = ok(await sc(['pull', busybox], tagRoot));
    assert.equal(r.stdout, `${busybox}\n`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], 'latest: Pulling from busybox');
    assert.equal(lines.filter((l) => /^[a-f0-9]{12}: Pull complete$/.test(l)).length, busyboxLayers);
    assert.ok(lines.includes(`Digest: ${busyboxDigest}`), r.stderr);
    assert.match(lines.at(-1)!, new RegExp(`^Status: Downloaded newer image for ${env.host}/busybox:latest \\(linux/${host.architecture}`));
    const images = await stored(tagRoot);
    assert.deepEqual(images.map((i) => [i.ref, i.manifestDigest]), [[busybox, busyboxDigest]]);
    const table = ok(await sc(['images'], tagRoot)).stdout.split('\n');
    assert.match(table[1]!, new RegExp(`^${env.host}/busybox\\s+latest\\s+${images[0]!.configDigest.slice(7, 19)}\\s`));
    tally.pass();
  });

  it('pulls an up-to-date image again without downloading anything', async () => {
    const before = await blobs(tagRoot);
    const r = ok(await sc(['pull', busybox], tagRoot));
    assert.equal(r.stdout, `${busybox}\n`);
    assert.doesNotMatch(r.stderr, /Pull complete/);
    assert.equal(r.stderr.split('\n').filter((l) => l.endsWith(': Already exists')).length, busyboxLayers);
    assert.match(r.stderr, new RegExp(`Status: Image is up to date for ${env.host}/busybox:latest\\n$`));
    assert.deepEqual(await blobs(tagRoot), before);
    tally.pass();
  });

  it('-q prints only the full reference; a familiar name is completed with :latest', async () => {
    const r = ok(await sc(['pull', '-q', `${env.host}/busybox`], tagRoot));
    assert.equal(r.stdout, `${busybox}\n`);
    assert.equal(r.stderr, '');
    tally.pass();
  });

  it('by digest: recorded under the digest reference only, no tag, and images shows <none>', async () => {
    digestRoot = await freshRoot();
    const byDigest = `${env.host}/busybox@${busyboxDigest}`;
    const r = ok(await sc(['pull', byDigest], digestRoot));
    assert.equal(r.stdout, `${byDigest}\n`);
    assert.ok(r.stderr.startsWith(`${busyboxDigest}: Pulling from busybox\n`), r.stderr);
    assert.match(r.stderr, new RegExp(`Digest: ${busyboxDigest}\\n`));
    assert.deepEqual((await stored(digestRoot)).map((i) => [i.ref, i.manifestDigest]), [[byDigest, busyboxDigest]]);
    const table = ok(await sc(['images'], digestRoot)).stdout.split('\n');
    assert.match(table[1]!, new RegExp(`^${env.host}/busybox\\s+<none>\\s`));
    tally.pass();
  });

  it("picks the host's platform from a multi-platform index, and prints the index digest", async () => {
    const root = await freshRoot();
    const r = ok(await sc(['pull', multi], root));
    assert.match(r.stderr, new RegExp(`Digest: ${multiIndexDigest}\\n`));
    const [img] = await stored(root);
    assert.equal(img!.ref, multi);
    assert.equal(img!.manifestDigest, busyboxDigest);
    tally.pass();
  });

  it('--platform picks another platform from the index', async () => {
    const root = await freshRoot();
    const r = ok(await sc(['pull', '--platform', `linux/${other}`, multi], root));
    assert.match(r.stderr, new RegExp(`\\(linux/${other}`));
    const [img] = await stored(root);
    assert.equal(img!.configDigest, otherConfigDigest);
    const inspect = JSON.parse(ok(await sc(['inspect', multi], root)).stdout) as { config: { architecture: string } };
    assert.equal(inspect.config.architecture, other);
    tally.pass();
  });

  it('fails with a clear message and tags nothing: unknown tag, platform not in the index, invalid platform', async () => {
    const root = await freshRoot();
    const missing = await sc(['pull', `${env.host}/busybox:nope`], root);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.equal(errorLines(missing.stderr).length, 1, missing.stderr);
    assert.match(errorLines(missing.stderr)[0]!, /busybox:nope/);
    const noPlatform = await sc(['pull', '--platform', 'linux/s390x', multi], root);
    assert.equal(noPlatform.code, 1);
    assert.match(errorLines(noPlatform.stderr)[0] ?? '', new RegExp(`no manifest for linux/s390x \\(available: .*linux/${other}`), noPlatform.stderr);
    const bad = await sc(['pull', '--platform', 'linux', multi], root);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /error: invalid platform "linux"/);
    assert.deepEqual(await stored(root), []);
    tally.pass();
  });

  it('a layer the registry serves corrupted fails the pull and leaves no tag', async () => {
    const root = await freshRoot();
    const manifest = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${busybox}`]).stdout.toString()) as { layers: Array<{ digest: string }> };
    const hex = manifest.layers[0]!.digest.slice(7);
    const data = join(env.registry.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const original = await readFile(data);
    const corrupt = Buffer.from(original);
    corrupt[corrupt.length >> 1]! ^= 0xff;
    await writeFile(data, corrupt);
    try {
      const r = await sc(['pull', busybox], root);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(errorLines(r.stderr)[0] ?? '', /content has digest sha256:[a-f0-9]{64}, expected sha256:/, r.stderr);
      assert.deepEqual(await stored(root), []);
    } finally {
      await writeFile(data, original);
    }
    tally.pass();
  });

  it('with the registry stopped, builds FROM the pulled tag and digest succeed; without the pull the same build fails', async () => {
    await env.registry.stop();
    const fromTag = await context(`FROM ${busybox}\nRUN test -x /bin/sh\n`);
    const fromDigest = await context(`FROM ${env.host}/busybox@${busyboxDigest}\nRUN test -x /bin/sh\n`);
    const unpulled = await cliBuild(fromTag, ['-t', 'nopull:1'], { root: await freshRoot() });
    assert.equal(unpulled.code, 1, unpulled.stderr);
    assert.match(unpulled.stderr, new RegExp(`error: .*${env.host.replace(/\./g, '\\.')}`));
    const built = ok(await cliBuild(fromTag, ['-t', 'pulled:1'], { root: tagRoot }));
    assert.match(built.stdout, /^sha256:[a-f0-9]{64}\n$/);
    ok(await cliBuild(fromDigest, ['-t', 'pulled:2'], { root: digestRoot }));
    tally.pass();
  });

  it('the pulled images stay listed next to the built ones', async () => {
    const refs = (await stored(tagRoot)).map((i) => i.ref);
    assert.deepEqual(refs, [busybox, 'docker.io/library/pulled:1']);
    tally.pass();
  });
});
