/**
 * The differential suite (docs/differential.md): every case under
 * test/differential/cases/ is built by stagecraft and, for `oracle:
 * buildkit` cases, by Docker's BuildKit (Debian's docker.io 20.10, a private
 * dockerd). Both images are saved as Docker archives, their layers flattened
 * with whiteouts applied, and every path (type, mode, owner, size, content
 * hash, symlink target, hard-link count), the history and the config fields
 * users rely on are compared. Times are ignored, and so are the paths a case
 * lists as nondeterministic. `oracle: expected` cases use syntax Docker 20.10
 * cannot build (heredocs, --link, --parents, --exclude, ADD --checksum, ADD
 * <git>, RUN --network) or build differently (zstd archives, chmod above
 * 0777): their result is compared with a hand-written expected tree.
 *
 * Docker 20.10 differs from current BuildKit (which stagecraft follows) in
 * ways normalised here, each checked rather than dropped blindly:
 * - history texts (see compare.ts docker2010History / withoutCopyFlags);
 * - RUN --mount targets that did not exist are left behind as empty
 *   directories (removed since BuildKit 0.11, moby/buildkit#3307): a case
 *   lists them in `mountTargets`, and they must be empty directories.
 *
 * Needs root, runc, docker-registry, skopeo and docker.io.
 */
import { runCommand as run } from '../support/exec.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../../src/store/index.js';
import { saveDockerArchive } from '../../src/archive/index.js';
import { hostPlatform, type BaseImageName } from '../support/base-images.js';
import { dockerdSkipReason, startDockerd, type RunningDockerd } from '../support/dockerd.js';
import { buildSkipReason, buildWithEvents, openBuildEnv, REPO, type BuildEnv } from '../fixtures/build/fixtures.js';
import {
  configFields, diffLists, diffTrees, diffValues, docker2010History, expectedLine, historyLines, ignored,
  readSavedImage, withoutCopyFlags, type ComparableImage,
} from './compare.js';

const CASES = fileURLToPath(new URL('./cases/', import.meta.url));
const WWW = fileURLToPath(new URL('./www/', import.meta.url));

interface CaseSpec {
  /** What the case covers (printed). */
  description?: string;
  oracle?: 'buildkit' | 'expected';
  /** Base images the case pulls (default busybox:latest). */
  images?: BaseImageName[];
  buildArgs?: Record<string, string>;
  target?: string;
  /** Context directory relative to the repository (default: the case's context/ dir, or an empty one). */
  context?: string;
  /** Dockerfile relative to the repository (default: the case's Dockerfile). */
  dockerfile?: string;
  /**
   * Shell commands run in a copy of the context before both builds (make
   * archives, symlinks, modes). $SERVED is a directory the loopback HTTP
   * server also serves (after www/), e.g. for git repositories.
   */
  setup?: string;
  /** Nondeterministic paths (prefixes; `*` matches within a name). */
  ignore?: string[];
  /** RUN --mount targets Docker 20.10 leaves behind as empty directories. */
  mountTargets?: string[];
  /** Build secrets: id -> value (given to both builders as files). */
  secrets?: Record<string, string>;
  /** Secrets from environment variables (stagecraft only; Docker 20.10 has no env= secrets). */
  envSecrets?: Record<string, string>;
  /** Forward an ssh-agent as `default`. */
  ssh?: boolean;
  /** `oracle: expected`: the paths compared, the expected entries, and expected config fields. */
  expected?: { under: string[]; tree: Record<string, string>; config?: Record<string, unknown>; history?: string[] };
  /**
   * `oracle: buildkit` cases whose history text changed after Docker 20.10
   * (ARG values of re-imported globals, build args a FROM <stage> child
   * inherits): files and config still compare with Docker, the history with
   * these lines, written from current BuildKit's rules (`historyLines` form).
   */
  historyExpected?: { why: string; lines: string[] };
}

interface Case extends CaseSpec { name: string; dir: string }

