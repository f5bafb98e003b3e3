/** Properties of lint over generated Dockerfiles: never crashes, warnings well-formed, skip=all silences. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { lint } from '../src/lint/index.js';
import { StagecraftError } from '../src/errors.js';

const names = fc.constantFrom('base', 'Build', 'scratch', 'b1', 'final', 'linux', 'x');
const vars = fc.constantFrom('FOO', 'foo', 'PATH', 'PAHT', 'TARGETPLATFORM', 'SECRET_TOKEN', 'public_key', 'V');
const images = fc.constantFrom('scratch', 'alpine', 'python:3.10-slim', 'python:3.11-alpine', 'busybox:$V', '$IMG', 'base', 'Build');
const line = fc.oneof(
  fc.tuple(images, fc.option(names), fc.constantFrom('AS', 'as', 'As'), fc.option(fc.constantFrom('linux/amd64', '$BUILDPLATFORM', '$TARGETPLATFORM')))
    .map(([img, n, as, p]) => `FROM ${p ? `--platform=${p} ` : ''}${img}${n ? ` ${as} ${n}` : ''}`),
  fc.tuple(vars, fc.option(fc.string({ maxLength: 6 }))).map(([v, d]) => (d === null ? `ARG ${v}` : `ARG ${v}=${JSON.stringify(d)}`)),
  fc.tuple(vars, vars).map(([k, v]) => `ENV ${k}=$${v}`),
  vars.map((k) => `ENV ${k} value`),
  fc.tuple(fc.constantFrom('COPY', 'copy', 'ADD'), vars, fc.option(names)).map(([c, v, n]) => `${c} ${n ? `--from=${n} ` : ''}/src/$${v} /dst/`),
  fc.constantFrom(
    'RUN echo hi', 'CMD echo hi', 'CMD ["a"]', 'ENTRYPOINT run', 'HEALTHCHECK CMD ["x"]', 'WORKDIR app', 'WORKDIR /app',
    'EXPOSE 80/TCP 127.0.0.1:80:80', 'MAINTAINER me', 'SHELL ["/bin/bash", "-c"]', 'LABEL a b', '# comment', '',
    'RUN a \\', 'ONBUILD RUN x', 'USER $FOO',
  ),
);
const dockerfile = fc.array(line, { minLength: 1, maxLength: 14 }).map((ls) => ls.join('\n') + '\n');

let passed = 0;

describe('lint properties', () => {
  it('never throws; warnings are sorted, unique, on real lines', () => {
    fc.assert(
      fc.property(dockerfile, fc.constantFrom('Dockerfile\n', '*\n!x\n', undefined), (text, ignore) => {
        const r = lint({ dockerfile: text, dockerignore: ignore, file: 'Dockerfile' });
        if (r.failed) assert.ok(r.error instanceof StagecraftError);
        const lines = text.split('\n').length;
        const keys = new Set<string>();
        let prev = 0;
        for (const w of r.warnings) {
          assert.ok(w.location.startLine >= 1 && w.location.startLine <= lines, `${w.rule} at ${w.location.startLine}`);
          assert.ok(w.location.startLine >= prev);
          prev = w.location.startLine;
          const k = `${w.rule}|${w.detail}|${w.location.startLine}`;
          assert.ok(!keys.has(k), `duplicate ${k}`);
          keys.add(k);
          assert.ok(w.fix !== '' && !w.fix.includes('\n'));
        }
        assert.deepEqual(lint({ dockerfile: text, dockerignore: ignore, file: 'Dockerfile' }), r, 'deterministic');
      }),
      { numRuns: 400 },
    );
    passed++;
  });

  it('# check=skip=all leaves no warnings', () => {
    fc.assert(
      fc.property(dockerfile, (text) => {
        const r = lint({ dockerfile: `# check=skip=all\n${text}` });
        assert.deepEqual(r.warnings, []);
      }),
      { numRuns: 300 },
    );
    passed++;
  });

  it('summary', () => {
    console.log(`lint properties: ${passed}/2 passed`);
    assert.equal(passed, 2);
  });
});
