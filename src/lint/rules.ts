/**
 * The lint rules: BuildKit's ruleset (names, descriptions, URLs and detail
 * texts exactly as BuildKit prints them) and stagecraft's own multi-stage
 * checks. Each rule knows how to format its detail and a one-line fix.
 */

export type LintLevel = 'warning' | 'info';

export interface LintRule<A extends unknown[] = never[]> {
  name: string;
  description: string;
  /** BuildKit's rule page; '' where BuildKit has none (InvalidBaseImagePlatform). */
  url: string;
  /** Off unless named in `# check=experimental=`. */
  experimental: boolean;
  /** Not a BuildKit rule: stagecraft's own check. */
  stagecraft: boolean;
  level: LintLevel;
  detail: (...args: A) => string;
  fix: (...args: A) => string;
}

const ruleUrl = (slug: string): string => `https://docs.docker.com/go/dockerfile/rule/${slug}/`;

/** Go's %q for the strings the rules format (ASCII-safe: JSON quoting matches for printable text). */
export function goQ(s: string): string {
  return JSON.stringify(s);
}

function rule<A extends unknown[]>(r: Omit<LintRule<A>, 'experimental' | 'stagecraft' | 'level'> & Partial<LintRule<A>>): LintRule<A> {
  return { experimental: false, stagecraft: false, level: 'warning', ...r } as LintRule<A>;
}

export const StageNameCasing = rule({
  name: 'StageNameCasing',
  description: 'Stage names should be lowercase',
  url: ruleUrl('stage-name-casing'),
  detail: (name: string) => `Stage name '${name}' should be lowercase`,
  fix: (name: string) => `rename the stage to '${name.toLowerCase()}'`,
});

export const FromAsCasing = rule({
  name: 'FromAsCasing',
  description: "The 'as' keyword should match the case of the 'from' keyword",
  url: ruleUrl('from-as-casing'),
  detail: (as: string, from: string) => `'${as}' and '${from}' keywords' casing do not match`,
  fix: (_as: string, from: string) => `write '${from === from.toLowerCase() ? 'as' : 'AS'}' to match '${from}'`,
});

export const NoEmptyContinuation = rule({
  name: 'NoEmptyContinuation',
  description: 'Empty continuation lines will become errors in a future release',
  url: ruleUrl('no-empty-continuation'),
  detail: () => 'Empty continuation line',
  fix: () => 'remove the empty line inside the continued instruction (or make it a comment)',
});

export const ConsistentInstructionCasing = rule({
  name: 'ConsistentInstructionCasing',
  description: 'All commands within the Dockerfile should use the same casing (either upper or lower)',
  url: ruleUrl('consistent-instruction-casing'),
  detail: (cmd: string, casing: string) => `Command '${cmd}' should match the case of the command majority (${casing})`,
  fix: (cmd: string, casing: string) => `write '${casing === 'lowercase' ? cmd.toLowerCase() : cmd.toUpperCase()}'`,
});

export const DuplicateStageName = rule({
  name: 'DuplicateStageName',
  description: 'Stage names should be unique',
  url: ruleUrl('duplicate-stage-name'),
  detail: (name: string) => `Duplicate stage name ${goQ(name)}, stage names should be unique`,
  fix: (name: string) => `give one of the stages named '${name}' another name`,
});

export const ReservedStageName = rule({
  name: 'ReservedStageName',
  description: 'Reserved words should not be used as stage names',
  url: ruleUrl('reserved-stage-name'),
  detail: (name: string) => `Stage name should not use the same name as reserved stage ${goQ(name)}`,
  fix: (name: string) => `rename the stage: '${name}' is reserved`,
});

export const JSONArgsRecommended = rule({
  name: 'JSONArgsRecommended',
  description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
  url: ruleUrl('json-args-recommended'),
  detail: (cmd: string) => `JSON arguments recommended for ${cmd} to prevent unintended behavior related to OS signals`,
  fix: (cmd: string) => `write ${cmd} in exec form, e.g. ${cmd} ["executable", "arg"]`,
});

export const MaintainerDeprecated = rule({
  name: 'MaintainerDeprecated',
  description: 'The MAINTAINER instruction is deprecated, use a label instead to define an image author',
  url: ruleUrl('maintainer-deprecated'),
  detail: () => 'Maintainer instruction is deprecated in favor of using label',
  fix: () => 'use LABEL org.opencontainers.image.authors="..." instead of MAINTAINER',
});

export const UndefinedArgInFrom = rule({
  name: 'UndefinedArgInFrom',
  description: 'FROM command must use declared ARGs',
  url: ruleUrl('undefined-arg-in-from'),
  detail: (name: string, suggestion?: string) =>
    `FROM argument '${name}' is not declared${suggestion !== undefined ? ` (did you mean ${suggestion}?)` : ''}`,
  fix: (name: string, suggestion?: string) =>
    suggestion !== undefined ? `use ${suggestion}, or declare ARG ${name} before the first FROM` : `declare ARG ${name} before the first FROM`,
});

export const WorkdirRelativePath = rule({
  name: 'WorkdirRelativePath',
  description:
    'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes',
  url: ruleUrl('workdir-relative-path'),
  detail: (path: string) => `Relative workdir ${goQ(path)} can have unexpected results if the base image changes`,
  fix: (path: string) => `use an absolute path, e.g. WORKDIR /${path.replace(/^\.\//, '')}`,
});

export const UndefinedVar = rule({
  name: 'UndefinedVar',
  description: 'Variables should be defined before their use',
  url: ruleUrl('undefined-var'),
  detail: (name: string, suggestion?: string) =>
    `Usage of undefined variable '$${name}'${suggestion !== undefined ? ` (did you mean $${suggestion}?)` : ''}`,
  fix: (name: string, suggestion?: string) =>
    suggestion !== undefined ? `use $${suggestion}, or declare ARG/ENV ${name} before this line` : `declare ARG ${name} or ENV ${name} before this line`,
});

