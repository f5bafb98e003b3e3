/**
 * Differential: the same Dockerfiles built by stagecraft and by Docker's own
 * BuildKit (Debian's docker.io, a private dockerd started for this file, base
 * images from the same loopback registry). The image configs, the history
 * (created_by, empty_layer, comment), the layer count and the final
 * filesystems (paths, types, modes, owners, sizes, content hashes, link
 * targets; not times) must match.
 *
 * Debian 12's docker.io is 20.10. Its BuildKit writes three history texts
 * differently from current BuildKit, which stagecraft follows; those are
 * normalised to the current form before comparing:
 *   EXPOSE map[8080/tcp:{} 9090/udp:{}]  ->  EXPOSE [8080/tcp 9090/udp]
 *   COPY /a /b  (flags not recorded)      <-  COPY --chown=app:app /a /b
 *   ARG VERSION=1 (the default as written) -> ARG VERSION=7 (the value used)
 * and it leaves RUN --mount targets behind as empty directories, which
 * BuildKit >= 0.11 removes (moby/buildkit#3307): those are dropped from
 * Docker's tree after checking they are empty directories.
 * Needs root, runc, docker-registry, skopeo, umoci and docker.io.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dockerdSkipReason, startDockerd, type RunningDockerd } from '../support/dockerd.js';
import { withRootfs } from '../support/oci-run.js';
import { buildSkipReason, buildWithEvents, fixture, materialize, openBuildEnv, REPO, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason() ?? dockerdSkipReason();

interface Case {
  name: string;
  context: () => Promise<string>;
  dockerfile?: string;
  target?: string;
  buildArgs?: Record<string, string>;
  /** RUN --mount targets that did not exist: Docker 20.10 leaves them as empty directories, BuildKit >= 0.11 removes them (moby/buildkit#3307). */
  mountTargets?: string[];
}

