/**
 * Shell word expansion for Dockerfile instructions, with BuildKit's rules.
 *
 *     const lex = new ShellLex({ escapeToken: '\\' });
 *     lex.processWord('${NAME:-x}', env)        // one string
 *     lex.processWords('$PORTS', env)           // fields, split like the shell
 *     lex.processWordWithMatches(w, env)        // + matched / unmatched names
 *
 * Failures throw `ExpansionError` (a StagecraftError with code 'EXPANSION').
 */
export { ShellLex, ExpansionError, type LexOptions, type WordExpansion } from './lex.js';
export { envLookup, getEnv, type Env, type EnvLookup } from './env.js';
export { shellPatternToRegex, ShellPatternError, type ShellPatternRegex } from './pattern.js';
export { goQuote } from './go-text.js';