function loadCases(): Case[] {
  return readdirSync(CASES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort().map((name) => {
    const dir = join(CASES, name);
    const spec = existsSync(join(dir, 'case.json')) ? JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as CaseSpec : {};
    return { name, dir, ...spec };
  });
}

/** DIFFERENTIAL_ONLY=<regexp> runs only the matching cases (while working on one). */
const only = process.env.DIFFERENTIAL_ONLY ? new RegExp(process.env.DIFFERENTIAL_ONLY) : undefined;
const cases = loadCases().filter((c) => !only || only.test(c.name));
const environmentSkip = buildSkipReason() ?? dockerdSkipReason();


/** The predefined platform args for this machine (builds run for the host platform). */
function platformArgs(): Record<string, string> {
  const p = hostPlatform();
  const platform = `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
  const out: Record<string, string> = {};
  for (const side of ['TARGET', 'BUILD']) {
    Object.assign(out, { [`${side}PLATFORM`]: platform, [`${side}OS`]: p.os, [`${side}ARCH`]: p.architecture, [`${side}VARIANT`]: p.variant ?? '' });
  }
  return out;
}

/** Why a case cannot run on this machine, or undefined. */
function caseSkipReason(c: Case): string | undefined {
  if (environmentSkip) return environmentSkip;
  if (c.ssh && spawnSync('ssh-agent', ['-h']).error) return 'ssh-agent is not installed (openssh-client)';
  return undefined;
}

type Outcome = { name: string; result: 'identical' | 'different' | 'skipped'; oracle: string; note?: string };
const outcomes: Outcome[] = [];

describe('differential: stagecraft vs BuildKit (docker.io 20.10) and hand-written expectations', () => {
  let env: BuildEnv;
  let dockerd: RunningDockerd;
  let http: Server;
  let httpBase = '';
  let work = '';
  let agent: { sock: string; pid: number } | undefined;

  before(async () => {
    if (environmentSkip) return;
    const images = [...new Set<BaseImageName>(['busybox:latest', ...cases.flatMap((c) => c.images ?? [])])];
    env = await openBuildEnv(images);
    dockerd = await startDockerd();
    work = await mkdtemp(join(tmpdir(), 'stagecraft-differential-'));
    env.scratch.push(work);
    // The loopback HTTP server for ADD <url>: files under www/, then under the
    // served/ directory that case setups fill (git repositories for ADD <git>,
    // served with git's dumb HTTP protocol); Last-Modified fixed.
    const served = join(work, 'served');
    await mkdir(served);
    http = createServer((req, res) => {
      const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!).replace(/^\/+/, '');
      const p = [join(WWW, rel), join(served, rel)].find((f) => existsSync(f) && statSync(f).isFile());
      if (rel.includes('..') || !p) { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'Last-Modified': new Date(Date.UTC(2024, 0, 2)).toUTCString() }).end(readFileSync(p));
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const addr = http.address();
    httpBase = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    if (cases.some((c) => c.ssh) && !spawnSync('ssh-agent', ['-h']).error) {
      const sock = join(work, 'agent.sock');
      const r = await run('ssh-agent', ['-a', sock, '-s']);
      const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(r.stdout)?.[1]);
      agent = { sock, pid };
    }
  });

  after(async () => {
    if (agent) { try { process.kill(agent.pid); } catch { /* gone */ } }
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
    await dockerd?.stop();
    await env?.close();
    const count = (r: Outcome['result']): number => outcomes.filter((o) => o.result === r).length;
    console.log('differential oracles:');
    for (const oracle of ['buildkit', 'expected']) {
      console.log(`  ${oracle}: ${outcomes.filter((o) => o.oracle === oracle).map((o) => o.name).join(', ') || '(none)'}`);
    }
    const mixed = cases.filter((c) => c.historyExpected).map((c) => c.name);
    if (mixed.length > 0) console.log(`  buildkit+history (files and config from Docker, history hand-written): ${mixed.join(', ')}`);
    for (const o of outcomes) if (o.result === 'skipped') console.log(`  skipped ${o.name}: ${o.note}`);
    for (const o of outcomes) if (o.result === 'different') console.log(`  different ${o.name}`);
    console.log(`differential: ${count('identical')} identical, ${count('different')} different, ${count('skipped')} skipped`);
  });

  async function prepare(c: Case, vars: Record<string, string>): Promise<{ context: string; dockerfile: string; dockerDockerfile: string }> {
    const dir = join(work, c.name);
    await mkdir(dir, { recursive: true });
    const context = join(dir, 'context');
    const source = c.context ? join(REPO, c.context) : join(c.dir, 'context');
    if (existsSync(source)) await cp(source, context, { recursive: true, verbatimSymlinks: true });
    else await mkdir(context);
    if (c.setup) {
      const r = await run('bash', ['-euo', 'pipefail', '-c', c.setup], { cwd: context, env: { ...process.env, SERVED: join(work, 'served') } });
      assert.equal(r.code, 0, `setup of ${c.name}: ${r.stderr}`);
    }
    const own = join(c.dir, 'Dockerfile');
    let text = await readFile(c.dockerfile ? join(REPO, c.dockerfile) : existsSync(own) ? own : join(context, 'Dockerfile'), 'utf8');
    for (const [k, v] of Object.entries(vars)) text = text.split(`@${k}@`).join(v);
    const dockerfile = join(dir, 'Dockerfile');
    await writeFile(dockerfile, text);
    // A `# syntax=` line would make Docker fetch that frontend from Docker Hub (offline here):
    // Docker reads a copy without it, with its built-in frontend.
    const dockerDockerfile = join(dir, 'Dockerfile.docker');
    await writeFile(dockerDockerfile, /^#\s*syntax\s*=/i.test(text) ? text.split('\n').slice(1).join('\n') : text);
    return { context, dockerfile, dockerDockerfile };
  }

  async function secretFiles(c: Case): Promise<Array<{ id: string; path: string }>> {
    const out: Array<{ id: string; path: string }> = [];
    for (const [id, value] of Object.entries(c.secrets ?? {})) {
      const path = join(work, c.name, `secret-${id}`);
      await writeFile(path, value, { mode: 0o600 });
      out.push({ id, path });
    }
    return out;
  }

  async function ours(c: Case, p: { context: string; dockerfile: string }, buildArgs: Record<string, string>, tag: string): Promise<ComparableImage> {
    const secrets = [
      ...(await secretFiles(c)).map((s) => ({ id: s.id, source: { kind: 'file' as const, path: s.path } })),
      ...Object.keys(c.envSecrets ?? {}).map((id) => ({ id, source: { kind: 'env' as const, name: `DIFF_SECRET_${id.toUpperCase()}` } })),
    ];
    for (const [id, v] of Object.entries(c.envSecrets ?? {})) process.env[`DIFF_SECRET_${id.toUpperCase()}`] = v;
    let ref: string;
    try {
      const built = await buildWithEvents({
        context: p.context, dockerfile: p.dockerfile, target: c.target, tags: [tag], buildArgs, root: env.root,
        secrets, ssh: c.ssh && agent ? [{ id: 'default', paths: [agent.sock] }] : undefined,
      });
      ref = built.result.tags[0] ?? built.result.manifestDigest;
    } finally {
      for (const id of Object.keys(c.envSecrets ?? {})) delete process.env[`DIFF_SECRET_${id.toUpperCase()}`];
    }
    const out = join(work, c.name, 'ours');
    await mkdir(out, { recursive: true });
    const store = await Store.open(env.root);
    await saveDockerArchive(store, [ref], createWriteStream(join(out, 'image.tar')));
    const x = await run('tar', ['-xf', join(out, 'image.tar'), '-C', out]);
    assert.equal(x.code, 0, x.stderr);
    return readSavedImage(out);
  }

  async function docker(c: Case, p: { context: string; dockerDockerfile: string }, buildArgs: Record<string, string>, tag: string): Promise<ComparableImage> {
    const args = ['-H', dockerd.host, 'build', '--network', 'host', '-q', '-t', tag, '-f', p.dockerDockerfile];
    for (const [k, v] of Object.entries(buildArgs)) args.push('--build-arg', `${k}=${v}`);
    if (c.target) args.push('--target', c.target);
    for (const s of await secretFiles(c)) args.push('--secret', `id=${s.id},src=${s.path}`);
    const envVars: NodeJS.ProcessEnv = { ...process.env, DOCKER_BUILDKIT: '1' };
    if (c.ssh && agent) { args.push('--ssh', 'default'); envVars.SSH_AUTH_SOCK = agent.sock; }
    args.push(p.context);
    const built = await run('/usr/bin/docker', args, { env: envVars });
    assert.equal(built.code, 0, `docker build of ${c.name} failed: ${built.stderr.slice(-3000)}`);
    const out = join(work, c.name, 'docker');
    await mkdir(out, { recursive: true });
    const saved = await dockerd.docker(['save', '-o', join(out, 'image.tar'), tag]);
    assert.equal(saved.code, 0, saved.stderr);
    const x = await run('tar', ['-xf', join(out, 'image.tar'), '-C', out]);
    assert.equal(x.code, 0, x.stderr);
    await dockerd.docker(['rmi', tag]);
    return readSavedImage(out);
  }

  /**
   * Drops the RUN --mount targets Docker 20.10 leaves behind (empty
   * directories, or empty files for file targets), deepest first, after
   * checking they are empty; a listed target Docker did not leave is fine.
   */
  function dropMountStubs(c: Case, tree: Map<string, string>): string[] {
    const problems: string[] = [];
    const targets = (c.mountTargets ?? []).map((t) => t.replace(/^\/+/, '')).sort((a, b) => b.length - a.length);
    for (const rel of targets) {
      const line = tree.get(rel);
      if (line === undefined) continue;
      const emptyDir = line.startsWith('d') && ![...tree.keys()].some((k) => k.startsWith(`${rel}/`));
      const emptyFile = line.startsWith('f') && / 0 sha256:/.test(line);
      if (!emptyDir && !emptyFile) problems.push(`mount target /${rel} in Docker's image is not an empty stub: ${line}`);
      else tree.delete(rel);
    }
    return problems;
  }

  function compareWithBuildkit(c: Case, theirs: ComparableImage, mine: ComparableImage, buildArgs: Record<string, string>): string[] {
    const keep = (t: Map<string, string>): Map<string, string> => new Map([...t].filter(([p]) => !ignored(p, c.ignore ?? [])));
    const diffs = dropMountStubs(c, theirs.tree);
    diffs.push(...diffTrees(keep(theirs.tree), keep(mine.tree)));
    for (const [k, v] of Object.entries(configFields(theirs.config))) diffs.push(...diffValues(`config.${k}`, v, configFields(mine.config)[k]));
    for (const k of Object.keys(configFields(mine.config))) if (!(k in configFields(theirs.config))) diffs.push(...diffValues(`config.${k}`, undefined, configFields(mine.config)[k]));
    if (c.historyExpected) diffs.push(...diffLists('history(expected)', c.historyExpected.lines, historyLines(mine.config, (t) => t)));
    else diffs.push(...diffLists('history', historyLines(theirs.config, (t) => docker2010History(t, buildArgs, platformArgs())), historyLines(mine.config, withoutCopyFlags)));
    return diffs;
  }

  function compareWithExpected(c: Case, mine: ComparableImage): string[] {
    const exp = c.expected;
    if (!exp) return ['case.json: oracle "expected" needs an "expected" object'];
    const under = (p: string): boolean => exp.under.some((u) => { const r = u.replace(/^\/+|\/+$/g, ''); return p === r || p.startsWith(`${r}/`); });
    const want = new Map(Object.entries(exp.tree).map(([p, s]) => [p.replace(/^\/+/, ''), expectedLine(s)]));
    const got = new Map([...mine.tree].filter(([p]) => under(p) && !ignored(p, c.ignore ?? [])));
    const diffs = diffTrees(want, got);
    const cfg = configFields(mine.config);
    for (const [k, v] of Object.entries(exp.config ?? {})) diffs.push(...diffValues(`config.${k}`, v, cfg[k]));
    if (exp.history) {
      const h = historyLines(mine.config, (t) => t);
      diffs.push(...diffLists('history(last)', exp.history, h.slice(h.length - exp.history.length)));
    }
    return diffs;
  }

  for (const c of cases) {
    const oracle = c.oracle ?? 'buildkit';
    const skip = caseSkipReason(c);
    it(`${c.name} [${oracle}]${c.description ? `: ${c.description}` : ''}`, { skip }, async () => {
      const vars = { REGISTRY: env.host, HTTP: httpBase };
      const buildArgs = { REGISTRY: env.host, HTTP: httpBase, ...c.buildArgs };
      const prepared = await prepare(c, vars);
      const tag = `differential-${c.name}:1`;
      let diffs: string[];
      try {
        const mine = await ours(c, prepared, buildArgs, tag);
        if (oracle === 'expected') diffs = compareWithExpected(c, mine);
        else diffs = compareWithBuildkit(c, await docker(c, prepared, buildArgs, tag), mine, buildArgs);
      } catch (e) {
        outcomes.push({ name: c.name, result: 'different', oracle, note: 'a build failed' });
        console.log(`differential ${c.name}: different (a build failed)`);
        throw e;
      }
      const shown = diffs.slice(0, 80).join('\n') + (diffs.length > 80 ? `\n... ${diffs.length - 80} more lines` : '');
      outcomes.push({ name: c.name, result: diffs.length === 0 ? 'identical' : 'different', oracle });
      console.log(`differential ${c.name}: ${diffs.length === 0 ? 'identical' : 'different'} (oracle ${oracle})`);
      assert.equal(diffs.length, 0, `${c.name}: stagecraft differs from ${oracle === 'buildkit' ? 'BuildKit' : 'the expected tree'} (- ${oracle}, + stagecraft):\n${shown}`);
    });
    if (skip) outcomes.push({ name: c.name, result: 'skipped', oracle, note: skip });
  }
});