function tool(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** One line per entry below `root`: path, type+mode, owner, and size+sha256 / link target. Sorted. */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const p = `${rel}/${name}`;
      const st = await lstat(join(root, p));
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      const who = `${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.push(`${p} d${mode} ${who}`);
        await walk(p);
      } else if (st.isSymbolicLink()) {
        out.push(`${p} l ${who} -> ${await readlink(join(root, p))}`);
      } else if (st.isFile()) {
        let bytes = await readFile(join(root, p));
        // A timestamp-based .pyc header holds its source's mtime (bytes 8-11): compare the code only.
        if (p.endsWith('.pyc')) bytes = bytes.subarray(16);
        const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
        out.push(`${p} f${mode} ${who} ${st.size} ${hash} links=${st.nlink}`);
      } else {
        out.push(`${p} other${mode} ${who} ${st.rdev}`);
      }
    }
  };
  await walk('');
  return out;
}

type ConfigDoc = { config?: Record<string, unknown>; history?: Array<Record<string, unknown>>; rootfs: { diff_ids: string[] } };

/** Docker 20.10's history texts in current BuildKit's form (see the top of this file). */
function docker2010ToCurrent(createdBy: string, buildArgs: Record<string, string>): string {
  const expose = /^EXPOSE map\[(.*)\]$/.exec(createdBy);
  if (expose) return `EXPOSE [${expose[1]!.replace(/:\{\}/g, '')}]`;
  if (createdBy.startsWith('ARG ')) {
    return 'ARG ' + createdBy.slice(4).split(' ').map((kv) => {
      const k = kv.split('=')[0]!;
      return buildArgs[k] !== undefined ? `${k}=${buildArgs[k]}` : kv;
    }).join(' ');
  }
  return createdBy;
}

/** Current BuildKit's COPY/ADD history without the flags Docker 20.10 did not record. */
function withoutCopyFlags(createdBy: string): string {
  return /^(COPY|ADD) /.test(createdBy) ? createdBy.replace(/ --(?:chown|chmod)=\S+| --parents/g, '') : createdBy;
}

/** The config fields `docker build` and stagecraft both write, and history without times. */
function comparable(config: ConfigDoc, fix: (createdBy: string) => string) {
  const c = config.config ?? {};
  const keep = ['Env', 'Cmd', 'Entrypoint', 'User', 'WorkingDir', 'ExposedPorts', 'Labels', 'OnBuild', 'Shell', 'StopSignal', 'Volumes', 'Healthcheck'];
  const cfg: Record<string, unknown> = {};
  // Docker writes empty values as null; stagecraft leaves them out.
  for (const k of keep) if (c[k] !== undefined && c[k] !== null && c[k] !== '') cfg[k] = c[k];
  const history = (config.history ?? []).map((h) => ({
    created_by: fix(String(h.created_by ?? '')),
    empty_layer: h.empty_layer === true,
    comment: h.comment ?? '',
  }));
  return { config: cfg, history, layers: config.rootfs.diff_ids.length };
}

function assertSameImage(ours: ConfigDoc, docker: ConfigDoc, buildArgs: Record<string, string>): void {
  assert.deepEqual(comparable(ours, withoutCopyFlags), comparable(docker, (t) => docker2010ToCurrent(t, buildArgs)));
}

const cases: Case[] = [
  { name: 'config (final config, history, COPY --from, RUN)', context: async () => fixture('config') },
  { name: 'inheritance (FROM <stage>, ONBUILD, SHELL, USER, WORKDIR, COPY --from paths)', context: async () => fixture('inheritance') },
  { name: 'deletions (whiteouts, replaced directory, COPY --chown by name)', context: async () => fixture('deletions') },
  { name: 'deletions --target builder', context: async () => fixture('deletions'), target: 'builder' },
  { name: 'target-middle --target middle', context: async () => fixture('target-middle'), target: 'middle' },
  { name: 'cache-ignore (.dockerignore, COPY .)', context: async () => fixture('cache-ignore') },
  { name: 'examples/python-app (the classic two-stage Python build)', context: async () => join(REPO, 'examples', 'python-app') },
  { name: 'python wheels variant (RUN --mount=type=bind,from=builder)', context: async () => join(REPO, 'examples', 'python-app'), dockerfile: fixture('python-wheels', 'Dockerfile'), mountTargets: ['/wheels'] },
  { name: 'cache-args (ARG and proxy args)', context: async () => fixture('cache-args'), buildArgs: { VERSION: '7', http_proxy: 'http://proxy.example:3128' } },
];

const tally = new Tally('build vs docker', cases.length + 1);

describe('stagecraft vs docker build (BuildKit in docker.io)', { skip }, () => {
  let env: BuildEnv;
  let dockerd: RunningDockerd;

  before(async () => {
    env = await openBuildEnv(['busybox:latest', 'python:3.11-build', 'python:3.11-slim']);
    dockerd = await startDockerd();
  });

  after(async () => {
    await dockerd?.stop();
    await env?.close();
    console.log(tally.summary());
  });

  /** Builds with docker, saves, converts to an OCI layout with skopeo, unpacks with umoci; returns the config and the rootfs path. */
  async function dockerImage(c: Case, context: string, tag: string): Promise<{ config: ConfigDoc; rootfs: string }> {
    const args = ['-H', dockerd.host, 'build', '--network', 'host', '-q', '-t', tag];
    for (const [k, v] of Object.entries({ REGISTRY: env.host, ...c.buildArgs })) args.push('--build-arg', `${k}=${v}`);
    if (c.target) args.push('--target', c.target);
    // A `# syntax=` line would make Docker fetch that frontend from Docker Hub (offline here):
    // give Docker a copy of the Dockerfile without it, so its built-in frontend reads it.
    const dockerfile = c.dockerfile ?? join(context, 'Dockerfile');
    const text = await readFile(dockerfile, 'utf8');
    if (!/^#\s*syntax\s*=/im.test(text.split('\n')[0] ?? '')) {
      if (c.dockerfile) args.push('-f', c.dockerfile);
    } else {
      const df = join(env.root, '..', `docker-${tag.replace(/\W/g, '-')}-${process.pid}.Dockerfile`);
      env.scratch.push(df);
      await writeFile(df, text.split('\n').slice(1).join('\n'));
      args.push('-f', df);
    }
    args.push(context);
    const built = await tool('/usr/bin/docker', args, { ...process.env, DOCKER_BUILDKIT: '1' });
    assert.equal(built.code, 0, `docker build: ${built.stderr}`);
    const dir = join(env.root, '..', `docker-${tag.replace(/\W/g, '-')}-${process.pid}`);
    env.scratch.push(dir);
    await mkdir(dir, { recursive: true });
    const archive = join(dir, 'image.tar');
    const saved = await dockerd.docker(['save', '-o', archive, tag]);
    assert.equal(saved.code, 0, saved.stderr);
    const layout = join(dir, 'layout');
    const copied = await tool('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `oci:${layout}:img`]);
    assert.equal(copied.code, 0, copied.stderr);
    const bundle = join(dir, 'bundle');
    const unpacked = await tool('umoci', ['unpack', '--image', `${layout}:img`, bundle]);
    assert.equal(unpacked.code, 0, unpacked.stderr);
    const raw = await tool('/usr/bin/docker', ['-H', dockerd.host, 'image', 'inspect', '--format', '{{.Id}}', tag]);
    const id = raw.stdout.trim();
    // The exact config docker stored, from the archive (named by the image id).
    const config = JSON.parse((await tool('tar', ['-xOf', archive, `${id.slice(7)}.json`])).stdout) as ConfigDoc;
    return { config, rootfs: join(bundle, 'rootfs') };
  }

  for (const c of cases) {
    it(c.name, async () => {
      const context = await c.context();
      const tag = `diff-${cases.indexOf(c)}:1`;
      const ours = await buildWithEvents({ context, dockerfile: c.dockerfile, target: c.target, tags: [tag], buildArgs: { REGISTRY: env.host, ...c.buildArgs }, root: env.root });
      const theirs = await dockerImage(c, context, tag);
      assertSameImage(ours.result.config as ConfigDoc, theirs.config, { REGISTRY: env.host, ...c.buildArgs });
      const ourTree = await withRootfs(env.root, ours.result.tags[0]!, (fs) => tree(fs));
      let theirTree = await tree(theirs.rootfs);
      for (const t of c.mountTargets ?? []) {
        assert.ok(theirTree.includes(`${t} d0755 0:0`) && !theirTree.some((l) => l.startsWith(`${t}/`)), `${t} is an empty directory in Docker's image`);
        theirTree = theirTree.filter((l) => l !== `${t} d0755 0:0`);
      }
      assert.ok(ourTree.length > 100, `a whole image: ${ourTree.length} entries`);
      assert.deepEqual(ourTree, theirTree);
      tally.pass();
    });
  }

  it('COPY --from by index, name and image reference', async () => {
    const context = await materialize('copy-from', { REGISTRY: env.host });
    env.scratch.push(context);
    const c: Case = { name: 'copy-from', context: async () => context };
    const ours = await buildWithEvents({ context, tags: ['diff-copy-from:1'], buildArgs: { REGISTRY: env.host }, root: env.root });
    const theirs = await dockerImage(c, context, 'diff-copy-from:1');
    assertSameImage(ours.result.config as ConfigDoc, theirs.config, { REGISTRY: env.host });
    assert.deepEqual(await withRootfs(env.root, ours.result.tags[0]!, (fs) => tree(fs)), await tree(theirs.rootfs));
    tally.pass();
  });
});
