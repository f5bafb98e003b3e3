/**
 * stagecraft as a library:
 *
 *     import { build } from 'stagecraft';
 *     const result = await build({ context: '.', tags: ['reg.example/myapp:1.0'], onEvent: (e) => console.log(e) });
 *     const pushed = await push(result.tags);  // credentials from Docker's config.json
 */
export { build, type BuildOptions, type BuildResult } from './build/build.js';
export { push, pushAllTags, type PushOptions, type PushResult, type PushEvent } from './build/push.js';
export { pull, type PullOptions, type PullResult } from './build/pull.js';
export { parseSecretFlag, parseSshFlag, type SecretSpec, type SshSpec } from './build/secrets.js';
export type { BuildEvent, EventSink } from './build/events.js';
export { StagecraftError, isStagecraftError, type ErrorCode, type SourceRange } from './errors.js';
export { Store } from './store/index.js';
export { parse } from './dockerfile/parser/index.js';
export { parseReference } from './reference/index.js';
export { saveDockerArchive, saveOciArchive } from './archive/index.js';
export { sizeSummary, humanSize, type StageSize } from './report/size.js';
export { VERSION } from './version.js';
