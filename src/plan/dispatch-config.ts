/**
 * Instructions that change only the image config (and WORKDIR, which also
 * creates its directory), with BuildKit's exact history strings.
 */
import { StagecraftError, type SourceRange } from '../errors.js';
import type { Instruction } from '../dockerfile/instructions/types.js';
import { parseExposePorts, formatGoDuration } from '../dockerfile/instructions/index.js';
import { addEnv } from './env-list.js';
import { goList, goQuoteList } from './go-format.js';
import { NON_ENV_ARGS, normalizeWorkdir, type StageBuilder } from './stage-state.js';
import type { ContainerConfig, Step } from './types.js';

export interface ArgScope {
  /** --build-arg values. */
  buildArgs: Readonly<Record<string, string>>;
  /** Global args (predefined platform args + meta ARGs). */
  globals: { get(key: string): string | undefined };
}

/** What a config instruction contributes: the step, its history line, and its progress name. */
export interface ConfigOutcome {
  step: Step;
  createdBy: string;
  withLayer: boolean;
  /** True when BuildKit shows a progress vertex for it. */
  vertex: boolean;
}

const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL',
  'PROF', 'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1',
  'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ', 'RTMIN', 'RTMAX',
  ...Array.from({ length: 15 }, (_, i) => `RTMIN+${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `RTMAX-${i + 1}`),
]);

/** moby `signal.ParseSignal` on Linux: a positive number or a known name, with or without SIG. */
export function checkSignal(raw: string): void {
  if (/^[+-]?[0-9]+$/.test(raw)) {
    if (Number(raw) === 0) throw new StagecraftError('INSTRUCTION', `Invalid signal: ${raw}`);
    return;
  }
  const name = raw.toUpperCase().replace(/^SIG/, '');
  if (!SIGNALS.has(name)) throw new StagecraftError('INSTRUCTION', `Invalid signal: ${raw}`);
}

const CONFIG: Step = { kind: 'config' };

/** `withShell`: the stage's SHELL (default `/bin/sh -c`) plus the command joined with spaces. */
export function withShell(config: ContainerConfig, args: readonly string[]): string[] {
  const shell = config.Shell && config.Shell.length > 0 ? [...config.Shell] : ['/bin/sh', '-c'];
  return [...shell, args.join(' ')];
}

function wrap(e: unknown, location: SourceRange): unknown {
  if (e instanceof StagecraftError && e.location === undefined) {
    return new StagecraftError(e.code, e.message, { location, cause: e.cause, hint: e.hint });
  }
  return e;
}

/**
 * Dispatches a config-only instruction (everything but RUN/COPY/ADD/ONBUILD).
 * Returns undefined for kinds it does not handle.
 */
export function dispatchConfig(b: StageBuilder, ins: Instruction, scope: ArgScope, location: SourceRange): ConfigOutcome | undefined {
  try {
    return dispatchConfigInner(b, ins, scope, location);
  } catch (e) {
    throw wrap(e, location);
  }
}

function dispatchConfigInner(b: StageBuilder, ins: Instruction, scope: ArgScope, location: SourceRange): ConfigOutcome | undefined {
  const c = b.config;
  switch (ins.kind) {
    case 'env': {
      // Every pair expands against the env as it was before this line.
      const pairs = ins.pairs.map((p) => ({ key: b.expand(p.key, location), value: b.expand(p.value, location) }));
      let msg = 'ENV';
      for (const p of pairs) {
        msg += ` ${p.key}=${p.value}`;
        b.env = b.env.set(p.key, p.value);
        c.Env = addEnv(c.Env, p.key, p.value);
      }
      return { step: CONFIG, createdBy: msg, withLayer: false, vertex: false };
    }
    case 'label': {
      const pairs = ins.pairs.map((p) => ({ key: b.expand(p.key, location), value: b.expand(p.value, location) }));
      let msg = 'LABEL';
      c.Labels = { ...(c.Labels ?? {}) };
      for (const p of pairs) {
        c.Labels[p.key] = p.value;
        msg += ` ${p.key}=${p.value}`;
      }
      return { step: CONFIG, createdBy: msg, withLayer: false, vertex: false };
    }
    case 'arg': {
      const parts: string[] = [];
      for (const arg of ins.args) {
        const hasBuildValue = Object.hasOwn(scope.buildArgs, arg.key) && scope.buildArgs[arg.key] !== undefined;
        let value: string | undefined = arg.value;
        let hasDefault = arg.value !== undefined;
        if (!hasDefault && !hasBuildValue) {
          const g = scope.globals.get(arg.key);
          if (g !== undefined) {
            value = g;
            hasDefault = false;
          }
        }
        if (hasBuildValue) value = scope.buildArgs[arg.key];
        else if (hasDefault && value !== undefined) value = b.expand(value, location);
        if (value !== undefined && !NON_ENV_ARGS.has(arg.key)) b.env = b.env.set(arg.key, value);
        b.buildArgs.push(value === undefined ? { key: arg.key } : { key: arg.key, value });
        parts.push(value === undefined ? arg.key : `${arg.key}=${value}`);
      }
      return { step: CONFIG, createdBy: `ARG ${parts.join(' ')}`, withLayer: false, vertex: false };
    }
    case 'workdir': {
      const requested = b.expand(ins.path, location);
      if (requested === '') throw new StagecraftError('INSTRUCTION', 'normalizing workdir: cannot normalize empty path');
      const wd = normalizeWorkdir(c.WorkingDir ?? '', requested);
      c.WorkingDir = wd;
      b.dir = wd;
      if (wd === '/') return { step: CONFIG, createdBy: `WORKDIR ${wd}`, withLayer: false, vertex: false };
      return { step: { kind: 'mkdir', path: wd, user: c.User ?? '' }, createdBy: `WORKDIR ${wd}`, withLayer: true, vertex: true };
    }
    case 'user': {
      const user = b.expand(ins.user, location);
      c.User = user;
      b.user = user;
      return { step: CONFIG, createdBy: `USER ${user}`, withLayer: false, vertex: false };
    }
    case 'cmd': {
      const args = ins.prependShell ? withShell(c, ins.cmdLine) : [...ins.cmdLine];
      c.Cmd = args;
      c.ArgsEscaped = true;
      b.cmdSet = true;
      return { step: CONFIG, createdBy: `CMD ${goQuoteList(args)}`, withLayer: false, vertex: false };
    }
    case 'entrypoint': {
      const line = ins.cmdLine ?? [];
      const args = ins.prependShell ? withShell(c, line) : ins.cmdLine === null ? null : [...line];
      c.Entrypoint = args;
      if (!b.cmdSet) c.Cmd = null;
      return { step: CONFIG, createdBy: `ENTRYPOINT ${goQuoteList(args)}`, withLayer: false, vertex: false };
    }
    case 'shell': {
      c.Shell = [...ins.shell];
      return { step: CONFIG, createdBy: `SHELL ${goList(ins.shell)}`, withLayer: false, vertex: false };
    }
    case 'healthcheck': {
      const h = ins.health;
      c.Healthcheck = {
        ...(h.test.length > 0 ? { Test: [...h.test] } : {}),
        ...(h.interval ? { Interval: h.interval } : {}),
        ...(h.timeout ? { Timeout: h.timeout } : {}),
        ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
        ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
        ...(h.retries ? { Retries: h.retries } : {}),
      };
      return { step: CONFIG, createdBy: `HEALTHCHECK ${healthcheckString(h)}`, withLayer: false, vertex: false };
    }
    case 'expose': {
      const specs: string[] = [];
      for (const p of ins.ports) specs.push(...b.expandWords(p, location));
      const ports = parseExposePorts(specs);
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of ports) c.ExposedPorts[p] = {};
      return { step: CONFIG, createdBy: `EXPOSE ${goList(ports)}`, withLayer: false, vertex: false };
    }
    case 'volume': {
      const vols = ins.volumes.map((v) => b.expand(v, location));
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of vols) {
        if (v === '') throw new StagecraftError('INSTRUCTION', 'VOLUME specified can not be an empty string');
        c.Volumes[v] = {};
      }
      return { step: CONFIG, createdBy: `VOLUME ${goList(vols)}`, withLayer: false, vertex: false };
    }
    case 'stopsignal': {
      const sig = b.expand(ins.signal, location);
      checkSignal(sig);
      c.StopSignal = sig;
      return { step: CONFIG, createdBy: `STOPSIGNAL ${sig}`, withLayer: false, vertex: false };
    }
    case 'maintainer': {
      b.author = ins.maintainer;
      return { step: CONFIG, createdBy: `MAINTAINER ${ins.maintainer}`, withLayer: false, vertex: false };
    }
    default:
      return undefined;
  }
}

/** Go `%+v` of BuildKit's HealthcheckConfig: `{Test:[CMD-SHELL x] Interval:1s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}`. */
export function healthcheckString(h: {
  test: readonly string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}): string {
  return (
    `{Test:${goList(h.test)} Interval:${formatGoDuration(h.interval)} Timeout:${formatGoDuration(h.timeout)} ` +
    `StartPeriod:${formatGoDuration(h.startPeriod)} StartInterval:${formatGoDuration(h.startInterval)} Retries:${h.retries}}`
  );
}
