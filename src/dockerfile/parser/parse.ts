/**
 * Dockerfile text -> AST, line for line as BuildKit's parser reads it:
 * directives at the top, comments collected for the next instruction, line
 * continuations (with comment and blank lines inside them), per-instruction
 * argument parsing, and heredoc bodies read after the instruction line.
 */
import type { Heredoc, Node, ParseResult, ParseWarning } from '../ast.js';
import { StagecraftError } from '../../errors.js';
import { DirectiveParser } from './directives.js';
import { goToLower, trimLeftSpace, trimSpace, utf8Decode, utf8Length } from './go-compat.js';
import { heredocsFromLine } from './heredoc.js';
import { type EscapeToken, lineParserFor } from './line-parsers.js';
import { newNode } from './node.js';
import { splitCommand } from './split-command.js';

export interface ParseOptions {
  /** File name used in error locations (default: Dockerfile). */
  file?: string;
}

/** bufio.MaxScanTokenSize: a line (with its newline) may take at most this many bytes. */
const maxTokenBytes = 64 * 1024;

export const emptyContinuationUrl = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

/** Yields lines with their line ending, stopping (with `tooLong`) at an over-long line. */
class LineScanner {
  private pos = 0;
  current = '';
  tooLong = false;
  constructor(private readonly text: string) {}

  scan(): boolean {
    if (this.tooLong || this.pos >= this.text.length) return false;
    const nl = this.text.indexOf('\n', this.pos);
    const end = nl < 0 ? this.text.length : nl + 1;
    const token = this.text.slice(this.pos, end);
    const bytes = utf8Length(token);
    if (nl >= 0 ? bytes > maxTokenBytes : bytes >= maxTokenBytes) {
      this.tooLong = true;
      return false;
    }
    this.pos = end;
    this.current = token;
    return true;
  }
}

/** bytes.TrimRight(s, "\r\n") */
function trimNewline(s: string): string {
  let j = s.length;
  while (j > 0 && (s[j - 1] === '\n' || s[j - 1] === '\r')) j--;
  return s.slice(0, j);
}

function isComment(line: string): boolean {
  return trimLeftSpace(line).startsWith('#');
}

/** Go's `line[1:]` on the UTF-8 bytes: a multi-byte first character leaves invalid bytes (U+FFFD here). */
function dropFirstByte(line: string): string {
  const cp = line.codePointAt(0);
  if (cp === undefined) return '';
  if (cp < 0x80) return line.slice(1);
  const width = cp > 0xffff ? 2 : 1;
  return '\ufffd'.repeat(utf8Length(line.slice(0, width)) - 1) + line.slice(width);
}

/**
 * The continuation rule: the escape token as the last non-blank character,
 * unless it is itself escaped. Returns [line without it, isEndOfLine].
 */
function trimContinuation(line: string, escape: EscapeToken): [string, boolean] {
  let end = line.length;
  while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
  if (end === 0 || line[end - 1] !== escape) return [line, true];
  const k = end - 1;
  if (k === 0) return ['', false];
  if (line[k - 1] === escape) return [line, true];
  return [line.slice(0, k), false];
}

/**
 * One instruction line -> node. ONBUILD nests its sub-instruction as
 * `next.children[0]`; this is built bottom-up so deep nesting cannot
 * exhaust the stack.
 */
export function newNodeFromLine(line: string, escape: EscapeToken, comments: string[]): Node {
  const frames: { line: string; cmd: string; flags: string[]; args: string }[] = [];
  let cur = line;
  for (;;) {
    const sp = splitCommand(cur, escape);
    const cmd = goToLower(sp.cmd);
    frames.push({ line: cur, cmd, flags: sp.flags, args: sp.args });
    if (cmd !== 'onbuild' || sp.args === '') break;
    cur = sp.args;
  }
  let inner: Node | null = null;
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i]!;
    let next: Node | null = null;
    let json = false;
    if (f.cmd === 'onbuild') {
      if (inner) {
        next = newNode('');
        next.children = [inner];
      }
    } else {
      const r = lineParserFor(f.cmd)(f.args, escape);
      next = r.next;
      json = r.json;
    }
    const n = newNode(f.cmd, next);
    n.original = f.line;
    n.flags = f.flags;
    if (json) n.attributes = { json: true };
    inner = n;
  }
  inner!.prevComment = comments;
  return inner!;
}

const heredocKeywords = new Set(['add', 'copy', 'run']);

/** RUN/COPY/ADD (also under ONBUILD) in shell form may carry heredocs. */
export function canContainHeredoc(node: Node): boolean {
  let n = node;
  if (n.value === 'onbuild' && n.next && n.next.children.length > 0) n = n.next.children[0]!;
  return heredocKeywords.has(n.value) && n.attributes.json !== true;
}

function located(e: unknown, file: string | undefined, startLine: number, endLine: number): StagecraftError {
  const message = e instanceof Error ? e.message : String(e);
  const start = Math.max(1, startLine);
  return new StagecraftError('PARSE', message, {
    location: { file, startLine: start, endLine: Math.max(start, endLine) },
    cause: e,
  });
}

