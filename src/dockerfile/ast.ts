/**
 * The Dockerfile syntax tree, shaped like BuildKit's parser.Node so that the
 * conformance dump compares directly. The parser knows only syntax: no
 * instruction semantics live here.
 */

export interface Heredoc {
  /** The delimiter word, e.g. EOF. Also the file name for COPY <<EOF. */
  name: string;
  /** The file descriptor written before `<<` (e.g. `3<<EOF`), 0 when absent. */
  fileDescriptor: number;
  /** False when the delimiter was quoted: content is taken literally. */
  expand: boolean;
  /** True for `<<-`: leading tabs are stripped from content lines. */
  chomp: boolean;
  /** The body, including its trailing newline. */
  content: string;
}

/**
 * One node. A top-level instruction is a Node whose `value` is the lowercased
 * instruction keyword; its arguments hang off `next` as a linked list, as in
 * BuildKit. ONBUILD's sub-instruction is `next.children[0]` (it carries the
 * ONBUILD line numbers; heredocs of `ONBUILD RUN <<EOF` sit on the ONBUILD
 * node itself, as in BuildKit). The keyword as written (for casing checks) is
 * the first word of `original`: see keywordAsWritten() in ./parser.
 */
export interface Node {
  value: string;
  next: Node | null;
  children: Node[];
  heredocs: Heredoc[];
  /** `json: true` when the arguments were written in JSON (exec) form. */
  attributes: { json?: boolean };
  /** The instruction exactly as written (continuations joined). */
  original: string;
  /** `--flag=value` words written before the arguments. */
  flags: string[];
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  /** Comment lines directly above the instruction (without the `#`). */
  prevComment: string[];
}

/**
 * A parser diagnostic that is not an error. The parser emits one kind, for an
 * empty line inside a line continuation (the linter's NoEmptyContinuation):
 * `location` is the instruction's last line, as BuildKit reports it.
 */
export interface ParseWarning {
  short: string;
  detail: string[];
  url: string;
  location: { startLine: number; endLine: number } | undefined;
}

export interface ParseResult {
  /** Root node: its `children` are the instructions in order. */
  ast: Node;
  escapeToken: '\\' | '`';
  warnings: ParseWarning[];
  /**
   * Directives found at the top of the file (lowercased keys): syntax, escape,
   * check. Like BuildKit's parser, a `#!` first line ends the block here; the
   * linter's `parseDirective('check', text)` skips a shebang line as BuildKit does.
   */
  directives: Record<string, string>;
}
