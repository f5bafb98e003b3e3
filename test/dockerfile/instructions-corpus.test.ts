/**
 * BuildKit's instruction-parsing test tables (derived/instructions/instruction_cases.json)
 * plus the EXPOSE port-spec tables from derived/dockerfile2llb/convert_cases.json.
 * Sections that start from Dockerfile text use the real parser.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { Node } from '../../src/dockerfile/ast.js';
import { parse } from '../../src/dockerfile/parser/index.js';
import { readdirSync } from 'node:fs';
import {
  BFlags, buildkitErrorText, handleJSONArgs, parseDevice, parseExposePorts, parseInstruction, parseStages,
  type Flag, type Instruction,
} from '../../src/dockerfile/instructions/index.js';
import { isStagecraftError } from '../../src/errors.js';
import { conformancePath, corpusMissing } from '../support/conformance.js';

const INSTR = ['buildkit', 'derived', 'instructions', 'instruction_cases.json'];
const CONVERT = ['buildkit', 'derived', 'dockerfile2llb', 'convert_cases.json'];
const LINT = ['buildkit', 'derived', 'linter', 'lint_cases.json'];
const FIXTURES = ['buildkit', 'frontend', 'dockerfile', 'parser', 'testfiles'];
const skip = corpusMissing(...INSTR) || corpusMissing(...CONVERT) || corpusMissing(...LINT) || corpusMissing(...FIXTURES);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const data: any = skip ? {} : JSON.parse(readFileSync(conformancePath(...INSTR), 'utf8'));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const convert: any = skip ? {} : JSON.parse(readFileSync(conformancePath(...CONVERT), 'utf8'));

let passed = 0;
let total = 0;
/** Registers one corpus case: counted, and a failure fails the suite. */
function corpusCase(name: string, fn: () => void): void {
  total++;
  it(name, () => {
    fn();
    passed++;
  });
}
after(() => {
  console.log(`instruction corpus: ${passed}/${total} passed`);
});

/** A hand-built instruction node, as BuildKit's tests build them. */
function handNode(value: string, args: string[], json = false, flags: string[] = []): Node {
  let next: Node | null = null;
  for (let i = args.length - 1; i >= 0; i--) {
    next = { value: args[i]!, next, children: [], heredocs: [], attributes: {}, original: '', flags: [], startLine: 0, endLine: 0, prevComment: [] };
  }
  return {
    value, next, children: [], heredocs: [], attributes: json ? { json: true } : {},
    original: [value.toUpperCase(), ...flags, ...args].join(' '), flags, startLine: 1, endLine: 1, prevComment: [],
  };
}

/** Parses Dockerfile text and returns its instruction nodes. */
function nodes(dockerfile: string): Node[] {
  return parse(dockerfile).ast.children;
}

function only(dockerfile: string): Instruction {
  const all = nodes(dockerfile);
  assert.equal(all.length, 1, 'expected one instruction');
  return parseInstruction(all[0]!);
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    assert.ok(isStagecraftError(e), `expected a StagecraftError, got ${String(e)}`);
    assert.ok(e.location, 'error must carry a location');
    return e;
  }
  assert.fail('expected an error');
}

