/**
 * `lint`: BuildKit's Dockerfile checks, exactly (names, texts, which stages
 * they look at), plus stagecraft's multi-stage checks. Pure: text in, data out.
 */
import { StagecraftError } from '../errors.js';
import { parse, parseCheckDirective, parseDirective, type CheckDirective } from '../dockerfile/parser/index.js';
import { parseInstruction, buildkitErrorText, type ArgInstruction, type Stage } from '../dockerfile/instructions/index.js';
import { ShellLex } from '../dockerfile/shell/index.js';
import { planGraph, predefinedArgs, evaluateMetaArgs, type GraphResult, type Platform, type BuildRequest } from '../plan/index.js';
import { Collector, localSkips } from './collector.js';
import { checkEmptyContinuations, checkFromLines, checkInstructionCasing, checkParsedInstruction } from './file-checks.js';
import { walkStages } from './stage-walk.js';
import { stagecraftChecks } from './stage-checks.js';
import type { LintInput, LintResult, LintWarning } from './types.js';

export const CHECK_BUILD_ARG = 'BUILDKIT_DOCKERFILE_CHECK';

export function parsePlatform(text: string): Platform {
  const [os = 'linux', architecture = 'amd64', variant] = text.split('/');
  return variant !== undefined ? { os, architecture, variant } : { os, architecture };
}

function sortWarnings(ws: LintWarning[]): LintWarning[] {
  return ws.sort(
    (a, b) =>
      a.location.startLine - b.location.startLine ||
      (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0) ||
      (a.detail < b.detail ? -1 : a.detail > b.detail ? 1 : 0),
  );
}

function failure(error: unknown, file: string | undefined, warnings: LintWarning[] = []): LintResult {
  const e =
    error instanceof StagecraftError
      ? error
      : new StagecraftError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
  if (file !== undefined && e.location && e.location.file === undefined) (e.location as { file?: string }).file = file;
  return { warnings: sortWarnings(warnings), failed: true, error: e };
}

/** The `# check=` settings, the build arg overriding the directive as in BuildKit. */
export function checkConfig(
  directive: string | undefined,
  buildArgs: Readonly<Record<string, string>>,
  directiveLine?: number,
): CheckDirective {
  const fromArg = Object.hasOwn(buildArgs, CHECK_BUILD_ARG) ? buildArgs[CHECK_BUILD_ARG] : undefined;
  try {
    return parseCheckDirective(fromArg ?? directive ?? '');
  } catch (e) {
    const where = fromArg !== undefined ? `--build-arg ${CHECK_BUILD_ARG}` : '# check=';
    throw new StagecraftError('PARSE', `failed to parse check options: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      hint: `fix ${where}: skip=<all|Rule,...>;error=<bool>;experimental=<all|Rule,...>`,
      location: fromArg === undefined && directiveLine !== undefined && directiveLine > 0 ? { startLine: directiveLine, endLine: directiveLine } : undefined,
    });
  }
}

export function lint(input: LintInput): LintResult {
  const file = input.file;
  const buildArgs = input.buildArgs ?? {};
  let parsed: ReturnType<typeof parse>;
  let config: CheckDirective;
  try {
    parsed = input.parsed ?? parse(input.dockerfile, file !== undefined ? { file } : {});
    config = checkConfig(parsed.directives.check, buildArgs, parseDirective('check', input.dockerfile)?.line);
  } catch (e) {
    return failure(e, file);
  }
  const c = new Collector(config, file, localSkips(parsed.ast));
  checkEmptyContinuations(c, parsed.warnings);
  checkInstructionCasing(c, parsed.ast);

  // Instructions, one by one: warnings found before a parse error are kept.
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const node of parsed.ast.children) {
    let ins;
    try {
      ins = parseInstruction(node);
    } catch (e) {
      const err = e instanceof StagecraftError ? new StagecraftError(e.code, buildkitErrorText(e), { location: e.location, cause: e }) : e;
      return failure(err, file, c.warnings);
    }
    checkParsedInstruction(c, ins, names);
    if (ins.kind === 'from') {
      stages.push({
        ...(ins.stageName !== undefined ? { name: ins.stageName, nameOriginal: ins.stageNameOriginal ?? ins.stageName } : {}),
        index: stages.length, from: ins, commands: [], location: { ...ins.location },
      });
    } else {
      const cur = stages[stages.length - 1];
      if (cur) {
        cur.commands.push(ins);
        cur.location.endLine = Math.max(cur.location.endLine, ins.location.endLine);
      } else if (ins.kind === 'arg') {
        metaArgs.push(ins);
      } else {
        return failure(new StagecraftError('STAGE', 'no build stage in current context', { location: { ...ins.location } }), file, c.warnings);
      }
    }
  }

  const platform = input.platform ?? 'linux/amd64';
  const req: BuildRequest = {
    buildArgs,
    platform: parsePlatform(platform),
    buildPlatform: parsePlatform(platform),
    ...(input.target !== undefined ? { target: input.target } : {}),
    ...(file !== undefined ? { file } : {}),
  };
  const lex = new ShellLex({ escapeToken: parsed.escapeToken });
  let graph: GraphResult;
  try {
    const last = stages[stages.length - 1];
    const globals = evaluateMetaArgs(predefinedArgs(req, input.target ?? last?.name ?? ''), metaArgs, buildArgs, lex, file);
    checkFromLines(c, stages, metaArgs, new Map(globals.pairs()), lex);
    graph = planGraph({ metaArgs, stages, escapeToken: parsed.escapeToken }, req);
  } catch (e) {
    return failure(e, file, c.warnings);
  }

  try {
    const facts = walkStages(c, {
      stages, graph, buildArgs, dockerignore: input.dockerignore, platform,
      resolveImage: input.resolveImage,
    });
    if (input.stagecraftChecks !== false) stagecraftChecks(c, { stages, graph, facts, probeStage: input.probeStage });
  } catch (e) {
    return failure(e, file, c.warnings);
  }

  const warnings = sortWarnings(c.warnings);
  if (config.error) {
    const failing = warnings.filter((w) => w.level === 'warning');
    if (failing.length > 0) {
      const rules = [...new Set(failing.map((w) => w.rule))].sort();
      const first = failing[0]!.location;
      const error = new StagecraftError('LINT', `lint violation found for rules: ${rules.join(', ')}`, {
        location: { ...first },
        hint: 'fix the warnings above, or skip rules with # check=skip=<rule>',
      });
      return { warnings, failed: true, error };
    }
  }
  return { warnings, failed: false };
}
