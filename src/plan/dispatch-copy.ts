/**
 * COPY and ADD: sources, destination and flags after ARG/ENV expansion, with
 * BuildKit's validation and its history line
 * `COPY [--parents] [--chown=..] [--chmod=..] src... dest # buildkit`.
 */
import { StagecraftError, type SourceRange } from '../errors.js';
import type { AddInstruction, CopyInstruction } from '../dockerfile/instructions/types.js';
import { classifySource, copySourceError } from '../dockerfile/instructions/index.js';
import { resolveDest, type StageBuilder } from './stage-state.js';
import type { Step, StepSource } from './types.js';

export interface CopyOutcome {
  step: Extract<Step, { kind: 'copy' }>;
  createdBy: string;
  name: string;
}

const SYMBOLIC_CHMOD = /^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+(?:,[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+)*$/;

/** BuildKit's --chmod check: octal up to 07777, or a symbolic mode (`u+x,g-w`). */
export function checkChmod(chmod: string): void {
  const nonOctal = `invalid chmod parameter: '${chmod}'. it should be octal string and between 0 and 07777`;
  if (/^[0-7]+$/.test(chmod)) {
    if (parseInt(chmod, 8) > 0o7777) throw new StagecraftError('INSTRUCTION', nonOctal);
    return;
  }
  if (/^[0-9]/.test(chmod) || !SYMBOLIC_CHMOD.test(chmod)) throw new StagecraftError('INSTRUCTION', nonOctal);
}

export function dispatchCopy(
  b: StageBuilder,
  ins: CopyInstruction | AddInstruction,
  location: SourceRange,
  from: StepSource,
): CopyOutcome {
  const isAdd = ins.kind === 'add';
  const fail = (msg: string): StagecraftError => new StagecraftError('COPY', msg, { location });
  const chown = ins.chown ? b.expand(ins.chown, location) : '';
  // BuildKit expands --chown, ADD --checksum, sources and destination; --chmod and --exclude stay literal.
  const chmod = ins.chmod ?? '';
  const checksum = ins.kind === 'add' && ins.checksum ? b.expand(ins.checksum, location) : '';
  const sources = ins.sourcePaths.map((s) => b.expand(s, location));
  const destPath = b.expand(ins.destPath, location);
  const excludes = [...ins.excludes];
  const inline = ins.sourceContents.map((c) => ({
    name: c.path,
    content: c.expand ? b.expandRaw(c.data, location) : c.data,
  }));

  if (chmod !== '') {
    try {
      checkChmod(chmod);
    } catch (e) {
      throw fail((e as Error).message);
    }
  }
  if (checksum !== '') {
    if (sources.length !== 1) throw fail("checksum can't be specified for multiple sources");
    if (classifySource(sources[0]!) === 'local') throw fail('checksum requires HTTP(S) or Git sources');
  }
  if (!isAdd) {
    for (const s of sources) {
      const err = copySourceError(s);
      if (err !== undefined) throw fail(err);
    }
  }

  let msg = isAdd ? 'ADD' : 'COPY';
  if (ins.kind === 'copy' && ins.parents) msg += ' --parents';
  if (chown !== '') msg += ` --chown=${chown}`;
  if (chmod !== '') msg += ` --chmod=${chmod}`;
  for (const s of sources) msg += ` ${s}`;
  for (const c of inline) msg += ` <<${c.name}`;
  msg += ` ${destPath}`;

  const step: CopyOutcome['step'] = {
    kind: 'copy',
    isAdd,
    from,
    sources,
    inline,
    dest: resolveDest(b.dir, destPath),
    ...(chown !== '' ? { chown } : {}),
    ...(chmod !== '' ? { chmod } : {}),
    link: ins.link,
    parents: ins.kind === 'copy' ? ins.parents : false,
    excludes,
    ...(checksum !== '' ? { checksum } : {}),
    ...(ins.kind === 'add' ? { keepGitDir: ins.keepGitDir } : {}),
    workdir: b.dir === '' ? '/' : b.dir,
    user: b.user,
  };
  if (ins.kind === 'add' && ins.unpack !== undefined) step.unpack = ins.unpack;
  return { step, createdBy: msg, name: b.progressName(ins.original) };
}