describe('instruction_cases.json', { skip }, () => {
  describe('errorCases_containsMessage', () => {
    for (const c of data.errorCases_containsMessage ?? []) {
      corpusCase(`${c.name}: ${JSON.stringify(c.dockerfile)}`, () => {
        const e = errorOf(() => nodes(c.dockerfile).map(parseInstruction));
        assert.ok(e.message.includes(c.errorContains), `"${e.message}" should contain "${c.errorContains}"`);
      });
    }
  });

  const argErrors: Array<[string, (cmd: string) => Node]> = [
    ['exactlyOneArgument', (cmd) => handNode(cmd.toLowerCase(), [])],
    ['atLeastOneArgument', (cmd) => handNode(cmd.toLowerCase(), [])],
    ['noDestination', (cmd) => handNode(cmd.toLowerCase(), ['arg1'])],
    ['tooManyArguments', (cmd) => handNode(cmd.toLowerCase(), ['arg1', 'arg2', 'arg3', ''])],
    ['blankNames', (cmd) => handNode(cmd.toLowerCase(), ['', 'arg2', '='])],
  ];
  for (const [section, build] of argErrors) {
    describe(section, () => {
      const s = data[section] ?? { commands: [] };
      for (const cmd of s.commands as string[]) {
        corpusCase(`${cmd}`, () => {
          const e = errorOf(() => parseInstruction(build(cmd)));
          assert.equal(e.message, (s.errorEquals as string).replaceAll('<CMD>', cmd));
        });
      }
    });
  }

  describe('healthcheck', () => {
    corpusCase('healthcheckShellForm', () => {
      const i = parseInstruction(handNode('healthcheck', ['CMD', 'hello world']));
      assert.equal(i.kind, 'healthcheck');
      assert.deepEqual(i.kind === 'healthcheck' && i.health.test, data.healthcheckShellForm.expectedTest);
    });
    for (const c of data.healthcheckInterval ?? []) {
      corpusCase(`--interval=${c.value}`, () => {
        const node = handNode('healthcheck', ['CMD', 'true'], false, [`--interval=${c.value}`]);
        if (c.ok) {
          const i = parseInstruction(node);
          assert.equal(i.kind, 'healthcheck');
        } else {
          const e = errorOf(() => parseInstruction(node));
          assert.ok(e.message.includes(c.errorContains), e.message);
        }
      });
    }
  });

  describe('runFlagsUsed', () => {
    corpusCase(data.runFlagsUsed?.dockerfile ?? 'runFlagsUsed', () => {
      const i = only(data.runFlagsUsed.dockerfile);
      assert.equal(i.kind, 'run');
      assert.deepEqual(i.flagsUsed, data.runFlagsUsed.flagsUsed);
    });
  });

  describe('docComments', () => {
    corpusCase('doc comments on stages and ARGs', () => {
      const { metaArgs, stages } = parseStages(parse(data.docComments.dockerfile).ast);
      const expected = data.docComments.expected as Record<string, string>;
      const stageArgs = stages[0]!.commands.flatMap((c) => (c.kind === 'arg' ? c.args : []));
      const metaArg = (k: string) => metaArgs.flatMap((a) => a.args).find((a) => a.key === k)?.comment;
      const stageArg = (k: string) => stageArgs.find((a) => a.key === k)?.comment;
      assert.equal(stages[0]!.from.comment, expected['stage0.DocComment']);
      assert.equal(metaArg('foo'), expected['metaArg foo']);
      assert.equal(stageArg('foo'), expected['stage ARG foo']);
      assert.equal(stageArg('bar'), expected['stage ARG bar']);
      assert.equal(stageArg('baz'), expected['stage ARG baz']);
    });
  });

  describe('copyHeredoc', () => {
    for (const c of data.copyHeredoc ?? []) {
      corpusCase(JSON.stringify(c.dockerfile), () => {
        const i = only(c.dockerfile);
        assert.equal(i.kind, 'copy');
        if (i.kind !== 'copy') return;
        assert.deepEqual(
          { destPath: i.destPath, sourcePaths: i.sourcePaths, sourceContents: i.sourceContents },
          c.expected,
        );
      });
    }
  });

  describe('runHeredoc', () => {
    for (const c of data.runHeredoc ?? []) {
      corpusCase(JSON.stringify(c.dockerfile), () => {
        const i = only(c.dockerfile);
        assert.equal(i.kind, 'run');
        if (i.kind !== 'run') return;
        assert.equal(i.prependShell, c.prependShell);
        assert.deepEqual(i.cmdLine, c.cmdLine);
        assert.deepEqual(i.files.map((f) => ({ name: f.name, data: f.data, chomp: f.chomp })), c.files);
      });
    }
  });

  describe('parseDevice', () => {
    for (const c of data.parseDevice ?? []) {
      corpusCase(c.input, () => {
        if (c.error) {
          assert.throws(() => parseDevice(c.input), (e: Error) => e.message === c.error);
        } else {
          assert.deepEqual(parseDevice(c.input), c.expected);
        }
      });
    }
  });

  describe('handleJSONArgs', () => {
    for (const c of data.handleJSONArgs ?? []) {
      corpusCase(`${JSON.stringify(c.args)} json=${c.json}`, () => {
        assert.deepEqual(handleJSONArgs(c.args, c.json), c.expected);
      });
    }
  });

  describe('builderFlags', () => {
    (data.builderFlags ?? []).forEach((c: {
      flags: Record<string, string | boolean>; args: string[]; ok: boolean;
      values?: Record<string, string | boolean>; used?: string[];
    }, n: number) => {
      corpusCase(`#${n} ${JSON.stringify(c.args)}`, () => {
        const bf = new BFlags(c.args);
        const declared = new Map<string, Flag>();
        for (const [name, def] of Object.entries(c.flags)) {
          declared.set(name, typeof def === 'boolean' ? bf.addBool(name, def) : bf.addString(name, def));
        }
        if (!c.ok) {
          assert.throws(() => bf.parse());
          return;
        }
        bf.parse();
        for (const [name, want] of Object.entries(c.values ?? {})) {
          const got = declared.get(name)!.value;
          assert.equal(got, typeof want === 'boolean' ? String(want) : want, `flag ${name}`);
        }
        if (c.used) assert.deepEqual([...bf.used()].sort(), [...c.used].sort());
      });
    });
  });
});

