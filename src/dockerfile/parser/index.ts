/**
 * The Dockerfile parser: syntax only, shaped and behaving like BuildKit's
 * frontend/dockerfile/parser. Instruction semantics live in ../instructions.
 */
export { parse, canContainHeredoc, emptyContinuationUrl, type ParseOptions } from './parse.js';
export { dump } from './dump.js';
export { parseHeredoc, heredocsFromLine, chompHeredocContent } from './heredoc.js';
export {
  detectSyntax,
  parseDirective,
  parseCheckDirective,
  DirectiveParser,
  type CheckDirective,
  type Directive,
  type DirectiveKey,
  type FoundDirective,
} from './directives.js';
export {
  parseWords,
  parseNameVal,
  parseJSON,
  parseMaybeJSON,
  parseMaybeJSONToList,
  errNotStringArray,
  type EscapeToken,
} from './line-parsers.js';
export { splitCommand, extractBuilderFlags } from './split-command.js';
export { goQuote, goQuoteSlice } from './go-compat.js';
export { newNode, nodeList, nodeValues, keywordAsWritten } from './node.js';
export { print, type PrintDirectives } from './print.js';
export { semanticallyEqual } from './equal.js';
