/** RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK: the instructions that carry a command. */
import { checkMountSyntax } from './mount.js';
import { parseDevice } from './device.js';
import { parseGoDuration } from './duration.js';
import { goQuote, parseGoInt32 } from './go-values.js';
import { problem } from './problem.js';
import { common, errAtLeastOneArgument, handleJSONArgs, type ParseRequest } from './request.js';
import type { Flag } from './bflags.js';
import type {
  CmdInstruction, CommandLine, EntrypointInstruction, HealthConfig, HealthcheckInstruction, InlineFile,
  NetworkMode, RunInstruction, SecurityMode, ShellInstruction,
} from './types.js';

const NETWORKS: readonly NetworkMode[] = ['default', 'none', 'host'];
const SECURITY: readonly SecurityMode[] = ['sandbox', 'insecure'];
/** Docker's minimum for HEALTHCHECK durations (a non-zero value below it is an error). */
const MINIMUM_DURATION_NS = 1_000_000;

function commandLine(req: ParseRequest): CommandLine {
  const files = req.heredocs.map((h): InlineFile => ({ name: h.name, data: h.content, chomp: h.chomp, expand: h.expand }));
  return { cmdLine: handleJSONArgs(req.args, req.json), prependShell: !req.json, files };
}

export function parseRun(req: ParseRequest): RunInstruction {
  const mount = req.flags.addStrings('mount');
  const network = req.flags.addString('network', 'default');
  const security = req.flags.addString('security', 'sandbox');
  const device = req.flags.addStrings('device');
  req.flags.parse();
  for (const raw of mount.values) checkMountSyntax(raw);
  if (!(NETWORKS as readonly string[]).includes(network.value)) {
    throw problem(`invalid network mode ${goQuote(network.value)}`);
  }
  if (!(SECURITY as readonly string[]).includes(security.value)) {
    throw problem(`security ${goQuote(security.value)} is not valid`);
  }
  for (const raw of device.values) parseDevice(raw);
  return {
    ...common(req, 'run'),
    ...commandLine(req),
    mounts: [...mount.values],
    network: network.value as NetworkMode,
    security: security.value as SecurityMode,
    devices: [...device.values],
  };
}

export function parseCmd(req: ParseRequest): CmdInstruction {
  req.flags.parse();
  return { ...common(req, 'cmd'), ...commandLine(req) };
}

export function parseEntrypoint(req: ParseRequest): EntrypointInstruction {
  req.flags.parse();
  const line = commandLine(req);
  return { ...common(req, 'entrypoint'), ...line, cmdLine: line.cmdLine.length === 0 ? null : line.cmdLine };
}

/** Windows users often write unescaped paths in JSON; BuildKit adds a hint then. */
function errNotJSON(cmd: string, original: string) {
  const lower = original.replace(/^\s*#.*$/gm, '').toLowerCase();
  let extra = '';
  if (/"[a-z]:\\.*/.test(lower) && !lower.includes('\\\\') && lower.includes('[') && lower.includes(']')) {
    extra = `. It looks like '${lower}' includes a file path without an escaped back-slash. JSON requires back-slashes to be escaped such as ["c:\\\\path\\\\to\\\\file.exe", "/parameter"]`;
  }
  return problem(`${cmd} requires the arguments to be in JSON form${extra}`);
}

export function parseShell(req: ParseRequest): ShellInstruction {
  req.flags.parse();
  const shell = handleJSONArgs(req.args, req.json);
  if (shell.length === 0) throw errAtLeastOneArgument('SHELL');
  if (!req.json) throw errNotJSON('SHELL', req.original);
  return { ...common(req, 'shell'), shell };
}

/** A duration flag: '' or 0 means "inherit" (0); anything else must be at least 1ms. */
function optInterval(flag: Flag): number {
  if (flag.value === '') return 0;
  const ns = parseGoDuration(flag.value);
  if (ns === 0) return 0;
  if (ns < MINIMUM_DURATION_NS) throw problem(`Interval ${goQuote(flag.name)} cannot be less than 1ms`);
  return ns;
}

export function parseHealthcheck(req: ParseRequest): HealthcheckInstruction {
  if (req.args.length === 0) throw errAtLeastOneArgument('HEALTHCHECK');
  const type = req.args[0]!.toUpperCase();
  const rest = req.args.slice(1);
  if (type === 'NONE') {
    if (rest.length !== 0) throw problem('HEALTHCHECK NONE takes no arguments');
    const health: HealthConfig = { test: ['NONE'], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
    return { ...common(req, 'healthcheck'), health };
  }
  const interval = req.flags.addString('interval', '');
  const timeout = req.flags.addString('timeout', '');
  const startPeriod = req.flags.addString('start-period', '');
  const startInterval = req.flags.addString('start-interval', '');
  const retries = req.flags.addString('retries', '');
  req.flags.parse();
  if (type !== 'CMD') throw problem(`Unknown type ${goQuote(type)} in HEALTHCHECK (try CMD)`);
  const cmd = handleJSONArgs(rest, req.json);
  if (cmd.length === 0) throw problem('Missing command after HEALTHCHECK CMD');
  const wrap = (f: () => number): number => {
    try {
      return f();
    } catch (e) {
      throw e instanceof Error && !('code' in e) ? problem(e.message, undefined, e) : e;
    }
  };
  const durations = {
    interval: wrap(() => optInterval(interval)),
    timeout: wrap(() => optInterval(timeout)),
    startPeriod: wrap(() => optInterval(startPeriod)),
    startInterval: wrap(() => optInterval(startInterval)),
  };
  let retryCount = 0;
  if (retries.value !== '') {
    retryCount = wrap(() => parseGoInt32(retries.value));
    if (retryCount < 0) throw problem(`--retries cannot be negative (${retryCount})`);
  }
  const health: HealthConfig = { test: [req.json ? 'CMD' : 'CMD-SHELL', ...cmd], ...durations, retries: retryCount };
  return { ...common(req, 'healthcheck'), health };
}