describe('convert_cases.json EXPOSE port specs', { skip }, () => {
  for (const c of convert.exposePortErrors ?? []) {
    corpusCase(`error ${JSON.stringify(c.spec)}`, () => {
      assert.throws(() => parseExposePorts([c.spec]), (e: Error) => e.message === c.error);
    });
  }
  for (const c of convert.exposePortIPv6 ?? []) {
    corpusCase(`ipv6 ${c.spec}`, () => {
      assert.deepEqual(parseExposePorts([c.spec]), c.expected);
    });
  }
  for (const c of convert.exposePorts ?? []) {
    corpusCase(`${c.specs.join(' ')}`, () => {
      if (c.error) assert.throws(() => parseExposePorts(c.specs));
      else assert.deepEqual(parseExposePorts(c.specs), c.expected);
    });
  }
});

describe('convert_cases.json COPY of a URL', { skip }, () => {
  for (const c of (convert.convert ?? []).filter((x: { errorEquals?: string }) => x.errorEquals?.includes('URL'))) {
    corpusCase(JSON.stringify(c.dockerfile), () => {
      const e = errorOf(() => parseStages(parse(c.dockerfile).ast));
      assert.equal(e.message, c.errorEquals);
    });
  }
});

describe('convert_cases.json Dockerfiles parse into stages', { skip }, () => {
  // Conversion errors (circular stages, unknown target, blank base) belong to
  // the planner; parsing must succeed for all but the COPY-URL case.
  for (const c of (convert.convert ?? []).filter((x: { errorEquals?: string }) => !x.errorEquals?.includes('URL'))) {
    corpusCase(JSON.stringify(c.dockerfile).slice(0, 70), () => {
      const { stages } = parseStages(parse(c.dockerfile).ast);
      assert.ok(stages.length >= 1);
    });
  }
});

describe('lint_cases.json Dockerfiles parse into stages', { skip }, () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const lint: any = skip ? { cases: [] } : JSON.parse(readFileSync(conformancePath(...LINT), 'utf8'));
  for (const c of lint.cases as Array<{ test: string; index: number; dockerfile?: string; buildErr?: string; unresolved?: string }>) {
    if (typeof c.dockerfile !== 'string') {
      console.log(`not applicable: lint case ${c.test}#${c.index} has no Dockerfile text (${c.unresolved ?? 'unresolved'})`);
      continue;
    }
    const dockerfile = c.dockerfile;
    corpusCase(`${c.test}#${c.index}`, () => {
      const run = () => parseStages(parse(dockerfile).ast);
      if (c.buildErr?.startsWith('dockerfile parse error')) {
        const e = errorOf(run);
        assert.ok(isStagecraftError(e));
        assert.equal(buildkitErrorText(e), c.buildErr);
      } else {
        run();
      }
    });
  }
});

describe('parser fixtures through instructions', { skip }, () => {
  // The parser fixtures are syntax tests; a few are not valid instructions.
  const expectedErrors: Record<string, string> = {
    flags: 'unknown flag: --user',
    health: 'HEALTHCHECK requires at least one argument',
    json: 'no build stage in current context',
    'jeztah-invalid-json-json-inside-string': 'no build stage in current context',
    'jeztah-invalid-json-json-inside-string-double': 'no build stage in current context',
    'jeztah-invalid-json-single-quotes': 'no build stage in current context',
    'jeztah-invalid-json-unterminated-bracket': 'no build stage in current context',
    'jeztah-invalid-json-unterminated-string': 'no build stage in current context',
  };
  const dirs = skip ? [] : readdirSync(conformancePath(...FIXTURES));
  for (const dir of dirs) {
    corpusCase(dir, () => {
      const text = readFileSync(conformancePath(...FIXTURES, dir, 'Dockerfile'));
      const run = () => parseStages(parse(text).ast);
      const want = expectedErrors[dir];
      if (want === undefined) {
        assert.ok(run().stages.length >= 1);
      } else {
        assert.equal(errorOf(run).message, want);
      }
    });
  }
});
