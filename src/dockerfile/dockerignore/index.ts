/**
 * .dockerignore with Docker's exact semantics (moby/patternmatcher, Go
 * filepath.Match) and the BuildKit rule for which ignore file applies.
 *
 *     const ig = DockerIgnore.parse(text);
 *     ig.ignored('src/a.ts'); ig.canSkipDir('node_modules');
 *
 * Bad patterns throw StagecraftError code 'DOCKERIGNORE'.
 */
export { DockerIgnore, dockerignoreCandidates, selectDockerignoreFile } from './docker-ignore.js';
export { readDockerignore } from './ignore-file.js';
export { PatternMatcher, Pattern, compilePattern, matchesOrParentMatches, type MatchType, type CompiledPattern } from './pattern-matcher.js';
export { filepathMatch, BadPatternError } from './filepath-match.js';
export { cleanPath } from './go-path.js';
