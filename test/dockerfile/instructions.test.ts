/**
 * Table-driven tests for every instruction and flag family, on hand-built AST
 * nodes (the shape BuildKit's parser produces), plus property tests for the
 * Go value syntaxes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Heredoc, Node } from '../../src/dockerfile/ast.js';
import {
  BFlags, buildkitErrorText, chompHeredocContent, classifySource, findStage, formatGoDuration, parseGoDuration, parseHeredocWord,
  parseInstruction, parseMount, parseStages, type Instruction, type Mount,
} from '../../src/dockerfile/instructions/index.js';
import { splitCsvRecord } from '../../src/dockerfile/instructions/go-values.js';
import { isStagecraftError } from '../../src/errors.js';

interface NodeOpts {
  json?: boolean;
  flags?: string[];
  heredocs?: Heredoc[];
  comments?: string[];
  line?: number;
  original?: string;
}

function leaf(value: string, next: Node | null = null): Node {
  return { value, next, children: [], heredocs: [], attributes: {}, original: '', flags: [], startLine: 0, endLine: 0, prevComment: [] };
}

/** `KEYWORD [flags] args...` as a node, keyword as written (its lowercase is the value). */
function node(keyword: string, args: string[], o: NodeOpts = {}): Node {
  let next: Node | null = null;
  for (let i = args.length - 1; i >= 0; i--) next = leaf(args[i]!, next);
  const line = o.line ?? 1;
  return {
    value: keyword.toLowerCase(), next, children: [], heredocs: o.heredocs ?? [],
    attributes: o.json ? { json: true } : {},
    original: o.original ?? [keyword, ...(o.flags ?? []), ...args].join(' '),
    flags: o.flags ?? [], startLine: line, endLine: line, prevComment: o.comments ?? [],
  };
}

/** ENV/LABEL pairs as the parser gives them: key, value, '=' (or '' for legacy). */
function kv(keyword: string, pairs: Array<[string, string, string?]>, o: NodeOpts = {}): Node {
  return node(keyword, pairs.flatMap(([k, v, d]) => [k, v, d ?? '=']), o);
}

function onbuild(child: Node, line = 1): Node {
  const holder = leaf('');
  holder.children = [child];
  return {
    value: 'onbuild', next: holder, children: [], heredocs: [], attributes: {},
    original: `ONBUILD ${child.original}`, flags: [], startLine: line, endLine: line, prevComment: [],
  };
}

