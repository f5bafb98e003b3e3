/**
 * End to end from Dockerfile text: the real parser's AST shapes (ONBUILD
 * sub-instructions, heredocs, continuations, legacy ENV, keyword casing)
 * through parseStages.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from '../../src/dockerfile/parser/index.js';
import { parseStages, type Instruction } from '../../src/dockerfile/instructions/index.js';

const dockerfile = [
  '# syntax=docker/dockerfile:1',
  'ARG BASE=alpine',
  'from ${BASE} as Builder',
  'ENV A=1 B="two words"',
  'ENV LEGACY value with spaces',
  'ONBUILD RUN <<EOF',
  'echo hi',
  'EOF',
  'onbuild copy a b',
  'HEALTHCHECK --interval=30s CMD curl -f http://x/ || exit 1',
  'RUN --mount=type=cache,target=/root/.cache \\',
  "    --network=none <<-'SCRIPT' bash",
  '\techo $HOME',
  'SCRIPT',
  'COPY --chmod=755 <<EOF /usr/local/bin/x',
  '#!/bin/sh',
  'EOF',
  'EXPOSE 80/tcp 443',
  'CMD ["a", "b"]',
  'FROM scratch',
  'COPY --from=builder /usr/local/bin/x /x',
  '',
].join('\n');

function find<K extends Instruction['kind']>(list: Instruction[], kind: K, n = 0): Extract<Instruction, { kind: K }> {
  const found = list.filter((i) => i.kind === kind)[n];
  assert.ok(found, `no ${kind} #${n}`);
  return found as Extract<Instruction, { kind: K }>;
}

describe('instructions from parsed Dockerfile text', () => {
  const { metaArgs, stages } = parseStages(parse(dockerfile).ast);
  const cmds = stages[0]!.commands;

  it('stages and meta args', () => {
    assert.deepEqual(metaArgs.map((a) => a.args), [[{ key: 'BASE', value: 'alpine', comment: '' }]]);
    assert.deepEqual(stages.map((s) => [s.name, s.index, s.location]), [
      ['builder', 0, { startLine: 3, endLine: 19 }],
      [undefined, 1, { startLine: 20, endLine: 21 }],
    ]);
    assert.deepEqual([stages[0]!.from.keyword, stages[0]!.from.asKeyword, stages[0]!.nameOriginal], ['from', 'as', 'Builder']);
  });
  it('ENV pairs, legacy form flagged', () => {
    assert.deepEqual(find(cmds, 'env', 0).pairs, [
      { key: 'A', value: '1', legacy: false },
      { key: 'B', value: '"two words"', legacy: false },
    ]);
    assert.deepEqual(find(cmds, 'env', 1).pairs, [{ key: 'LEGACY', value: 'value with spaces', legacy: true }]);
  });
  it('ONBUILD keeps the expression with heredoc bodies and parses the trigger', () => {
    const o = find(cmds, 'onbuild', 0);
    assert.equal(o.expression, 'RUN <<EOF\necho hi\nEOF');
    assert.equal(o.trigger?.kind, 'run');
    assert.deepEqual(o.trigger?.kind === 'run' && o.trigger.files, [{ name: 'EOF', data: 'echo hi\n', chomp: false, expand: true }]);
    const lower = find(cmds, 'onbuild', 1);
    assert.deepEqual([lower.keyword, lower.expression, lower.trigger?.kind, lower.trigger?.keyword], ['onbuild', 'copy a b', 'copy', 'copy']);
  });
  it('HEALTHCHECK shell form becomes CMD-SHELL', () => {
    const h = find(cmds, 'healthcheck');
    assert.deepEqual(h.health.test, ['CMD-SHELL', 'curl -f http://x/ || exit 1']);
    assert.equal(h.health.interval, 30e9);
  });
  it('RUN across continuation lines with flags and a quoted, chomped heredoc', () => {
    const r = find(cmds, 'run');
    assert.deepEqual(r.location, { startLine: 11, endLine: 14 });
    assert.deepEqual(r.mounts, ['type=cache,target=/root/.cache']);
    assert.equal(r.network, 'none');
    assert.deepEqual(r.cmdLine, ["<<-'SCRIPT' bash"]);
    assert.deepEqual(r.files, [{ name: 'SCRIPT', data: '\techo $HOME\n', chomp: true, expand: false }]);
    assert.deepEqual(r.flagsUsed, ['mount', 'network']);
  });
  it('COPY heredoc source with --chmod; COPY --from a stage', () => {
    const c = find(cmds, 'copy');
    assert.deepEqual([c.chmod, c.destPath, c.sourcePaths, c.sourceContents], ['755', '/usr/local/bin/x', [], [{ path: 'EOF', data: '#!/bin/sh\n', expand: true }]]);
    const d = find(stages[1]!.commands, 'copy');
    assert.deepEqual([d.from, d.sourcePaths, d.destPath], ['builder', ['/usr/local/bin/x'], '/x']);
  });
  it('EXPOSE sorted, CMD exec form', () => {
    assert.deepEqual(find(cmds, 'expose').ports, ['443', '80/tcp']);
    assert.deepEqual(find(cmds, 'cmd').cmdLine, ['a', 'b']);
  });
});