export const MultipleInstructionsDisallowed = rule({
  name: 'MultipleInstructionsDisallowed',
  description: 'Multiple instructions of the same type should not be used in the same stage',
  url: ruleUrl('multiple-instructions-disallowed'),
  detail: (cmd: string) =>
    `Multiple ${cmd} instructions should not be used in the same stage because only the last one will be used`,
  fix: (cmd: string) => `remove this ${cmd}: a later ${cmd} in the stage replaces it`,
});

export const LegacyKeyValueFormat = rule({
  name: 'LegacyKeyValueFormat',
  description: 'Legacy key/value format with whitespace separator should not be used',
  url: ruleUrl('legacy-key-value-format'),
  detail: (cmd: string) => `"${cmd} key=value" should be used instead of legacy "${cmd} key value" format`,
  fix: (cmd: string) => `write ${cmd} key=value`,
});

export const InvalidBaseImagePlatform = rule({
  name: 'InvalidBaseImagePlatform',
  description: 'Base image platform does not match expected target platform',
  url: '',
  detail: (image: string, got: string, expected: string) =>
    `Base image ${image} was pulled with platform ${goQ(got)}, expected ${goQ(expected)} for current build`,
  fix: (image: string, _got: string, expected: string) => `use an image of ${image} built for ${expected}, or set FROM --platform`,
});

export const RedundantTargetPlatform = rule({
  name: 'RedundantTargetPlatform',
  description: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
  url: ruleUrl('redundant-target-platform'),
  detail: (value: string) => `Setting platform to predefined ${value} in FROM is redundant as this is the default behavior`,
  fix: () => 'remove --platform from this FROM',
});

export const SecretsUsedInArgOrEnv = rule({
  name: 'SecretsUsedInArgOrEnv',
  description: 'Sensitive data should not be used in the ARG or ENV commands',
  url: ruleUrl('secrets-used-in-arg-or-env'),
  detail: (cmd: string, key: string) => `Do not use ARG or ENV instructions for sensitive data (${cmd} ${goQ(key)})`,
  fix: () => 'pass the value with RUN --mount=type=secret instead',
});

export const InvalidDefaultArgInFrom = rule({
  name: 'InvalidDefaultArgInFrom',
  description: 'Default value for global ARG results in an empty or invalid base image name',
  url: ruleUrl('invalid-default-arg-in-from'),
  detail: (image: string) => `Default value for ARG ${image} results in empty or invalid base image name`,
  fix: () => 'give the ARG a default that makes a valid image name',
});

export const FromPlatformFlagConstDisallowed = rule({
  name: 'FromPlatformFlagConstDisallowed',
  description: 'FROM --platform flag should not use a constant value',
  url: ruleUrl('from-platform-flag-const-disallowed'),
  detail: (platform: string) => `FROM --platform flag should not use constant value ${goQ(platform)}`,
  fix: () => 'use a variable such as $BUILDPLATFORM, or name the stage after the platform',
});

export const CopyIgnoredFile = rule({
  name: 'CopyIgnoredFile',
  description: 'Attempting to Copy file that is excluded by .dockerignore',
  url: ruleUrl('copy-ignored-file'),
  detail: (cmd: string, path: string) => `Attempting to ${cmd} file ${goQ(path)} that is excluded by .dockerignore`,
  fix: (_cmd: string, path: string) => `remove ${path} from .dockerignore (or add !${path}), or stop copying it`,
});

export const InvalidDefinitionDescription = rule({
  name: 'InvalidDefinitionDescription',
  description:
    'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
  url: ruleUrl('invalid-definition-description'),
  experimental: true,
  detail: (cmd: string, name: string) => `Comment for ${cmd} should follow the format: \`# ${name} <description>\``,
  fix: (_cmd: string, name: string) => `start the comment with '${name}', or put an empty line between it and the instruction`,
});

export const ExposeProtoCasing = rule({
  name: 'ExposeProtoCasing',
  description: 'Protocol in EXPOSE instruction should be lowercase',
  url: ruleUrl('expose-proto-casing'),
  detail: (port: string) => `Defined protocol '${port}' in EXPOSE instruction should be lowercase`,
  fix: (port: string) => `write ${port.toLowerCase()}`,
});

export const ExposeInvalidFormat = rule({
  name: 'ExposeInvalidFormat',
  description:
    'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release',
  url: ruleUrl('expose-invalid-format'),
  detail: (port: string) => `EXPOSE instruction should not define an IP address or host-port mapping, found '${port}'`,
  fix: (port: string) => `write only the container port: EXPOSE ${port.slice(port.lastIndexOf(':') + 1)}`,
});

/** Every BuildKit rule, by name (for validating `# check=skip=` names and docs). */
export const BUILDKIT_RULES: ReadonlyArray<LintRule<never[]>> = [
  StageNameCasing, FromAsCasing, NoEmptyContinuation, ConsistentInstructionCasing, DuplicateStageName,
  ReservedStageName, JSONArgsRecommended, MaintainerDeprecated, UndefinedArgInFrom, WorkdirRelativePath,
  UndefinedVar, MultipleInstructionsDisallowed, LegacyKeyValueFormat, InvalidBaseImagePlatform,
  RedundantTargetPlatform, SecretsUsedInArgOrEnv, InvalidDefaultArgInFrom, FromPlatformFlagConstDisallowed,
  CopyIgnoredFile, InvalidDefinitionDescription, ExposeProtoCasing, ExposeInvalidFormat,
] as unknown as ReadonlyArray<LintRule<never[]>>;
