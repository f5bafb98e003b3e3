/** ENV, LABEL, ARG, MAINTAINER, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL. */
import { problem } from './problem.js';
import {
  common, docComment, errAtLeastOneArgument, errBlankNames, errExactlyOneArgument, errTooManyArguments,
  type ParseRequest,
} from './request.js';
import type {
  ArgDefinition, ArgInstruction, EnvInstruction, ExposeInstruction, KeyValuePair, LabelInstruction,
  MaintainerInstruction, StopsignalInstruction, UserInstruction, VolumeInstruction, WorkdirInstruction,
} from './types.js';

/** The parser gives ENV/LABEL as triples: key, value, and `=` (or '' for the legacy `ENV k v`). */
function parseKvps(args: readonly string[], cmd: string): KeyValuePair[] {
  if (args.length === 0) throw errAtLeastOneArgument(cmd);
  if (args.length % 3 !== 0) throw errTooManyArguments(cmd);
  const out: KeyValuePair[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i]!;
    if (key === '') throw errBlankNames(cmd);
    out.push({ key, value: args[i + 1]!, legacy: args[i + 2] === '' });
  }
  return out;
}

export function parseEnv(req: ParseRequest): EnvInstruction {
  req.flags.parse();
  const pairs = parseKvps(req.args, 'ENV');
  return { ...common(req, 'env'), pairs };
}

export function parseLabel(req: ParseRequest): LabelInstruction {
  req.flags.parse();
  const pairs = parseKvps(req.args, 'LABEL');
  return { ...common(req, 'label'), pairs };
}

export function parseArg(req: ParseRequest): ArgInstruction {
  if (req.args.length < 1) throw errAtLeastOneArgument('ARG');
  req.flags.parse();
  const args = req.args.map((word): ArgDefinition => {
    const eq = word.indexOf('=');
    const key = eq >= 0 ? word.slice(0, eq) : word;
    if (eq >= 0 && key === '') throw errBlankNames('ARG');
    const def: ArgDefinition = { key, comment: docComment(req.comments, key) };
    if (eq >= 0) def.value = word.slice(eq + 1);
    return def;
  });
  return { ...common(req, 'arg'), args };
}

function exactlyOne(req: ParseRequest, cmd: string): string {
  if (req.args.length !== 1) throw errExactlyOneArgument(cmd);
  req.flags.parse();
  return req.args[0]!;
}

export function parseMaintainer(req: ParseRequest): MaintainerInstruction {
  const maintainer = exactlyOne(req, 'MAINTAINER');
  return { ...common(req, 'maintainer'), maintainer };
}

export function parseWorkdir(req: ParseRequest): WorkdirInstruction {
  const path = exactlyOne(req, 'WORKDIR');
  return { ...common(req, 'workdir'), path };
}

export function parseUser(req: ParseRequest): UserInstruction {
  const user = exactlyOne(req, 'USER');
  return { ...common(req, 'user'), user };
}

export function parseStopsignal(req: ParseRequest): StopsignalInstruction {
  const signal = exactlyOne(req, 'STOPSIGNAL');
  return { ...common(req, 'stopsignal'), signal };
}

export function parseExpose(req: ParseRequest): ExposeInstruction {
  if (req.args.length === 0) throw errAtLeastOneArgument('EXPOSE');
  req.flags.parse();
  // BuildKit sorts the raw specs (byte order, like Go's sort.Strings).
  const ports = [...req.args].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { ...common(req, 'expose'), ports };
}

export function parseVolume(req: ParseRequest): VolumeInstruction {
  if (req.args.length === 0) throw errAtLeastOneArgument('VOLUME');
  req.flags.parse();
  const volumes = req.args.map((v) => {
    const trimmed = v.trim();
    if (trimmed === '') throw problem('VOLUME specified can not be an empty string');
    return trimmed;
  });
  return { ...common(req, 'volume'), volumes };
}