function fails(n: Node, message: string | RegExp): void {
  try {
    parseInstruction(n);
  } catch (e) {
    assert.ok(isStagecraftError(e), String(e));
    assert.equal(e.code, /^source can't be/.test(e.message) ? 'COPY' : 'INSTRUCTION');
    assert.deepEqual(e.location, { startLine: n.startLine, endLine: n.endLine });
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return;
  }
  assert.fail(`expected an error for ${n.original}`);
}

function as<K extends Instruction['kind']>(i: Instruction, kind: K): Extract<Instruction, { kind: K }> {
  assert.equal(i.kind, kind);
  return i as Extract<Instruction, { kind: K }>;
}

describe('FROM', () => {
  it('keeps the image raw and the stage name lowercased', () => {
    const f = as(parseInstruction(node('FROM', ['${BASE}:1', 'AS', 'Build'], { flags: ['--platform=$BUILDPLATFORM'], comments: ['build compiles'] })), 'from');
    assert.equal(f.image, '${BASE}:1');
    assert.equal(f.stageName, 'build');
    assert.equal(f.stageNameOriginal, 'Build');
    assert.equal(f.asKeyword, 'AS');
    assert.equal(f.platform, '$BUILDPLATFORM');
    assert.equal(f.keyword, 'FROM');
    assert.equal(f.comment, 'compiles');
    const g = as(parseInstruction(node('from', ['alpine', 'as', 'base'], { comments: ['base is the base'] })), 'from');
    assert.equal(g.comment, 'is the base');
    assert.equal(g.keyword, 'from');
    assert.equal(as(parseInstruction(node('FROM', ['scratch'])), 'from').stageName, undefined);
  });
  const errors: Array<[string[], string[], string | RegExp]> = [
    [['a', 'b'], [], 'FROM requires either one or three arguments'],
    [['a', 'AS'], [], 'FROM requires either one or three arguments'],
    [['a', 'to', 'b'], [], 'FROM requires either one or three arguments'],
    [[], [], 'FROM requires either one or three arguments'],
    [['a', 'AS', '1st'], [], 'invalid name for build stage: "1st", name can\'t start with a number or contain symbols'],
    [['a', 'AS', 'my$stage'], [], /invalid name for build stage/],
    [['a'], ['--platform'], 'missing a value on flag: --platform'],
    [['a'], ['--platfrom=x'], 'unknown flag: --platfrom (did you mean platform?)'],
  ];
  for (const [args, flags, msg] of errors) {
    it(`rejects FROM ${[...flags, ...args].join(' ')}`, () => fails(node('FROM', args, { flags }), msg));
  }
});

describe('RUN', () => {
  it('shell form: one string, prependShell', () => {
    const r = as(parseInstruction(node('RUN', ['echo hi && ls'])), 'run');
    assert.deepEqual(r.cmdLine, ['echo hi && ls']);
    assert.equal(r.prependShell, true);
    assert.equal(r.network, 'default');
    assert.equal(r.security, 'sandbox');
    assert.deepEqual(r.mounts, []);
    assert.deepEqual(r.flagsUsed, []);
  });
  it('exec form: the argv', () => {
    const r = as(parseInstruction(node('RUN', ['ls', '-l', '/'], { json: true })), 'run');
    assert.deepEqual(r.cmdLine, ['ls', '-l', '/']);
    assert.equal(r.prependShell, false);
  });
  it('keeps mounts raw, in order, with network/security and flags used', () => {
    const r = as(parseInstruction(node('RUN', ['make'], {
      flags: ['--mount=type=cache,target=/root/.cache', '--network=none', '--mount=type=secret,id=tok,env=TOKEN', '--security=insecure'],
    })), 'run');
    assert.deepEqual(r.mounts, ['type=cache,target=/root/.cache', 'type=secret,id=tok,env=TOKEN']);
    assert.equal(r.network, 'none');
    assert.equal(r.security, 'insecure');
    assert.deepEqual(r.flagsUsed, ['mount', 'network', 'security']);
  });
  it('defers mounts with variables to the planner', () => {
    const r = as(parseInstruction(node('RUN', ['x'], { flags: ['--mount=type=cache,target=$DIR,uid=$UID'] })), 'run');
    assert.deepEqual(r.mounts, ['type=cache,target=$DIR,uid=$UID']);
    assert.deepEqual(parseMount(r.mounts[0]!, (s) => s.replace('$DIR', '/c').replace('$UID', '1000')), {
      type: 'cache', target: '/c', id: '/c', sharing: 'shared', from: '', source: '', readonly: false, uid: 1000,
    });
  });
  it('leaves value checks to parseMount at conversion (BuildKit skips unreached stages)', () => {
    const r = as(parseInstruction(node('RUN', ['x'], { flags: ['--mount=type=cache,target=/x,sharing=bogus'] })), 'run');
    assert.throws(() => parseMount(r.mounts[0]!), /unsupported sharing value "bogus"/);
  });
  it('keeps heredoc bodies as files', () => {
    const h: Heredoc = { name: 'EOF', fileDescriptor: 0, expand: false, chomp: true, content: '\techo hi\n' };
    const r = as(parseInstruction(node('RUN', ['<<-EOF'], { heredocs: [h] })), 'run');
    assert.deepEqual(r.files, [{ name: 'EOF', data: '\techo hi\n', chomp: true, expand: false }]);
  });
  const errors: Array<[string[], string | RegExp]> = [
    [['--network=bridge'], 'invalid network mode "bridge"'],
    [['--security=privileged'], 'security "privileged" is not valid'],
    [['--network=none', '--network=host'], 'duplicate flag specified: --network'],
    [['--mount'], 'missing a value on flag: --mount'],
    [['--mout=type=bind'], 'unknown flag: --mout (did you mean mount?)'],
    [['--mount=type=cache,target=/x,nokey'], "invalid field 'nokey' must be a key=value pair"],
    [['--mount=type="cache'], 'failed to parse csv mounts: parse error on line 1, column 6: bare " in non-quoted field'],
    [['--mount=type=bind,from=$STAGE'], "'from' doesn't support variable expansion, define alias stage instead"],
    [['--mount=type=cache,target=$X,nokey'], "invalid field 'nokey' must be a key=value pair"],
    [['--mount=type=cache,target=$X,tagret=/y'], "unexpected key 'tagret' in 'tagret=/y' (did you mean target?)"],
    [['--device=a,name=b'], 'device name already set to a'],
    [['-mount=x'], 'arg should start with -- : -mount=x'],
  ];
  for (const [flags, msg] of errors) {
    it(`rejects RUN ${flags.join(' ')}`, () => fails(node('RUN', ['true'], { flags }), msg));
  }
});

describe('CMD, ENTRYPOINT, SHELL', () => {
  it('CMD shell and exec form; CMD [] stays an empty list', () => {
    assert.deepEqual(as(parseInstruction(node('CMD', ['echo $HOME'])), 'cmd').cmdLine, ['echo $HOME']);
    const c = as(parseInstruction(node('CMD', ['a', 'b'], { json: true })), 'cmd');
    assert.deepEqual([c.cmdLine, c.prependShell], [['a', 'b'], false]);
    assert.deepEqual(as(parseInstruction(node('CMD', [], { json: true })), 'cmd').cmdLine, []);
  });
  it('ENTRYPOINT [] is null (clears the entrypoint)', () => {
    assert.equal(as(parseInstruction(node('ENTRYPOINT', [], { json: true })), 'entrypoint').cmdLine, null);
    const e = as(parseInstruction(node('ENTRYPOINT', ['/bin/app', '--serve'], { json: true })), 'entrypoint');
    assert.deepEqual(e.cmdLine, ['/bin/app', '--serve']);
  });
  it('SHELL needs JSON form', () => {
    assert.deepEqual(as(parseInstruction(node('SHELL', ['/bin/bash', '-c'], { json: true })), 'shell').shell, ['/bin/bash', '-c']);
    fails(node('SHELL', ['/bin/bash -c']), 'SHELL requires the arguments to be in JSON form');
    fails(node('SHELL', [], { json: true }), 'SHELL requires at least one argument');
    fails(node('SHELL', ['["c:\\windows\\cmd.exe", "/S"]'], { original: 'SHELL ["c:\\windows\\cmd.exe", "/S"]' }),
      /JSON form\. It looks like .* includes a file path without an escaped back-slash/);
  });
  it('CMD rejects flags', () => fails(node('CMD', ['x'], { flags: ['--x=1'] }), 'unknown flag: --x'));
});

describe('ENV, LABEL, ARG', () => {
  it('ENV keeps order, raw values and the legacy form', () => {
    const e = as(parseInstruction(kv('ENV', [['A', '"1 2"'], ['B', '$A'], ['C', 'legacy value', '']])), 'env');
    assert.deepEqual(e.pairs, [
      { key: 'A', value: '"1 2"', legacy: false },
      { key: 'B', value: '$A', legacy: false },
      { key: 'C', value: 'legacy value', legacy: true },
    ]);
  });
  it('LABEL pairs', () => {
    const l = as(parseInstruction(kv('LABEL', [['org.opencontainers.image.title', 'x'], ['b', '']])), 'label');
    assert.deepEqual(l.pairs.map((p) => [p.key, p.value]), [['org.opencontainers.image.title', 'x'], ['b', '']]);
  });
  it('ARG with and without defaults', () => {
    const a = as(parseInstruction(node('ARG', ['A', 'B=2', 'C=', 'D=x=y'])), 'arg');
    assert.deepEqual(a.args, [
      { key: 'A', comment: '' },
      { key: 'B', value: '2', comment: '' },
      { key: 'C', value: '', comment: '' },
      { key: 'D', value: 'x=y', comment: '' },
    ]);
  });
  it('errors', () => {
    fails(node('ARG', []), 'ARG requires at least one argument');
    fails(node('ARG', ['=x']), 'ARG names can not be blank');
    fails(kv('ENV', [['A', '1']], { flags: ['--x'] }), 'unknown flag: --x');
  });
});

describe('COPY and ADD', () => {
  it('COPY flags', () => {
    const c = as(parseInstruction(node('COPY', ['a', 'b', '/dst/'], {
      flags: ['--from=build', '--chown=1000:1000', '--chmod=0755', '--link', '--parents', '--exclude=*.md', '--exclude=tmp/'],
    })), 'copy');
    assert.deepEqual(c.sourcePaths, ['a', 'b']);
    assert.equal(c.destPath, '/dst/');
    assert.deepEqual(c.sourceContents, []);
    assert.equal(c.from, 'build');
    assert.equal(c.chown, '1000:1000');
    assert.equal(c.chmod, '0755');
    assert.equal(c.link, true);
    assert.equal(c.parents, true);
    assert.deepEqual(c.excludes, ['*.md', 'tmp/']);
  });
  it('COPY defaults, --link=false', () => {
    const c = as(parseInstruction(node('COPY', ['a', '/'], { flags: ['--link=false'] })), 'copy');
    assert.deepEqual([c.from, c.chown, c.chmod, c.link, c.parents, c.excludes], [undefined, undefined, undefined, false, false, []]);
    assert.deepEqual(c.flagsUsed, ['link']);
  });
  it('ADD flags', () => {
    const a = as(parseInstruction(node('ADD', ['https://example.com/x.tgz', '/x'], {
      flags: ['--checksum=sha256:abc', '--keep-git-dir=true', '--unpack=false', '--chmod=644'],
    })), 'add');
    assert.deepEqual(a.sourcePaths, ['https://example.com/x.tgz']);
    assert.equal(a.checksum, 'sha256:abc');
    assert.equal(a.keepGitDir, true);
    assert.equal(a.unpack, false);
    assert.equal(a.chmod, '644');
    assert.equal(as(parseInstruction(node('ADD', ['a', 'b'])), 'add').unpack, undefined);
  });
  it('heredoc sources with chomp and quoting', () => {
    const heredocs: Heredoc[] = [
      { name: 'A', fileDescriptor: 0, expand: true, chomp: true, content: '\t\tx\n\ty\n' },
      { name: 'B', fileDescriptor: 0, expand: false, chomp: false, content: '$z\n' },
    ];
    const c = as(parseInstruction(node('COPY', ['<<-A', "<<'B'", 'file', '/d'], { heredocs })), 'copy');
    assert.deepEqual(c.sourcePaths, ['file']);
    assert.deepEqual(c.sourceContents, [
      { path: 'A', data: 'x\ny\n', expand: true },
      { path: 'B', data: '$z\n', expand: false },
    ]);
  });
  const errors: Array<[string, string[], string[], string]> = [
    ['COPY', ['http://example.com/f', '/'], [], "source can't be a URL for COPY"],
    ['COPY', ['git@github.com:moby/buildkit.git', '/'], [], "source can't be a git ref for COPY"],
    ['COPY', ['a', '<<EOF'], [], 'COPY cannot accept a heredoc as a destination'],
    ['ADD', ['a', '<<EOF'], [], 'ADD cannot accept a heredoc as a destination'],
    ['COPY', ['a', 'b'], ['--checksum=sha256:x'], 'unknown flag: --checksum'],
    ['ADD', ['a', 'b'], ['--from=x'], 'unknown flag: --from'],
    ['COPY', ['a', 'b'], ['--link=maybe'], 'expecting boolean value for flag --link, not: maybe'],
    ['COPY', ['a', 'b'], ['--link='], 'missing a value on flag: --link'],
    ['COPY', ['a', 'b'], ['--from=a', '--from=b'], 'duplicate flag specified: --from'],
    ['COPY', ['a'], ['--from=x'], 'COPY requires at least two arguments, but only one was provided. Destination could not be determined'],
  ];
  for (const [kw, args, flags, msg] of errors) {
    it(`rejects ${kw} ${[...flags, ...args].join(' ')}`, () => fails(node(kw, args, { flags }), msg));
  }
  it('classifies sources', () => {
    const table: Array<[string, string]> = [
      ['src/', 'local'], ['http://x/y', 'url'], ['HTTPS://x/y.tar', 'url'], ['https://github.com/a/b.git', 'git'],
      ['git@github.com:a/b.git', 'git'], ['git://host/repo', 'git'], ['ssh://git@host/repo', 'git'], ['http', 'local'],
    ];
    for (const [src, kind] of table) assert.equal(classifySource(src), kind, src);
  });
});

describe('single-value and list instructions', () => {
  it('values', () => {
    assert.equal(as(parseInstruction(node('WORKDIR', ['/app'])), 'workdir').path, '/app');
    assert.equal(as(parseInstruction(node('USER', ['1000:1000'])), 'user').user, '1000:1000');
    assert.equal(as(parseInstruction(node('STOPSIGNAL', ['SIGKILL'])), 'stopsignal').signal, 'SIGKILL');
    assert.equal(as(parseInstruction(node('MAINTAINER', ['me <me@x>'])), 'maintainer').maintainer, 'me <me@x>');
    assert.deepEqual(as(parseInstruction(node('EXPOSE', ['8080/udp', '443', '80'])), 'expose').ports, ['443', '80', '8080/udp']);
    assert.deepEqual(as(parseInstruction(node('VOLUME', [' /data ', '/logs'])), 'volume').volumes, ['/data', '/logs']);
  });
  it('errors', () => {
    fails(node('WORKDIR', ['a', 'b']), 'WORKDIR requires exactly one argument');
    fails(node('USER', ['x'], { flags: ['--u=1'] }), 'unknown flag: --u');
    fails(node('VOLUME', ['  ']), 'VOLUME specified can not be an empty string');
  });
});

describe('HEALTHCHECK', () => {
  it('NONE', () => {
    assert.deepEqual(as(parseInstruction(node('HEALTHCHECK', ['NONE'])), 'healthcheck').health.test, ['NONE']);
    assert.deepEqual(as(parseInstruction(node('HEALTHCHECK', ['none'])), 'healthcheck').health.test, ['NONE']);
  });
  it('CMD with every flag', () => {
    const h = as(parseInstruction(node('HEALTHCHECK', ['CMD', 'curl', '-f', 'http://localhost/'], {
      json: true, flags: ['--interval=1m30s', '--timeout=10s', '--start-period=1.5s', '--start-interval=100ms', '--retries=5'],
    })), 'healthcheck');
    assert.deepEqual(h.health, {
      test: ['CMD', 'curl', '-f', 'http://localhost/'],
      interval: 90e9, timeout: 10e9, startPeriod: 1.5e9, startInterval: 100e6, retries: 5,
    });
  });
  const errors: Array<[string[], string[], string]> = [
    [['NONE', 'x'], [], 'HEALTHCHECK NONE takes no arguments'],
    [['CHECK', 'x'], [], 'Unknown type "CHECK" in HEALTHCHECK (try CMD)'],
    [['CMD'], [], 'Missing command after HEALTHCHECK CMD'],
    [['CMD', 'x'], ['--retries=-1'], '--retries cannot be negative (-1)'],
    [['CMD', 'x'], ['--retries=two'], 'strconv.ParseInt: parsing "two": invalid syntax'],
    [['CMD', 'x'], ['--timeout=10'], 'time: missing unit in duration "10"'],
    [['CMD', 'x'], ['--timeout=10y'], 'time: unknown unit "y" in duration "10y"'],
    [['CMD', 'x'], ['--start-interval=999us'], 'Interval "start-interval" cannot be less than 1ms'],
    [['CMD', 'x'], ['--every=1s'], 'unknown flag: --every'],
  ];
  for (const [args, flags, msg] of errors) {
    it(`rejects HEALTHCHECK ${[...flags, ...args].join(' ')}`, () => fails(node('HEALTHCHECK', args, { flags }), msg));
  }
});

describe('ONBUILD', () => {
  it('keeps the expression and parses the trigger', () => {
    const o = as(parseInstruction(onbuild(node('RUN', ['echo hi']))), 'onbuild');
    assert.equal(o.expression, 'RUN echo hi');
    assert.equal(o.trigger?.kind, 'run');
    assert.equal(o.triggerError, undefined);
  });
  it('keeps a trigger that does not parse as an error value (BuildKit defers it)', () => {
    const o = as(parseInstruction(onbuild(node('COPY', ['only-one']))), 'onbuild');
    assert.equal(o.trigger, undefined);
    assert.match(o.triggerError ?? '', /COPY requires at least two arguments/);
  });
  it('rejects forbidden triggers', () => {
    fails(onbuild(node('FROM', ['x'])), "FROM isn't allowed as an ONBUILD trigger");
    fails(onbuild(node('MAINTAINER', ['x'])), "MAINTAINER isn't allowed as an ONBUILD trigger");
    fails(onbuild(onbuild(node('RUN', ['x']))), 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
    fails(node('ONBUILD', []), 'ONBUILD requires at least one argument');
  });
});

describe('unknown instructions', () => {
  it('names the keyword as written and suggests the closest', () => {
    fails(node('RUNN', ['x']), 'unknown instruction: RUNN (did you mean RUN?)');
    fails(node('Foo', ['x']), 'unknown instruction: Foo');
  });
  it('prints like BuildKit: dockerfile parse error on line N', () => {
    try {
      parseStages({ ...leaf(''), children: [node('FROM', ['x'], { line: 1 }), node('BADCMD', ['x'], { line: 4 })] });
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(isStagecraftError(e));
      assert.equal(buildkitErrorText(e), 'dockerfile parse error on line 4: unknown instruction: BADCMD');
    }
  });
});

describe('parseStages', () => {
  const root = (children: Node[]): Node => ({ ...leaf(''), children });
  it('splits meta ARGs and stages, names lowercased', () => {
    const ast = root([
      node('ARG', ['BASE=alpine'], { line: 1 }),
      node('FROM', ['$BASE', 'AS', 'Build'], { line: 2 }),
      node('RUN', ['make'], { line: 3 }),
      node('ARG', ['X'], { line: 4 }),
      node('FROM', ['scratch'], { line: 6 }),
      node('COPY', ['/out', '/'], { flags: ['--from=build'], line: 7 }),
    ]);
    const { metaArgs, stages } = parseStages(ast);
    assert.deepEqual(metaArgs.map((a) => a.args[0]!.key), ['BASE']);
    assert.equal(stages.length, 2);
    assert.deepEqual([stages[0]!.name, stages[0]!.nameOriginal, stages[0]!.index], ['build', 'Build', 0]);
    assert.deepEqual(stages[0]!.commands.map((c) => c.kind), ['run', 'arg']);
    assert.deepEqual(stages[0]!.location, { startLine: 2, endLine: 4 });
    assert.equal(stages[1]!.name, undefined);
    assert.equal(findStage(stages, 'BUILD'), stages[0]);
    assert.equal(findStage(stages, '1'), stages[1]);
    assert.equal(findStage(stages, 'nope'), undefined);
  });
  it('rejects an instruction before the first FROM, with its line', () => {
    try {
      parseStages(root([node('ARG', ['A'], { line: 1 }), node('RUN', ['x'], { line: 3 })]));
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(isStagecraftError(e));
      assert.equal(e.message, 'no build stage in current context');
      assert.equal(e.code, 'STAGE');
      assert.equal(buildkitErrorText(e), 'no build stage in current context');
      assert.deepEqual(e.location, { startLine: 3, endLine: 3 });
    }
  });
  it('an empty file has no stages', () => {
    assert.deepEqual(parseStages(root([])), { metaArgs: [], stages: [] });
  });
});

describe('parseMount', () => {
  const ok: Array<[string, Mount]> = [
    ['target=/src', { type: 'bind', target: '/src', source: '', from: '', readonly: true }],
    ['type=bind,src=/a,dst=/b,from=build,rw', { type: 'bind', target: '/b', source: '/a', from: 'build', readonly: false }],
    ['type=BIND,source=x,destination=/y,readonly=false', { type: 'bind', target: '/y', source: 'x', from: '', readonly: false }],
    ['type=bind,target=/y,ro=true', { type: 'bind', target: '/y', source: '', from: '', readonly: true }],
    ['type=cache,target=/root/.cache', { type: 'cache', target: '/root/.cache', id: '/root/.cache', sharing: 'shared', from: '', source: '', readonly: false }],
    ['type=cache,target=/c,id=go,sharing=LOCKED,mode=0755,uid=1000,gid=1001,ro',
      { type: 'cache', target: '/c', id: 'go', sharing: 'locked', from: '', source: '', readonly: true, mode: 0o755, uid: 1000, gid: 1001 }],
    ['type=cache,target=/c,sharing=private,from=base,source=/seed',
      { type: 'cache', target: '/c', id: '/c', sharing: 'private', from: 'base', source: '/seed', readonly: false }],
    ['type=tmpfs,target=/tmp,size=64m', { type: 'tmpfs', target: '/tmp', size: 64 * 1024 * 1024, readonly: false }],
    ['type=tmpfs,dst=/t', { type: 'tmpfs', target: '/t', readonly: false }],
    ['type=secret,id=npmrc', { type: 'secret', id: 'npmrc', target: '/run/secrets/npmrc', required: false, readonly: true }],
    ['type=secret,target=/root/.npmrc', { type: 'secret', id: '.npmrc', target: '/root/.npmrc', required: false, readonly: true }],
    ['type=secret,source=aws,target=/root/.aws/credentials,required,mode=0440,uid=1',
      { type: 'secret', id: 'aws', target: '/root/.aws/credentials', required: true, readonly: true, mode: 0o440, uid: 1 }],
    ['type=secret,id=tok,env=TOKEN', { type: 'secret', id: 'tok', target: '', env: 'TOKEN', required: false, readonly: true }],
    ['type=secret,id=tok,env=TOKEN,target=/t,required=false', { type: 'secret', id: 'tok', target: '/t', env: 'TOKEN', required: false, readonly: true }],
    ['type=ssh', { type: 'ssh', id: 'default', target: '', required: false, readonly: true }],
    ['type=ssh,id=github,target=/agent.sock,required=true,mode=0600',
      { type: 'ssh', id: 'github', target: '/agent.sock', required: true, readonly: true, mode: 0o600 }],
    ['"type=bind","target=/a,b"', { type: 'bind', target: '/a,b', source: '', from: '', readonly: true }],
  ];
  for (const [raw, want] of ok) it(`parses ${raw}`, () => assert.deepEqual(parseMount(raw), want));

  const bad: Array<[string, string]> = [
    ['type=volume,target=/x', 'unsupported mount type "volume"'],
    ['type=cahce,target=/x', 'unsupported mount type "cahce" (did you mean cache?)'],
    ['type=bind,required', "unexpected key 'required' for mount type 'bind'"],
    ['required,type=secret,id=x', "unexpected key 'required' for mount type 'bind'"],
    ['type=cache,required=true', "unexpected key 'required' for mount type 'cache'"],
    ['type=bind,size=1m', "unexpected key 'size' for mount type 'bind'"],
    ['type=tmpfs,size=lots', 'invalid value for size: lots'],
    ['type=bind,ro=maybe', 'invalid value for ro: maybe'],
    ['type=bind,rw=2', 'invalid value for rw: 2'],
    ['type=cache,mode=0999', 'invalid value 0999 for mode'],
    ['type=cache,uid=-1', 'invalid value -1 for uid'],
    ['type=cache,gid=4294967296', 'invalid value 4294967296 for gid'],
    ['type=bind,mode=0600', 'mode not allowed for "bind" type mounts'],
    ['type=tmpfs,uid=0', 'uid not allowed for "tmpfs" type mounts'],
    ['type=bind,gid=0', 'gid not allowed for "bind" type mounts'],
    ['type=bind,sharing=locked', 'invalid cache sharing set for bind mount'],
    ['type=secret,id=a,from=b', 'secret mount should not have a from'],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=secret,id=a,source=b', "both source and id can't be set"],
    ['type=bind,env=X', 'env not allowed for "bind" type mounts'],
    ['type=bind,target', "invalid field 'target' must be a key=value pair"],
    ['type=bind,bogus=1', "unexpected key 'bogus' in 'bogus=1'"],
    ['type="bind', 'failed to parse csv mounts: parse error on line 1, column 6: bare " in non-quoted field'],
    ['', 'failed to parse csv mounts: EOF'],
  ];
  for (const [raw, msg] of bad) {
    it(`rejects ${JSON.stringify(raw)}`, () => {
      assert.throws(() => parseMount(raw), (e: Error) => {
        assert.ok(isStagecraftError(e));
        assert.equal(e.message, msg);
        return true;
      });
    });
  }
  it('expands every value before interpreting it', () => {
    const env: Record<string, string> = { T: 'secret', ID: 'x' };
    const expand = (s: string) => s.replace(/\$(\w+)/g, (_, k: string) => env[k] ?? '');
    assert.deepEqual(parseMount('type=$T,id=$ID', expand), { type: 'secret', id: 'x', target: '/run/secrets/x', required: false, readonly: true });
  });
});

describe('Go durations', () => {
  const parsed: Array<[string, number]> = [
    ['0', 0], ['1ns', 1], ['1.5s', 1.5e9], ['1m30s', 90e9], ['2h', 7200e9], ['100ms', 1e8], ['1us', 1000], ['1µs', 1000],
    ['-1s', -1e9], ['+5m', 300e9], ['.5s', 5e8], ['1h2m3.004s', 3723004000000],
  ];
  for (const [text, ns] of parsed) it(`parses ${text}`, () => assert.equal(parseGoDuration(text), ns));
  for (const bad of ['', '1', '.s', 's', '1x', '--1s', '1.2.3s']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseGoDuration(bad), /^Error: time: /));
  }
  const formatted: Array<[number, string]> = [
    [0, '0s'], [1, '1ns'], [1500, '1.5µs'], [1e8, '100ms'], [1e9, '1s'], [90e9, '1m30s'], [3600e9, '1h0m0s'], [1.5e9, '1.5s'],
    [10e9, '10s'], [3e9, '3s'],
  ];
  for (const [ns, text] of formatted) it(`formats ${ns} as ${text}`, () => assert.equal(formatGoDuration(ns), text));
  it('round-trips (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 52 }), (ns) => parseGoDuration(formatGoDuration(ns)) === ns));
  });
});

