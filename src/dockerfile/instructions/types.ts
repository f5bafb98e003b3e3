/**
 * Typed Dockerfile instructions: one discriminated union, `Instruction`, with
 * the field `kind`. Values are raw (unexpanded) strings exactly as written;
 * ARG/ENV expansion happens later, in the planner, because it depends on the
 * stage's scope.
 */

/** 1-based, inclusive line range of an instruction. */
export interface InstructionLocation {
  startLine: number;
  endLine: number;
}

export type InstructionKind =
  | 'from' | 'run' | 'cmd' | 'entrypoint' | 'env' | 'arg' | 'label' | 'copy' | 'add'
  | 'workdir' | 'user' | 'expose' | 'volume' | 'shell' | 'healthcheck' | 'stopsignal'
  | 'onbuild' | 'maintainer';

interface InstructionBase<K extends InstructionKind> {
  kind: K;
  /** The keyword as written (`RUN`, `run`, `Run`), for the casing lint rules. */
  keyword: string;
  /** The instruction exactly as written (continuations joined). */
  original: string;
  location: InstructionLocation;
  /** Comment lines directly above the instruction, without `#`, trimmed. */
  comments: string[];
  /** Names of the `--flags` that were given (without `--`), in the order first seen. */
  flagsUsed: string[];
}

/** A heredoc body attached to RUN/CMD/ENTRYPOINT (BuildKit's ShellInlineFile). */
export interface InlineFile {
  name: string;
  /** The body as written, including its trailing newline; leading tabs NOT stripped. */
  data: string;
  /** `<<-`: leading tabs are to be stripped when the file is used. */
  chomp: boolean;
  /** False when the delimiter was quoted: the body is not expanded. */
  expand: boolean;
}

/**
 * The command of RUN/CMD/ENTRYPOINT. `prependShell` is true for the shell form
 * (one string in `cmdLine`, to be run with the stage's SHELL); false for the
 * JSON exec form (`cmdLine` is the argv).
 */
export interface CommandLine {
  cmdLine: string[];
  prependShell: boolean;
  files: InlineFile[];
}

export interface KeyValuePair {
  key: string;
  value: string;
  /** True for the legacy space form `ENV k v` (the linter flags it). */
  legacy: boolean;
}

export interface ArgDefinition {
  key: string;
  /** Undefined when declared without a default (`ARG name`). */
  value?: string;
  /** Doc comment: a comment line above that starts with the name. */
  comment: string;
}

/** A COPY/ADD heredoc source (`COPY <<EOF /dest`). */
export interface SourceContent {
  /** The file name: the heredoc delimiter word. */
  path: string;
  /** The body; for `<<-`, leading tabs are already stripped. */
  data: string;
  expand: boolean;
}

export interface SourcesAndDest {
  destPath: string;
  sourcePaths: string[];
  sourceContents: SourceContent[];
}

/** HEALTHCHECK settings as the image config stores them (durations in nanoseconds; 0 = inherit). */
export interface HealthConfig {
  /** `['NONE']`, `['CMD', ...argv]` or `['CMD-SHELL', command]`. */
  test: string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export interface FromInstruction extends InstructionBase<'from'> {
  /** The base image or stage reference, unexpanded. */
  image: string;
  /** Stage name lowercased (`AS Build` gives `build`), when given. */
  stageName?: string;
  /** Stage name as written. */
  stageNameOriginal?: string;
  /** The `AS` keyword as written, for the FromAsCasing lint rule. */
  asKeyword?: string;
  /** `--platform`, unexpanded. */
  platform?: string;
  /** Doc comment for the stage name. */
  comment: string;
}

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

export interface RunInstruction extends InstructionBase<'run'>, CommandLine {
  /** Raw `--mount` values; call `parseMount(raw, expand)` after ARG/ENV expansion. */
  mounts: string[];
  network: NetworkMode;
  security: SecurityMode;
  /** Raw `--device` values; see `parseDevice`. */
  devices: string[];
}

export interface CmdInstruction extends InstructionBase<'cmd'>, CommandLine {}

export interface EntrypointInstruction extends InstructionBase<'entrypoint'> {
  /** Null for `ENTRYPOINT []` (it clears the entrypoint), as BuildKit keeps it nil. */
  cmdLine: string[] | null;
  prependShell: boolean;
  files: InlineFile[];
}

export interface ShellInstruction extends InstructionBase<'shell'> {
  shell: string[];
}

export interface EnvInstruction extends InstructionBase<'env'> {
  pairs: KeyValuePair[];
}

export interface LabelInstruction extends InstructionBase<'label'> {
  pairs: KeyValuePair[];
}

export interface ArgInstruction extends InstructionBase<'arg'> {
  args: ArgDefinition[];
}

export interface CopyInstruction extends InstructionBase<'copy'>, SourcesAndDest {
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  excludes: string[];
}

export interface AddInstruction extends InstructionBase<'add'>, SourcesAndDest {
  chown?: string;
  chmod?: string;
  link: boolean;
  keepGitDir: boolean;
  checksum?: string;
  excludes: string[];
  /** `--unpack`: undefined when not given (archives from URLs are not unpacked by default). */
  unpack?: boolean;
}

export interface WorkdirInstruction extends InstructionBase<'workdir'> {
  path: string;
}

export interface UserInstruction extends InstructionBase<'user'> {
  user: string;
}

export interface ExposeInstruction extends InstructionBase<'expose'> {
  /** Raw port specs, sorted like BuildKit does; see `parseExposePorts`. */
  ports: string[];
}

export interface VolumeInstruction extends InstructionBase<'volume'> {
  volumes: string[];
}

export interface HealthcheckInstruction extends InstructionBase<'healthcheck'> {
  health: HealthConfig;
}

export interface StopsignalInstruction extends InstructionBase<'stopsignal'> {
  signal: string;
}

export interface OnbuildInstruction extends InstructionBase<'onbuild'> {
  /** The trigger text stored in the image config (`RUN echo hi`), heredoc bodies appended. */
  expression: string;
  /** The trigger, parsed; undefined when it does not parse (BuildKit defers that error). */
  trigger?: Instruction;
  /** Why the trigger did not parse, when it did not. */
  triggerError?: string;
}

export interface MaintainerInstruction extends InstructionBase<'maintainer'> {
  maintainer: string;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | EnvInstruction
  | ArgInstruction
  | LabelInstruction
  | CopyInstruction
  | AddInstruction
  | WorkdirInstruction
  | UserInstruction
  | ExposeInstruction
  | VolumeInstruction
  | ShellInstruction
  | HealthcheckInstruction
  | StopsignalInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

/** One build stage: a FROM and the instructions up to the next FROM. */
export interface Stage {
  /** Lowercased name for lookups (`FROM x AS Build` gives `build`). */
  name?: string;
  /** The name as written. */
  nameOriginal?: string;
  /** 0-based position among the stages. */
  index: number;
  from: FromInstruction;
  /** Instructions after FROM (never a FromInstruction). */
  commands: Instruction[];
  location: InstructionLocation;
}
