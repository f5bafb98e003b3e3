/**
 * BuildKit rule behaviours beyond the integration corpus, table-driven:
 * each row is a Dockerfile and the exact `line Rule: detail` lines expected.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lint, formatShort, formatWarning, type LintInput } from '../src/lint/index.js';

interface Row { name: string; input: LintInput; expect: string[] }

const rows: Row[] = [
  {
    name: 'builtin platform args are not in a stage environment until declared',
    input: { dockerfile: 'FROM alpine\nCOPY bin/$TARGETARCH /app\nARG TARGETARCH\nCOPY bin/$TARGETARCH /app\n' },
    expect: ["2 UndefinedVar: Usage of undefined variable '$TARGETARCH'"],
  },
  {
    name: 'only the first relative WORKDIR is reported',
    input: { dockerfile: 'FROM alpine\nWORKDIR app\nWORKDIR sub\n' },
    expect: ['2 WorkdirRelativePath: Relative workdir "app" can have unexpected results if the base image changes'],
  },
  {
    name: 'a base image Shell silences JSONArgsRecommended',
    input: { dockerfile: 'FROM myshell\nCMD run me\n', resolveImage: () => ({ shell: ['/bin/bash', '-c'] }) },
    expect: [],
  },
  {
    name: 'secret-looking names (public/file/version are allowed)',
    input: { dockerfile: 'FROM scratch\nARG DATABASE_PASSWORD secret_MESSAGE AUTH_VERSION GITHUB_TOKEN_FILE PUBLIC_KEY monkey\n' },
    expect: [
      '2 SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "DATABASE_PASSWORD")',
      '2 SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "secret_MESSAGE")',
    ],
  },
  {
    name: 'an invalid base name is reported even without ARGs',
    input: { dockerfile: 'FROM alpine AS build\nFROM Build\n' },
    expect: [
      '2 InvalidDefaultArgInFrom: Default value for ARG Build results in empty or invalid base image name',
    ],
  },
  {
    name: 'CopyIgnoredFile names the cleaned path; exclusions turn the check off',
    input: { dockerfile: 'FROM scratch\nCOPY ./conf/../secret.txt /\n', dockerignore: 'secret.txt\n' },
    expect: ['2 CopyIgnoredFile: Attempting to Copy file "secret.txt" that is excluded by .dockerignore'],
  },
  {
    name: 'CopyIgnoredFile is off when .dockerignore has ! patterns',
    input: { dockerfile: 'FROM scratch\nCOPY secret.txt /\n', dockerignore: 'secret.txt\n!other\n' },
    expect: [],
  },
  {
    name: 'ARGs before the first FROM do not count for casing',
    input: { dockerfile: 'ARG X=1\nfrom scratch\ncopy a /b\n' },
    expect: [],
  },
  {
    name: '# check=skip above one instruction applies to it only',
    input: { dockerfile: 'FROM scratch\n# check=skip=MaintainerDeprecated\nMAINTAINER a\nMAINTAINER b\n' },
    expect: ['4 MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label'],
  },
  {
    name: 'ENV values and ARG defaults see earlier ARG values; did-you-mean uses the environment',
    input: { dockerfile: 'FROM scratch\nARG VERSION=1\nENV APP_VERSION=$VERSON\n' },
    expect: ["3 UndefinedVar: Usage of undefined variable '$VERSON' (did you mean $VERSION?)"],
  },
  {
    name: 'a build-arg defines a stage ARG without default',
    input: { dockerfile: 'FROM scratch\nARG V\nCOPY $V /x\n', buildArgs: { V: 'a' } },
    expect: [],
  },
  {
    name: 'FROM --platform with a constant and a stage named after neither os nor arch',
    input: { dockerfile: 'FROM --platform=linux/arm64 scratch AS build\n' },
    expect: ['1 FromPlatformFlagConstDisallowed: FROM --platform flag should not use constant value "linux/arm64"'],
  },
  {
    name: 'EXPOSE words are split after expansion, each checked',
    input: { dockerfile: 'FROM scratch\nARG PORTS="8080:80 53/UDP"\nEXPOSE $PORTS\n' },
    expect: [
      "3 ExposeInvalidFormat: EXPOSE instruction should not define an IP address or host-port mapping, found '8080:80'",
      "3 ExposeProtoCasing: Defined protocol '53/UDP' in EXPOSE instruction should be lowercase",
    ],
  },
  {
    name: 'heredoc bodies (unquoted delimiter) and RUN --mount values are expanded; RUN commands are not',
    input: { dockerfile: 'FROM alpine\nCOPY <<EOF /a\n$NOPE1 "$NOPE2"\nEOF\nCOPY <<"EOF" /b\n$QUOTED\nEOF\nRUN --mount=type=cache,target=$CACHE_DIR echo $NOT_CHECKED\n' },
    expect: [
      "2 UndefinedVar: Usage of undefined variable '$NOPE1'",
      "2 UndefinedVar: Usage of undefined variable '$NOPE2'",
      "8 UndefinedVar: Usage of undefined variable '$CACHE_DIR'",
    ],
  },
  {
    name: 'experimental rules enabled by name run even with skip=all',
    input: { dockerfile: '# check=skip=all;experimental=InvalidDefinitionDescription\nFROM scratch\n# the value\nARG V=1\n' },
    expect: ['4 InvalidDefinitionDescription: Comment for ARG should follow the format: `# V <description>`'],
  },
  {
    name: 'unknown check option is an error',
    input: { dockerfile: '# check=skip=all;bogus=1\nFROM scratch\n' },
    expect: ['error: failed to parse check options: invalid check option "bogus"'],
  },
];

describe('BuildKit rule behaviours', () => {
  let passed = 0;
  for (const row of rows) {
    it(row.name, () => {
      const r = lint({ stagecraftChecks: false, ...row.input });
      const got = r.warnings.map((w) => `${w.location.startLine} ${w.rule}: ${w.detail}`);
      if (r.error) got.push(`error: ${r.error.message}`);
      assert.deepEqual(got, row.expect);
      passed++;
    });
  }
  it('formats: BuildKit short form and the lint command line', () => {
    const [w] = lint({ dockerfile: 'FROM scratch\nMAINTAINER me\n', file: 'app.Dockerfile' }).warnings;
    assert.ok(w);
    assert.equal(formatShort(w), 'MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 2)');
    assert.equal(
      formatWarning(w),
      'app.Dockerfile:2: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (fix: use LABEL org.opencontainers.image.authors="..." instead of MAINTAINER)',
    );
    passed++;
  });
  it('summary', () => {
    console.log(`lint rule behaviours: ${passed}/${rows.length + 1} passed`);
    assert.equal(passed, rows.length + 1);
  });
});