describe('heredoc words', () => {
  const table: Array<[string, ReturnType<typeof parseHeredocWord>]> = [
    ['<<EOF', { name: 'EOF', chomp: false, expand: true, fileDescriptor: 0 }],
    ['<<-EOF', { name: 'EOF', chomp: true, expand: true, fileDescriptor: 0 }],
    ["<<'EOF'", { name: 'EOF', chomp: false, expand: false, fileDescriptor: 0 }],
    ['<<"EOF"', { name: 'EOF', chomp: false, expand: false, fileDescriptor: 0 }],
    ['<<E"O"F', { name: 'EOF', chomp: false, expand: false, fileDescriptor: 0 }],
    ['3<<EOF', { name: 'EOF', chomp: false, expand: true, fileDescriptor: 3 }],
    ['<<', undefined], ['EOF', undefined], ['<<EOF foo', undefined], ['<<<EOF', undefined], ['a<<EOF', undefined],
  ];
  for (const [word, want] of table) it(JSON.stringify(word), () => assert.deepEqual(parseHeredocWord(word), want));
  it('chomp strips leading tabs only', () => assert.equal(chompHeredocContent('\t\ta\n  b\n\tc\t\n'), 'a\n  b\nc\t\n'));
});

describe('BFlags and CSV (properties)', () => {
  it('a string flag returns exactly the text after the first =', () => {
    fc.assert(fc.property(fc.string(), (value) => {
      const bf = new BFlags([`--name=${value}`]);
      const f = bf.addString('name', 'default');
      bf.parse();
      return f.value === value;
    }));
  });
  it('a strings flag collects every value in order', () => {
    fc.assert(fc.property(fc.array(fc.string()), (values) => {
      const bf = new BFlags(values.map((v) => `--exclude=${v}`));
      const f = bf.addStrings('exclude');
      bf.parse();
      assert.deepEqual(f.values, values);
    }));
  });
  it('CSV fields without quotes, commas or newlines split back exactly; quoted fields round-trip', () => {
    const field = fc.string().filter((s) => !/[",\r\n]/.test(s));
    fc.assert(fc.property(fc.array(field, { minLength: 1 }), (fields) => {
      if (fields.length === 1 && fields[0] === '') return;
      assert.deepEqual(splitCsvRecord(fields.join(',')), fields);
    }));
    const any = fc.string().filter((s) => !/[\r\n]/.test(s));
    fc.assert(fc.property(fc.array(any, { minLength: 1 }), (fields) => {
      assert.deepEqual(splitCsvRecord(fields.map((f) => `"${f.replaceAll('"', '""')}"`).join(',')), fields);
    }));
  });
});

describe('robustness (properties)', () => {
  const keywords = ['FROM', 'RUN', 'CMD', 'ENTRYPOINT', 'ENV', 'ARG', 'LABEL', 'COPY', 'ADD', 'WORKDIR', 'USER', 'EXPOSE',
    'VOLUME', 'SHELL', 'HEALTHCHECK', 'STOPSIGNAL', 'MAINTAINER', 'ONBUILD', 'BOGUS'];
  const flagNames = ['mount', 'network', 'security', 'device', 'from', 'chown', 'chmod', 'link', 'parents', 'exclude',
    'checksum', 'keep-git-dir', 'unpack', 'platform', 'interval', 'timeout', 'start-period', 'start-interval', 'retries', 'x'];
  const word = fc.oneof(fc.string(), fc.constantFrom('AS', 'CMD', 'NONE', '<<EOF', 'http://h/x', '=', ''));
  const flag = fc.tuple(fc.constantFrom(...flagNames), fc.option(fc.string(), { nil: undefined }))
    .map(([n, v]) => (v === undefined ? `--${n}` : `--${n}=${v}`));

  it('parseInstruction returns the node\'s kind or a located StagecraftError, never anything else', () => {
    fc.assert(fc.property(
      fc.constantFrom(...keywords), fc.array(word, { maxLength: 5 }), fc.array(flag, { maxLength: 3 }), fc.boolean(),
      (kw, args, flags, json) => {
        const n = kw === 'ONBUILD' ? onbuild(node('RUN', args), 7) : node(kw, args, { flags, json, line: 7 });
        try {
          const i = parseInstruction(n);
          assert.equal(i.kind, kw.toLowerCase());
          assert.deepEqual(i.location, { startLine: 7, endLine: 7 });
        } catch (e) {
          assert.ok(isStagecraftError(e), String(e));
          assert.ok(e.location, 'location is always set');
          assert.notEqual(e.code, 'INTERNAL');
        }
      },
    ), { numRuns: 2000 });
  });

  it('parseMount accepts or rejects any text with a StagecraftError', () => {
    const field = fc.oneof(
      fc.string(),
      fc.tuple(fc.constantFrom('type', 'target', 'source', 'from', 'id', 'sharing', 'mode', 'uid', 'gid', 'size', 'env', 'required', 'ro', 'rw'),
        fc.oneof(fc.string(), fc.constantFrom('cache', 'bind', 'tmpfs', 'secret', 'ssh', 'true', '0755', '1m', 'locked')))
        .map(([k, v]) => `${k}=${v}`),
    );
    fc.assert(fc.property(fc.array(field, { minLength: 1, maxLength: 6 }), (fields) => {
      try {
        const m = parseMount(fields.join(','));
        assert.ok(['bind', 'cache', 'tmpfs', 'secret', 'ssh'].includes(m.type));
      } catch (e) {
        assert.ok(isStagecraftError(e), String(e));
        assert.equal(e.code, 'INSTRUCTION');
      }
    }), { numRuns: 2000 });
  });
});
