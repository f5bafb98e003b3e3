/**
 * RUN: argv (shell form wrapped in SHELL, heredocs), mounts after ARG/ENV
 * expansion, the process env, and BuildKit's history line
 * `RUN |N k=v ... argv # buildkit`.
 */
import { StagecraftError, type SourceRange } from '../errors.js';
import type { RunInstruction } from '../dockerfile/instructions/types.js';
import { parseMount, parseHeredocWord, chompHeredocContent, type Mount } from '../dockerfile/instructions/index.js';
import { EnvList } from './env-list.js';
import { withShell } from './dispatch-config.js';
import { cleanPath, type ArgInScope, type StageBuilder } from './stage-state.js';
import type { RunMount, Step, StepSource } from './types.js';

export interface RunOutcome {
  step: Extract<Step, { kind: 'run' }>;
  createdBy: string;
  name: string;
  /** The env the step's cache key depends on (no proxy values). */
  cacheEnv: string[];
}

/** `RUN` history: `|N k=v ...` for the ARGs in scope (deduplicated, latest value), then argv. */
export function runCommandString(args: readonly string[], buildArgs: readonly ArgInScope[], env: EnvList): string {
  const out: string[] = [];
  const idx = new Map<string, number>();
  for (const arg of buildArgs) {
    const v = env.get(arg.key) ?? arg.value ?? '';
    const i = idx.get(arg.key);
    if (i !== undefined) out[i] = `${arg.key}=${v}`;
    else {
      idx.set(arg.key, out.length);
      out.push(`${arg.key}=${v}`);
    }
  }
  const prefix = out.length > 0 ? [`|${out.length}`, ...out] : [];
  return [...prefix, ...args].join(' ');
}

/** First line of a heredoc body, with `...` when there are more (progress names). */
function summarizeHeredoc(doc: string): string {
  const lines = doc.trim().replace(/\r\n/g, '\n').split('\n');
  return lines.length > 1 ? `${lines[0]}...` : (lines[0] ?? '');
}

function toRunMount(
  m: Mount,
  dir: string,
  resolveFrom: (from: string) => StepSource,
): RunMount {
  const target = m.target.startsWith('/') ? cleanPath(m.target) : cleanPath(`/${dir}/${m.target}`);
  if ((m.type === 'bind' || m.type === 'cache' || m.type === 'tmpfs') && target === '/') {
    throw new StagecraftError('INSTRUCTION', `invalid mount target ${JSON.stringify(target)}`);
  }
  switch (m.type) {
    case 'bind':
      return {
        type: 'bind', target, source: cleanPath(`/${m.source}`),
        from: m.from === '' ? { kind: 'context' } : resolveFrom(m.from), readonly: m.readonly,
      };
    case 'cache':
      return {
        type: 'cache', target, id: m.id, sharing: m.sharing,
        ...(m.from !== '' ? { from: resolveFrom(m.from) } : {}),
        ...(m.source !== '' ? { source: cleanPath(`/${m.source}`) } : {}),
        readonly: m.readonly,
        ...(m.uid !== undefined ? { uid: m.uid } : {}),
        ...(m.gid !== undefined ? { gid: m.gid } : {}),
        ...(m.mode !== undefined ? { mode: m.mode } : {}),
      };
    case 'tmpfs':
      return { type: 'tmpfs', target, ...(m.size !== undefined ? { size: m.size } : {}) };
    case 'secret':
      return {
        type: 'secret', id: m.id, ...(m.target !== '' ? { target: m.target } : {}),
        ...(m.env !== undefined ? { env: m.env } : {}), required: m.required,
        ...(m.uid !== undefined ? { uid: m.uid } : {}),
        ...(m.gid !== undefined ? { gid: m.gid } : {}),
        ...(m.mode !== undefined ? { mode: m.mode } : {}),
      };
    case 'ssh':
      return {
        type: 'ssh', id: m.id, ...(m.target !== '' ? { target: m.target } : {}), required: m.required,
        ...(m.uid !== undefined ? { uid: m.uid } : {}),
        ...(m.gid !== undefined ? { gid: m.gid } : {}),
        ...(m.mode !== undefined ? { mode: m.mode } : {}),
      };
  }
}

export function dispatchRun(
  b: StageBuilder,
  ins: RunInstruction,
  location: SourceRange,
  opts: { resolveMountFrom: (from: string) => StepSource; proxyEnv: string[] },
): RunOutcome {
  let args = [...ins.cmdLine];
  let customName = ins.original;
  const files: Array<{ path: string; content: string; mode: number }> = [];
  if (ins.files.length > 0) {
    if (args.length !== 1 || !ins.prependShell) {
      throw new StagecraftError('INSTRUCTION', `parsing produced an invalid run command: [${args.join(' ')}]`, { location });
    }
    const first = ins.files[0]!;
    if (parseHeredocWord(args[0]!) !== undefined) {
      const data = first.chomp ? chompHeredocContent(first.data) : first.data;
      if (data.startsWith('#!')) {
        // A single heredoc with a shebang: write it to a file and run that.
        const path = `/dev/pipes/${first.name}`;
        files.push({ path, content: data, mode: 0o755 });
        args = [path];
      } else {
        args = [data];
      }
      customName += ` (${summarizeHeredoc(first.data)})`;
    } else {
      let s = args[0]!;
      for (const f of ins.files) s += `\n${f.data}${f.name}`;
      args = [s];
    }
  }
  // Shell form (heredocs included, even the shebang file) runs through SHELL.
  if (ins.prependShell) args = withShell(b.config, args);

  let mounts: RunMount[];
  try {
    mounts = ins.mounts.map((raw) =>
      toRunMount(parseMount(raw, (s) => b.expand(s, location)), b.dir, opts.resolveMountFrom),
    );
  } catch (e) {
    if (e instanceof StagecraftError && e.location === undefined) {
      throw new StagecraftError(e.code, e.message, { location, cause: e.cause, hint: e.hint });
    }
    throw e;
  }

  // Secret values exposed as env never show in progress names.
  let nameEnv = b.env;
  for (const m of mounts) if (m.type === 'secret' && m.env) nameEnv = nameEnv.set(m.env, '****');
  const name = b.progressName(customName, b.runNameLex, nameEnv);

  const env = b.env.toStrings();
  const step: RunOutcome['step'] = {
    kind: 'run',
    args,
    env: [...env, ...opts.proxyEnv],
    cwd: b.dir === '' ? '/' : b.dir,
    user: b.user,
    network: ins.network,
    security: ins.security,
    mounts,
    files,
  };
  return { step, createdBy: `RUN ${runCommandString(args, b.buildArgs, b.env)}`, name, cacheEnv: env };
}
