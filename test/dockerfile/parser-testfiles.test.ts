/**
 * BuildKit's parser fixtures: testfiles (dump equality), testfiles-negative
 * (must fail) and testfile-line (line ranges).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { conformancePath, corpusMissing } from '../support/conformance.js';
import { dump, parse } from '../../src/dockerfile/parser/index.js';
import { StagecraftError } from '../../src/errors.js';

const parserDir = ['buildkit', 'frontend', 'dockerfile', 'parser'];

describe('parser testfiles (BuildKit fixtures)', { skip: corpusMissing(...parserDir, 'testfiles') }, () => {
  it('dump(ast) + "\\n" equals result for every case', () => {
    const dir = conformancePath(...parserDir, 'testfiles');
    const names = readdirSync(dir).sort();
    const failures: string[] = [];
    for (const name of names) {
      const df = readFileSync(join(dir, name, 'Dockerfile'));
      const want = readFileSync(join(dir, name, 'result'), 'utf8');
      try {
        const got = dump(parse(new Uint8Array(df)).ast) + '\n';
        if (got !== want) failures.push(`${name}:\n--- want\n${want}--- got\n${got}`);
      } catch (e) {
        failures.push(`${name}: threw ${(e as Error).message}`);
      }
    }
    console.log(`parser testfiles: ${names.length - failures.length}/${names.length} passed`);
    assert.equal(names.length, 33, 'expected 33 fixtures');
    assert.deepEqual(failures, []);
  });
});

describe('parser testfiles-negative', { skip: corpusMissing(...parserDir, 'testfiles-negative') }, () => {
  it('every case fails with a StagecraftError', () => {
    const dir = conformancePath(...parserDir, 'testfiles-negative');
    const names = readdirSync(dir).sort();
    const failures: string[] = [];
    for (const name of names) {
      const df = readFileSync(join(dir, name, 'Dockerfile'));
      try {
        parse(new Uint8Array(df), { file: `${name}/Dockerfile` });
        failures.push(`${name}: parsed without error`);
      } catch (e) {
        if (!(e instanceof StagecraftError) || e.code !== 'PARSE') failures.push(`${name}: wrong error ${String(e)}`);
        else if (!e.location || e.location.startLine < 1) failures.push(`${name}: no location`);
      }
    }
    console.log(`parser testfiles-negative: ${names.length - failures.length}/${names.length} passed`);
    assert.equal(names.length, 4);
    assert.deepEqual(failures, []);
  });
});

describe('parser testfile-line', { skip: corpusMissing(...parserDir, 'testfile-line') }, () => {
  it('AST spans 5-31 and children [5,5] [11,12] [17,31]', () => {
    const df = readFileSync(conformancePath(...parserDir, 'testfile-line', 'Dockerfile'));
    const { ast } = parse(new Uint8Array(df));
    assert.deepEqual([ast.startLine, ast.endLine], [5, 31]);
    assert.deepEqual(
      ast.children.map((c) => [c.startLine, c.endLine]),
      [
        [5, 5],
        [11, 12],
        [17, 31],
      ],
    );
    console.log('parser testfile-line: 1/1 passed');
  });
});
