/**
 * AST -> Dockerfile text. `parse(print(ast)).ast` equals `ast` in value,
 * next, children, flags, JSON form and heredocs (lines and `original` may
 * differ). Comments in `prevComment` are written above their instruction
 * when they fit on one `#` line.
 *
 * Each instruction is written from its fields, then checked by parsing it
 * back; when that does not reproduce the node (rare spellings such as a
 * vertical tab before `<<`), its `original` text is used instead. A node that
 * neither way can reproduce is reported as UNSUPPORTED.
 */
import type { Node } from '../ast.js';
import { StagecraftError } from '../../errors.js';
import { semanticallyEqual } from './equal.js';
import { isGoSpace, trimSpace } from './go-compat.js';
import { type EscapeToken, lineParsers } from './line-parsers.js';
import { matchDirectiveLine } from './directives.js';
import { nodeValues } from './node.js';
import { parse } from './parse.js';

export interface PrintDirectives {
  syntax?: string;
  check?: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function keywordText(value: string): string {
  return /^[a-z]+$/.test(value) ? value.toUpperCase() : value;
}

/**
 * A flag as the flag reader reads it back: flags hold one character per
 * UTF-8 byte (see split-command.ts), so the bytes are written as UTF-8.
 */
function flagText(flag: string, escape: EscapeToken): string | undefined {
  const esc = escape.charCodeAt(0);
  if (!flag.startsWith('--') || flag === '--') return undefined;
  const bytes = new Uint8Array(flag.length);
  let special = false;
  for (let i = 0; i < flag.length; i++) {
    const c = flag.charCodeAt(i);
    if (c > 0xff) return undefined;
    bytes[i] = c;
    if (isGoSpace(c) || c === 0x22 || c === 0x27 || c === esc) special = true;
  }
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  if (!special) return text;
  let quoted = '';
  for (const ch of text.slice(2)) quoted += ch === '"' || ch === escape ? escape + ch : ch;
  return '--"' + quoted + '"';
}

function jsonArray(values: string[]): string {
  return '[' + values.map((v) => JSON.stringify(v)).join(', ') + ']';
}

/** Candidate spellings of the arguments of a non-ONBUILD instruction. */
function argsVariants(node: Node): string[] {
  const next = node.next;
  const values = nodeValues(next);
  if (node.value === 'healthcheck') {
    if (!next) return [''];
    const rest = nodeValues(next.next);
    if (node.attributes.json) return [`${next.value} ${jsonArray(rest)}`];
    return [next.next ? `${next.value} ${rest.join(' ')}` : next.value];
  }
  if (node.attributes.json) return [jsonArray(values)];
  switch (node.value) {
    case 'add':
    case 'copy':
    case 'volume':
    case 'from':
    case 'expose':
      // \v separates words too but is not JSON whitespace, so it keeps a
      // split `["a",` `"b"]` from reading back as a JSON array.
      return [values.join(' '), values.join('\v')];
    case 'env':
    case 'label': {
      if (values.length % 3 !== 0) return [];
      const words: string[] = [];
      for (let i = 0; i < values.length; i += 3) {
        const [k, v, sep] = [values[i]!, values[i + 1]!, values[i + 2]!];
        if (sep === '' && values.length === 3) return [`${k} ${v}`];
        if (sep !== '=') return [];
        words.push(`${k}=${v}`);
      }
      return [words.join(' ')];
    }
    default:
      if (!Object.hasOwn(lineParsers, node.value)) {
        // Unknown instructions keep one empty argument node whatever was written.
        return next && next.value === '' && next.next === null ? [''] : [];
      }
      // run, cmd, entrypoint, shell, maintainer, user, workdir, stopsignal, arg
      return [values.join(' ')];
  }
}

/** Candidate lines for one instruction, ONBUILD chains included. */
function lineVariants(node: Node, escape: EscapeToken): string[] {
  let prefix = '';
  let n = node;
  for (;;) {
    const flags = n.flags.map((f) => flagText(f, escape));
    if (flags.some((f) => f === undefined)) return [];
    const head = [keywordText(n.value), ...(flags as string[])].join(' ');
    if (n.value !== 'onbuild') {
      return argsVariants(n).map((a) => {
        const args = a.startsWith('--') ? '-- ' + a : a;
        return prefix + (args === '' ? head : `${head} ${args}`);
      });
    }
    const child = n.next?.children[0];
    if (!child) return [prefix + head];
    prefix += head + ' ';
    n = child;
  }
}

function reproduces(text: string, node: Node, escape: EscapeToken): boolean {
  try {
    const { ast } = parse((escape === '`' ? '# escape=`\n' : '\n') + text);
    return ast.children.length === 1 && semanticallyEqual(ast.children[0]!, node);
  } catch {
    return false;
  }
}

function printInstruction(node: Node, escape: EscapeToken, last: boolean): string {
  const bodies = node.heredocs.map((h) => h.content + h.name + '\n').join('');
  // An empty keyword comes from a line continuation that runs into the end
  // of the file; only a lone escape token on the last line writes it.
  const candidates = node.value === '' ? (last ? [escape] : []) : lineVariants(node, escape);
  if (node.original !== '') candidates.push(node.original);
  for (const line of candidates) {
    const text = line + '\n' + bodies;
    if (reproduces(text, node, escape)) return text;
  }
  // A line that ends in the escape token (a keyword that is the escape
  // token, with nothing after it) continues onto the next line; only on the
  // last line can it be written, with a continuation that runs into the end
  // of the file.
  if (last && bodies === '') {
    for (const line of candidates) {
      const text = line + ' ' + escape + '\n';
      if (reproduces(text, node, escape)) return text;
    }
  }
  throw new StagecraftError('UNSUPPORTED', `cannot write the ${node.value.toUpperCase()} instruction as Dockerfile text`, {
    location: node.startLine > 0 ? { startLine: node.startLine, endLine: node.endLine } : undefined,
  });
}

/** Text that reads back unchanged from a `# ` line (comments are stored trimmed). */
function oneLine(s: string): boolean {
  return s !== '' && !s.includes('\n') && trimSpace(s) === s;
}

/**
 * Writes `ast` (a root node, or a single instruction) as a Dockerfile.
 * Throws StagecraftError('UNSUPPORTED') for a node no text can produce.
 */
export function print(ast: Node, escapeToken: EscapeToken = '\\', directives: PrintDirectives = {}): string {
  const instructions = ast.value === '' && ast.next === null ? ast.children : [ast];
  let out = '';
  if (directives.syntax !== undefined && oneLine(directives.syntax)) out += `# syntax=${directives.syntax}\n`;
  if (escapeToken === '`') out += '# escape=`\n';
  if (directives.check !== undefined && oneLine(directives.check)) out += `# check=${directives.check}\n`;
  // A blank line ends the directive block, so a first comment that looks
  // like a directive stays a comment.
  const first = instructions[0]?.prevComment[0];
  if (out !== '' || (first !== undefined && matchDirectiveLine(`# ${first}`, '#'))) out += '\n';
  instructions.forEach((node, i) => {
    for (const c of node.prevComment) if (oneLine(c)) out += `# ${c}\n`;
    out += printInstruction(node, escapeToken, i === instructions.length - 1);
  });
  // The first line loses one leading BOM when read back.
  return out.startsWith('\ufeff') ? '\n' + out : out;
}
