/**
 * Property tests: the parser fails only with StagecraftError, its results are
 * well-formed, and print() writes ASTs that parse back to the same AST.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Heredoc, Node } from '../../src/dockerfile/ast.js';
import { dump, newNode, nodeList, parse, print, semanticallyEqual } from '../../src/dockerfile/parser/index.js';
import { StagecraftError } from '../../src/errors.js';

const tokens = [
  'FROM ', 'RUN ', 'COPY ', 'ADD ', 'ENV ', 'LABEL ', 'ARG ', 'ONBUILD ', 'HEALTHCHECK ', 'CMD ', 'ENTRYPOINT ',
  'MAINTAINER ', 'VOLUME ', 'USER ', 'EXPOSE ', 'WORKDIR ', 'SHELL ', 'STOPSIGNAL ', 'run ', 'From ', 'FOO ',
  'x', 'abc', '/tmp', 'a=b', '=', ' ', '  ', '\t', '\v', '\\', '`', '\n', '\n', '\n', '\r\n', '\r',
  '<<EOF', '<<-EOF', '<< EOF', '3<<EOF', "<<'EOF'", '<<"EOF"', 'EOF', '\tEOF', '<<', '<', "'", '"', '#', '# ',
  '# escape=`', '# escape=\\', '#escape=x', '# syntax=docker/dockerfile:1', '# check=skip=all', '#!/bin/sh',
  '[', ']', ',', '["a", "b"]', '[1]', '[]', '--mount=type=cache', '--from=a', '--', '-', '$', '${', '}', ':-',
  '\ufeff', '\u00a0', '\u0085', 'é', 'Å', '💥', '1', '{', '"syntax": "x"}', 'CMD', 'NONE',
];

const dockerfileish = fc.array(fc.constantFrom(...tokens), { maxLength: 60 }).map((t) => t.join(''));
const anyText = fc.oneof(dockerfileish, fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 200 }));

function walk(n: Node, f: (n: Node) => void): void {
  const stack = [n];
  while (stack.length > 0) {
    const x = stack.pop()!;
    f(x);
    stack.push(...x.children);
    for (let c = x.next; c; c = c.next) stack.push(c);
  }
}

describe('parser properties', () => {
  it('throws nothing but StagecraftError(PARSE) on any text, and returns well-formed ASTs', () => {
    let parsed = 0;
    let failed = 0;
    fc.assert(
      fc.property(anyText, fc.boolean(), (text, asBytes) => {
        let result;
        try {
          result = parse(asBytes ? new TextEncoder().encode(text) : text, { file: 'Dockerfile' });
        } catch (e) {
          assert.ok(e instanceof StagecraftError, `non-StagecraftError: ${String(e)}`);
          assert.equal(e.code, 'PARSE');
          assert.ok(e.location && e.location.startLine >= 1 && e.location.endLine >= e.location.startLine);
          failed++;
          return;
        }
        parsed++;
        const { ast } = result;
        assert.ok(ast.children.length > 0);
        let prevEnd = 0;
        for (const c of ast.children) {
          assert.ok(c.startLine > prevEnd && c.endLine >= c.startLine, 'lines ascend');
          prevEnd = c.endLine;
          assert.match(c.value, /^[^A-Z]*$/u, 'keyword lowercased');
          assert.ok(!c.original.includes('\n'));
        }
        assert.deepEqual([ast.startLine, ast.endLine], [ast.children[0]!.startLine, prevEnd]);
        walk(ast, (n) => assert.equal(typeof n.value, 'string'));
        assert.equal(typeof dump(ast), 'string');
      }),
      { numRuns: 3000 },
    );
    console.log(`parser property (only StagecraftError): 3000 runs, ${parsed} parsed, ${failed} rejected`);
    assert.ok(parsed > 300, 'the generators reach successful parses');
  });

  it('reads a string and its UTF-8 bytes the same way', () => {
    const noSurrogates = (s: string) => !/\p{Cs}/u.test(s);
    fc.assert(
      fc.property(anyText.filter(noSurrogates), (text) => {
        const outcome = (input: string | Uint8Array) => {
          try {
            const r = parse(input);
            return { dump: dump(r.ast), warnings: r.warnings, directives: r.directives };
          } catch (e) {
            return { error: (e as Error).message };
          }
        };
        assert.deepEqual(outcome(new TextEncoder().encode(text)), outcome(text));
      }),
      { numRuns: 1000 },
    );
    console.log('parser property (string and bytes agree): 1000 runs');
  });

  it('parse(print(ast)) equals ast for ASTs parsed from generated text', () => {
    let checked = 0;
    fc.assert(
      fc.property(dockerfileish, (text) => {
        let r;
        try {
          r = parse(text);
        } catch {
          return;
        }
        checked++;
        const printed = print(r.ast, r.escapeToken);
        const back = parse(printed);
        assert.ok(semanticallyEqual(back.ast, r.ast), `print did not round-trip:\n${text}\n--- printed\n${printed}`);
        assert.equal(dump(back.ast), dump(r.ast));
        assert.equal(back.escapeToken, r.escapeToken);
        assert.deepEqual(
          back.ast.children.map((c) => c.prevComment),
          r.ast.children.map((c) => c.prevComment),
        );
      }),
      { numRuns: 3000 },
    );
    console.log(`parser property (print round-trip, parsed ASTs): ${checked} ASTs checked`);
    assert.ok(checked > 300);
  });

  it('parse(print(ast)) equals ast for generated ASTs', () => {
    const noSurrogates = (s: string) => !/\p{Cs}/u.test(s);
    const str = fc.string({ unit: 'binary', maxLength: 12 }).filter(noSurrogates);
    const word = fc.stringMatching(/^[a-zA-Z0-9_./:-]{1,8}$/).filter((w) => !w.startsWith('--'));
    // Flags hold one character per UTF-8 byte of what was written.
    const flag = fc
      .tuple(fc.stringMatching(/^[a-z]{1,6}$/), str.filter((v) => !v.includes('\n')))
      .map(([k, v]) => '--' + k + '=' + String.fromCharCode(...new TextEncoder().encode(v)));
    const flags = fc.array(flag, { maxLength: 2 });
    const jsonForm = fc.tuple(
      fc.constantFrom('run', 'cmd', 'entrypoint', 'shell', 'copy', 'add', 'volume'),
      flags,
      fc.array(str, { maxLength: 4 }),
    ).map(([kw, fl, values]) => {
      const n = newNode(kw, nodeList(values));
      n.flags = fl;
      n.attributes = { json: true };
      return n;
    });
    const list = fc.tuple(fc.constantFrom('from', 'expose', 'copy', 'add', 'volume'), fc.array(word, { minLength: 1, maxLength: 4 }))
      .map(([kw, values]) => newNode(kw, nodeList(values)));
    const env = fc.tuple(fc.constantFrom('env', 'label'), fc.array(fc.tuple(word.filter((w) => !w.includes('=')), word), { minLength: 1, maxLength: 3 }))
      .map(([kw, pairs]) => newNode(kw, nodeList(pairs.flatMap(([k, v]) => [k, v, '=']))));
    const heredocName = fc.stringMatching(/^[A-Z]{1,5}$/);
    const bodyLine = fc.string({ unit: 'binary', maxLength: 10 }).filter((s) => noSurrogates(s) && !/[\n]/.test(s));
    const heredocRun = fc.tuple(heredocName, fc.boolean(), fc.array(bodyLine, { maxLength: 3 })).map(([name, chomp, lines]) => {
      const content = lines.filter((l) => (chomp ? l.replace(/^\t+/, '') : l).replace(/[\r\n]+$/, '') !== name).map((l) => l + '\n').join('');
      const n = newNode('run', newNode(`${chomp ? '<<-' : '<<'}${name} sh`));
      const h: Heredoc = { name, fileDescriptor: 0, expand: true, chomp, content };
      n.heredocs = [h];
      return n;
    });
    const onbuild = jsonForm.map((child) => {
      const holder = newNode('');
      holder.children = [child];
      return newNode('onbuild', holder);
    });
    const instruction = fc.oneof(jsonForm, list, env, heredocRun, onbuild);
    let checked = 0;
    fc.assert(
      fc.property(fc.array(instruction, { minLength: 1, maxLength: 5 }), fc.constantFrom<'\\' | '`'>('\\', '`'), (children, escape) => {
        const root = newNode('');
        root.children = children;
        const printed = print(root, escape);
        const back = parse(printed);
        checked++;
        assert.ok(semanticallyEqual(back.ast, root), `print did not round-trip:\n${printed}`);
      }),
      { numRuns: 1500 },
    );
    console.log(`parser property (print round-trip, generated ASTs): ${checked} ASTs checked`);
  });
});
