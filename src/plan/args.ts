/**
 * Build arguments before the first stage: the predefined platform args, the
 * global (meta) ARGs, and the proxy build-args that RUN sees without an ARG.
 */
import { StagecraftError } from '../errors.js';
import type { ArgInstruction } from '../dockerfile/instructions/types.js';
import { ExpansionError, type ShellLex } from '../dockerfile/shell/index.js';
import { EnvList } from './env-list.js';
import type { BuildRequest, Platform } from './types.js';

/** `os/arch[/variant]`, like containerd's `platforms.Format`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s): s is string => !!s).join('/');
}

/**
 * The implicitly global args, in BuildKit's order, each overridable by a
 * build-arg of the same name. `targetStage` is the selected target's name
 * ('' when the last stage is unnamed and no target was given: then `default`).
 */
export function predefinedArgs(req: BuildRequest, targetStage: string): EnvList {
  const b = req.buildPlatform;
  const t = req.platform;
  const defaults: Array<[string, string]> = [
    ['BUILDPLATFORM', formatPlatform(b)],
    ['BUILDOS', b.os],
    ['BUILDOSVERSION', ''],
    ['BUILDARCH', b.architecture],
    ['BUILDVARIANT', b.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(t)],
    ['TARGETOS', t.os],
    ['TARGETOSVERSION', ''],
    ['TARGETARCH', t.architecture],
    ['TARGETVARIANT', t.variant ?? ''],
    ['TARGETSTAGE', targetStage === '' ? 'default' : targetStage],
  ];
  let env = EnvList.empty();
  for (const [k, v] of defaults) {
    const override = Object.hasOwn(req.buildArgs, k) ? req.buildArgs[k] : undefined;
    env = env.set(k, override ?? v);
  }
  return env;
}

/**
 * Evaluates the ARGs before the first FROM, in order: a build-arg overrides
 * the default; a default expands against the globals defined so far; an ARG
 * with neither stays undefined (it is not added).
 */
export function evaluateMetaArgs(
  start: EnvList,
  metaArgs: readonly ArgInstruction[],
  buildArgs: Readonly<Record<string, string>>,
  lex: ShellLex,
  file: string | undefined,
): EnvList {
  let env = start;
  for (const cmd of metaArgs) {
    for (const arg of cmd.args) {
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, arg.key) && buildArgs[arg.key] !== undefined) {
        value = buildArgs[arg.key];
      } else if (arg.value !== undefined) {
        try {
          value = lex.processWord(arg.value, env.pairs());
        } catch (e) {
          throw relocate(e, { file, startLine: cmd.location.startLine, endLine: cmd.location.endLine });
        }
      }
      if (value !== undefined) env = env.set(arg.key, value);
    }
  }
  return env;
}

/** Attaches a Dockerfile location to an expansion error (other errors pass through). */
export function relocate(e: unknown, location: { file?: string | undefined; startLine: number; endLine: number }): unknown {
  if (e instanceof ExpansionError) {
    return new StagecraftError('EXPANSION', e.message, { location, cause: e });
  }
  if (e instanceof StagecraftError && e.location === undefined) {
    return new StagecraftError(e.code, e.message, { location, cause: e.cause ?? e, hint: e.hint });
  }
  return e;
}

export interface ProxyEnv {
  HTTPProxy?: string;
  HTTPSProxy?: string;
  FTPProxy?: string;
  NoProxy?: string;
  AllProxy?: string;
}

const PROXY_KEYS: Array<[string, keyof ProxyEnv]> = [
  ['http_proxy', 'HTTPProxy'],
  ['https_proxy', 'HTTPSProxy'],
  ['ftp_proxy', 'FTPProxy'],
  ['no_proxy', 'NoProxy'],
  ['all_proxy', 'AllProxy'],
];

/**
 * The proxy settings from build-args (names matched case-insensitively; keys
 * are visited in sorted order, so `http_proxy` wins over `HTTP_PROXY`).
 * Undefined when no proxy build-arg is given.
 */
export function proxyEnvFromBuildArgs(buildArgs: Readonly<Record<string, string>>): ProxyEnv | undefined {
  const out: ProxyEnv = {};
  let any = false;
  const keys = Object.keys(buildArgs).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const k of keys) {
    const v = buildArgs[k];
    if (v === undefined) continue;
    for (const [name, field] of PROXY_KEYS) {
      if (k.toLowerCase() === name) {
        out[field] = v;
        any = true;
      }
    }
  }
  return any ? out : undefined;
}

/** The variables the runtime adds to RUN for a proxy setting (both spellings). */
export function proxyEnvList(p: ProxyEnv | undefined): string[] {
  if (!p) return [];
  const out: string[] = [];
  const add = (upper: string, v: string | undefined): void => {
    if (v) out.push(`${upper}=${v}`, `${upper.toLowerCase()}=${v}`);
  };
  add('HTTP_PROXY', p.HTTPProxy);
  add('HTTPS_PROXY', p.HTTPSProxy);
  add('FTP_PROXY', p.FTPProxy);
  add('NO_PROXY', p.NoProxy);
  add('ALL_PROXY', p.AllProxy);
  return out;
}
