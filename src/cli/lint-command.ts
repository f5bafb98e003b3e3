/**
 * `stagecraft lint` and `stagecraft outline`: read the Dockerfile (and the
 * .dockerignore that applies to it), run the pure checks, print.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { StagecraftError } from '../errors.js';
import { dockerignoreCandidates } from '../dockerfile/dockerignore/index.js';
import { lint, formatWarning, type LintResult, type BaseImageInfo } from '../lint/index.js';
import { outline, renderOutline } from '../outline/index.js';
import { parseBuildArgs } from './build-command.js';
import { localBaseImages } from './lint-images.js';

/** The platform this machine builds for by default (`linux/<arch>`). */
function hostPlatform(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch];
  return `linux/${arch ?? process.arch}`;
}

function storeRoot(): string {
  return process.env.STAGECRAFT_ROOT ?? '/var/lib/stagecraft';
}

export interface LintCommandOptions {
  file?: string;
  buildArg: string[];
  format: 'text' | 'json';
}

export interface OutlineCommandOptions extends LintCommandOptions {
  target?: string;
}

async function readDockerfile(context: string, file: string | undefined): Promise<{ path: string; text: string }> {
  const path = file ?? join(context, 'Dockerfile');
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch (e) {
    throw new StagecraftError('NOT_FOUND', `cannot read Dockerfile ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
      cause: e,
      hint: 'pass the build context directory, or -f <Dockerfile>',
    });
  }
}

/** `<Dockerfile>.dockerignore` beside it wins over `<context>/.dockerignore`. */
async function readIgnore(dockerfilePath: string, context: string): Promise<string | undefined> {
  const found = dockerignoreCandidates(dockerfilePath, context).find((p) => existsSync(p));
  return found === undefined ? undefined : readFile(found, 'utf8');
}

function errorJson(e: StagecraftError | undefined): unknown {
  if (!e) return undefined;
  return { code: e.code, message: e.message, ...(e.location ? { location: e.location } : {}) };
}

export async function lintCommand(context: string, o: LintCommandOptions): Promise<number> {
  const { path, text } = await readDockerfile(context, o.file);
  const dockerignore = await readIgnore(path, context);
  const buildArgs = parseBuildArgs(o.buildArg);
  const platform = hostPlatform();
  // Base images already in the local store give lint their real Env, Shell, platform and os-release.
  let known = new Map<string, BaseImageInfo>();
  try {
    known = await localBaseImages(storeRoot(), outline({ dockerfile: text, file: path, buildArgs, platform }).stages);
  } catch {
    // a Dockerfile that does not plan: lint reports why
  }
  const result: LintResult = lint({
    dockerfile: text, file: path, dockerignore, buildArgs, platform, resolveImage: (ref) => known.get(ref),
  });
  if (o.format === 'json') {
    const out = { file: path, warnings: result.warnings, failed: result.failed, error: errorJson(result.error) };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    for (const w of result.warnings) process.stdout.write(formatWarning(w, path) + '\n');
    if (result.error) {
      // BuildKit's text repeats the line (`dockerfile parse error on line N: ...`); the location already says it.
      const e = result.error;
      const shown = e.cause instanceof StagecraftError && e.message.startsWith('dockerfile parse error on line') ? e.cause : e;
      process.stderr.write(`error: ${shown.oneLine()}\n`);
    }
    else if (result.warnings.length === 0) process.stderr.write(`${path}: no warnings\n`);
  }
  return result.failed ? 1 : 0;
}

export async function outlineCommand(context: string, o: OutlineCommandOptions): Promise<number> {
  const { path, text } = await readDockerfile(context, o.file);
  const result = outline({
    dockerfile: text, file: path, buildArgs: parseBuildArgs(o.buildArg), platform: hostPlatform(),
    ...(o.target !== undefined ? { target: o.target } : {}),
  });
  process.stdout.write(o.format === 'json' ? JSON.stringify(result, null, 2) + '\n' : renderOutline(result));
  return 0;
}
