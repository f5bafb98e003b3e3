/** COPY and ADD: sources (paths and heredoc bodies), destination, and their flags. */
import type { Heredoc } from '../ast.js';
import { chompHeredocContent, parseHeredocWord } from './heredoc-word.js';
import { problem } from './problem.js';
import { common, errBadHeredoc, errNoDestination, type ParseRequest } from './request.js';
import type { AddInstruction, CopyInstruction, SourceContent, SourcesAndDest } from './types.js';

export type SourceKind = 'local' | 'url' | 'git';

/**
 * What a COPY/ADD source names: a remote git repository, an HTTP(S) URL, or a
 * path in the context (or in `--from`). Apply to expanded sources too.
 */
export function classifySource(src: string): SourceKind {
  if (/^git@[^:/]+:/.test(src) || /^(git|ssh):\/\//i.test(src)) return 'git';
  if (/^https?:\/\//i.test(src)) {
    let url: URL;
    try {
      url = new URL(src);
    } catch {
      return 'local';
    }
    if (url.pathname.endsWith('.git')) return 'git';
    return 'url';
  }
  return 'local';
}

/** BuildKit's error for a remote source given to COPY (undefined when allowed). */
export function copySourceError(src: string): string | undefined {
  switch (classifySource(src)) {
    case 'url': return "source can't be a URL for COPY";
    case 'git': return "source can't be a git ref for COPY";
    case 'local': return undefined;
  }
}

function sourcesAndDest(req: ParseRequest, cmd: string): SourcesAndDest {
  const destPath = req.args[req.args.length - 1]!;
  const sources = req.args.slice(0, -1);
  if (parseHeredocWord(destPath)) throw errBadHeredoc(cmd, 'a destination');
  const byName = new Map<string, Heredoc>();
  for (const h of req.heredocs) byName.set(h.name, h);
  const sourcePaths: string[] = [];
  const sourceContents: SourceContent[] = [];
  for (const src of sources) {
    const word = parseHeredocWord(src);
    if (!word) {
      sourcePaths.push(src);
      continue;
    }
    const content = byName.get(word.name)?.content ?? '';
    sourceContents.push({ path: word.name, data: word.chomp ? chompHeredocContent(content) : content, expand: word.expand });
  }
  return { destPath, sourcePaths, sourceContents };
}

export function parseCopy(req: ParseRequest): CopyInstruction {
  if (req.args.length < 2) throw errNoDestination('COPY');
  const exclude = req.flags.addStrings('exclude');
  const parents = req.flags.addBool('parents', false);
  const chown = req.flags.addString('chown', '');
  const from = req.flags.addString('from', '');
  const chmod = req.flags.addString('chmod', '');
  const link = req.flags.addBool('link', false);
  req.flags.parse();
  const files = sourcesAndDest(req, 'COPY');
  for (const src of files.sourcePaths) {
    const error = copySourceError(src);
    // A source problem (BuildKit reports it while converting, without the parse-error prefix).
    if (error) throw problem(error, undefined, undefined, 'COPY');
  }
  return {
    ...common(req, 'copy'),
    ...files,
    ...(from.value !== '' ? { from: from.value } : {}),
    ...(chown.value !== '' ? { chown: chown.value } : {}),
    ...(chmod.value !== '' ? { chmod: chmod.value } : {}),
    link: link.value === 'true',
    parents: parents.value === 'true',
    excludes: [...exclude.values],
  };
}

export function parseAdd(req: ParseRequest): AddInstruction {
  if (req.args.length < 2) throw errNoDestination('ADD');
  const exclude = req.flags.addStrings('exclude');
  const chown = req.flags.addString('chown', '');
  const chmod = req.flags.addString('chmod', '');
  const link = req.flags.addBool('link', false);
  const keepGitDir = req.flags.addBool('keep-git-dir', false);
  const checksum = req.flags.addString('checksum', '');
  const unpack = req.flags.addBool('unpack', false);
  req.flags.parse();
  const files = sourcesAndDest(req, 'ADD');
  return {
    ...common(req, 'add'),
    ...files,
    ...(chown.value !== '' ? { chown: chown.value } : {}),
    ...(chmod.value !== '' ? { chmod: chmod.value } : {}),
    link: link.value === 'true',
    keepGitDir: keepGitDir.value === 'true',
    ...(checksum.value !== '' ? { checksum: checksum.value } : {}),
    excludes: [...exclude.values],
    ...(req.flags.isUsed(unpack) ? { unpack: unpack.value === 'true' } : {}),
  };
}