export function parse(input: string | Uint8Array, opts: ParseOptions = {}): ParseResult {
  const file = opts.file;
  const text = typeof input === 'string' ? input : utf8Decode(input);
  const sc = new LineScanner(text);
  const directiveParser = new DirectiveParser('#', 0);
  const directives: Record<string, string> = {};
  let escape: EscapeToken = '\\';
  let currentLine = 0;
  const root = newNode('');
  root.startLine = -1;
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];

  /** trimNewline, optional left trim, directive check, comment removal. */
  const processLine = (token: string, stripLeft: boolean): [string, boolean] => {
    let t = trimNewline(token);
    if (stripLeft) t = trimLeftSpace(t);
    let found = false;
    try {
      const d = directiveParser.parseLine(t);
      if (d) {
        if (d.name === 'escape') {
          if (d.value !== '`' && d.value !== '\\') {
            throw new StagecraftError('PARSE', `invalid escape token '${d.value}' does not match \` or \\`);
          }
          escape = d.value;
        }
        directives[d.name] = d.value;
        found = true;
      }
    } catch (e) {
      throw located(e, file, currentLine + 1, currentLine + 1);
    }
    return [isComment(t) ? '' : t, found];
  };

  while (sc.scan()) {
    let raw = sc.current;
    if (currentLine === 0 && raw.startsWith('\ufeff')) raw = raw.slice(1);
    if (isComment(raw)) {
      const comment = trimSpace(dropFirstByte(raw));
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    const [processed, isDirective] = processLine(raw, true);
    if (isDirective) comments.pop();
    currentLine++;
    const startLine = currentLine;

    let [line, isEndOfLine] = trimContinuation(processed, escape);
    if (isEndOfLine && line.length === 0) continue;

    let hasEmptyContinuationLine = false;
    while (!isEndOfLine && sc.scan()) {
      const next = sc.current;
      const [p] = processLine(next, false);
      currentLine++;
      if (isComment(next)) continue;
      if (trimLeftSpace(trimNewline(p)).length === 0) {
        hasEmptyContinuationLine = true;
        continue;
      }
      let part: string;
      [part, isEndOfLine] = trimContinuation(p, escape);
      line += part;
    }

    if (hasEmptyContinuationLine) {
      warnings.push({
        short: 'Empty continuation line found in: ' + line,
        detail: ['Empty continuation lines will become errors in a future release'],
        url: emptyContinuationUrl,
        location: { startLine: currentLine, endLine: currentLine },
      });
    }

    let child: Node;
    try {
      child = newNodeFromLine(line, escape, comments);
    } catch (e) {
      throw located(e, file, startLine, currentLine);
    }

    if (canContainHeredoc(child) && line.includes('<<')) {
      let heredocs: Heredoc[];
      try {
        heredocs = heredocsFromLine(line);
      } catch (e) {
        throw located(e, file, startLine, currentLine);
      }
      for (const h of heredocs) {
        let terminated = false;
        let content = '';
        while (sc.scan()) {
          const body = sc.current;
          currentLine++;
          let candidate = trimNewline(body);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += body;
        }
        if (!terminated) {
          throw new StagecraftError('PARSE', 'unterminated heredoc', {
            location: { file, startLine, endLine: Math.max(startLine, currentLine) },
            hint: `end the heredoc with a line holding only ${h.name}`,
          });
        }
        child.heredocs.push({ ...h, content });
      }
    }

    child.startLine = startLine;
    child.endLine = currentLine;
    // ONBUILD's sub-instruction shares its parent's lines (BuildKit leaves 0).
    for (let c = child.next; c; c = c.next) {
      for (const sub of c.children) setLines(sub, startLine, currentLine);
    }
    if (root.startLine < 0) root.startLine = startLine;
    root.endLine = currentLine;
    root.children.push(child);
    comments = [];
  }

  if (root.startLine < 0) {
    throw new StagecraftError('PARSE', 'file with no instructions', {
      location: { file, startLine: Math.max(1, currentLine), endLine: Math.max(1, currentLine) },
      hint: 'a Dockerfile needs at least one instruction, such as FROM',
    });
  }
  if (sc.tooLong) {
    throw new StagecraftError('PARSE', `dockerfile line greater than max allowed size of ${maxTokenBytes - 1}`, {
      location: { file, startLine: currentLine + 1, endLine: currentLine + 1 },
      hint: 'split the line with a line continuation',
    });
  }
  return { ast: root, escapeToken: escape, warnings, directives };
}

function setLines(n: Node, start: number, end: number): void {
  // Iterative: ONBUILD chains can nest deeply.
  const stack: Node[] = [n];
  while (stack.length > 0) {
    const x = stack.pop()!;
    x.startLine = start;
    x.endLine = end;
    for (let c = x.next; c; c = c.next) stack.push(...c.children);
  }
}
