/** `stagecraft build`: options -> build() with a progress renderer; returns the exit code. */
import { availableParallelism } from 'node:os';
import { StagecraftError } from '../errors.js';
import { build } from '../build/build.js';
import type { PushEvent } from '../build/push.js';
import { parseSecretFlag, parseSshFlag } from '../build/secrets.js';
import type { RuntimeName } from '../runtime/detect.js';
import { createRenderer, type ProgressMode } from './progress.js';
import { reportError } from './main.js';

export interface BuildCommandOptions {
  file?: string;
  tag: string[];
  target?: string;
  buildArg: string[];
  cache: boolean;
  platform?: string;
  insecureRegistry: string[];
  registryMirror?: string[];
  certsDir?: string;
  /** Directory of Docker's config.json (`--config`). */
  config?: string;
  /** Push every tag after the build. */
  push?: boolean;
  secret?: string[];
  ssh?: string[];
  runtime?: string;
  progress: ProgressMode;
  /** `-q`, as docker's: no step output (the image ID on stdout, warnings and the size summary on stderr). */
  quiet?: boolean;
  jobs?: string;
  root: string;
  debug?: boolean;
}

/** `K=V` pairs; a bare `K` takes its value from the environment, as docker does (and is dropped when unset). */
export function parseBuildArgs(list: string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq === 0) throw new StagecraftError('USAGE', `invalid --build-arg "${item}"`, { hint: 'use --build-arg NAME=value' });
    if (eq < 0) {
      const v = env[item];
      if (v !== undefined) out[item] = v;
      continue;
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export async function buildCommand(context: string, o: BuildCommandOptions): Promise<number> {
  const renderer = await createRenderer(o.quiet ? 'quiet' : o.progress, process.stderr);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new StagecraftError('INTERNAL', 'build interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (o.runtime !== undefined && o.runtime !== 'runc' && o.runtime !== 'crun') {
      throw new StagecraftError('USAGE', `unknown runtime "${o.runtime}"`, { hint: 'use --runtime runc or --runtime crun' });
    }
    const jobs = o.jobs === undefined ? availableParallelism() : Number(o.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) throw new StagecraftError('USAGE', `--jobs must be a positive whole number, not "${o.jobs}"`);
    if (o.push && o.tag.length === 0) {
      throw new StagecraftError('USAGE', '--push needs at least one -t name to push to', { hint: 'stagecraft build --push -t registry.example/app:1 .' });
    }
    const secrets = (o.secret ?? []).map(parseSecretFlag);
    const ssh = (o.ssh ?? []).map(parseSshFlag);
    // What kind of build this is, for bin/stagecraft.cjs's choice of V8 code cache: one that pulled
    // or ran --no-cache compiles other functions than the rebuilds whose latency matters; a rebuild
    // that ran a step ('steps') compiles a no-op rebuild's functions and a step's.
    const runKey = Symbol.for('stagecraft.codeCacheRun');
    const g = globalThis as Record<symbol, unknown>;
    const codeCacheRun = (k: 'pulled' | 'no-cache' | 'steps'): void => {
      if (k !== 'steps' || g[runKey] === undefined) g[runKey] = k;
    };
    if (!o.cache) codeCacheRun('no-cache');
    const result = await build({
      context,
      dockerfile: o.file,
      tags: o.tag,
      target: o.target,
      buildArgs: parseBuildArgs(o.buildArg),
      noCache: !o.cache,
      root: o.root,
      platform: o.platform,
      insecureRegistries: o.insecureRegistry,
      registryMirrors: o.registryMirror ?? [],
      certsDir: o.certsDir,
      dockerConfigDir: o.config,
      secrets,
      ssh,
      runtime: o.runtime as RuntimeName | undefined,
      jobs,
      onEvent: (e) => {
        if (e.type === 'resolve-done' && e.pulledBytes > 0) codeCacheRun('pulled');
        else if (e.type === 'step-done' && !e.cached) codeCacheRun('steps');
        renderer.sink(e);
      },
      signal: controller.signal,
    });
    renderer.close();
    // The image ID (config digest), as docker build -q prints it and the IMAGE ID column of `images` shows it.
    process.stdout.write(`${result.configDigest}\n`);
    if (o.push) {
      // Ctrl-C during the push stops the process at once (an unfinished upload is simply abandoned).
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // The registry stack (http, tls) is loaded only when a build pushes or pulls.
      const { push } = await import('../build/push.js');
      const pushed = await push(result.tags, {
        root: o.root, source: result.tags[0], insecureRegistries: o.insecureRegistry, certsDir: o.certsDir, dockerConfigDir: o.config, onEvent: pushProgress(o.progress),
      });
      for (const ref of pushed.references) process.stdout.write(`${ref}: digest: ${pushed.digest} size: ${pushed.size}\n`);
    }
    return 0;
  } catch (e) {
    renderer.close();
    if (e instanceof StagecraftError) for (const l of e.details) process.stderr.write(`${l}\n`);
    return reportError(e, o.debug ?? false);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Push progress on stderr, next to the build's: a line per blob (a JSON line with --progress json). */
function pushProgress(mode: ProgressMode): (e: PushEvent) => void {
  return (e) => {
    if (mode === 'quiet') return;
    if (mode === 'json') {
      process.stderr.write(`${JSON.stringify({ type: 'push', ...e })}\n`);
      return;
    }
    if (e.kind === 'blob') {
      const word = e.result === 'exists' ? 'Layer already exists' : e.result === 'mounted' ? 'Mounted' : 'Pushed';
      process.stderr.write(`push ${e.digest.slice(7, 19)}: ${word}\n`);
    } else {
      process.stderr.write(`push ${e.reference}: ${e.digest}\n`);
    }
  };
}
