/**
 * examples/go-app: a Go program compiled in golang:bookworm, offline, into a
 * static binary that runs in busybox (which has no C library at all). Needs
 * root, runc, docker-registry and skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cliBuild } from '../support/cli.js';
import { existsIn, runImage, withRootfs } from '../support/oci-run.js';
import { buildSkipReason, buildWithEvents, MB, openBuildEnv, REPO, steps, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const EXAMPLE = join(REPO, 'examples', 'go-app');
const skip = buildSkipReason();
const tally = new Tally('build go', 1);

/** Whether an ELF file asks for a dynamic loader (has a PT_INTERP program header). */
function hasInterpreter(elf: Buffer): boolean {
  assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF', 'not an ELF file');
  assert.equal(elf[4], 2, 'expected a 64-bit ELF');
  const le = elf[5] === 1;
  const u16 = (o: number): number => (le ? elf.readUInt16LE(o) : elf.readUInt16BE(o));
  const u32 = (o: number): number => (le ? elf.readUInt32LE(o) : elf.readUInt32BE(o));
  const phoff = Number(le ? elf.readBigUInt64LE(0x20) : elf.readBigUInt64BE(0x20));
  const phentsize = u16(0x36);
  const phnum = u16(0x38);
  for (let i = 0; i < phnum; i++) if (u32(phoff + i * phentsize) === 3) return true;
  return false;
}

describe('multi-stage Go build', { skip }, () => {
  let env: BuildEnv;

  before(async () => {
    env = await openBuildEnv(['golang:bookworm', 'busybox:latest']);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('a static binary built in golang:bookworm runs in busybox, and the final image is tiny', async () => {
    const { result, events } = await buildWithEvents({ context: EXAMPLE, tags: ['hello-go:1'], buildArgs: { REGISTRY: env.host }, root: env.root });
    const goBuild = steps(events).find((s) => s.name.startsWith('RUN go build'));
    assert.ok(goBuild && goBuild.cached === false && goBuild.stage === 'build');
    const tag = result.tags[0]!;

    const run = await runImage(env.root, tag);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.deepEqual(run.args, ['/usr/local/bin/hello']);
    assert.match(run.stdout, /^hello, multi-stage \(built with go1\.\d+(\.\d+)? for linux\/\w+, uid 1000\)\n$/);
    const other = await runImage(env.root, tag, { args: ['from', 'a', 'test'] });
    assert.match(other.stdout, /^hello, from a test /);

    await withRootfs(env.root, tag, async (fs) => {
      const bin = await readFile(join(fs, 'usr/local/bin/hello'));
      assert.equal(hasInterpreter(bin), false, 'the binary is statically linked');
      assert.equal(await existsIn(fs, '/usr/bin/go'), false);
      assert.equal(await existsIn(fs, '/usr/lib/go'), false);
      assert.equal(await existsIn(fs, '/src/main.go'), false, 'sources stay in the builder');
    });

    const builder = result.stages.find((s) => s.name === 'build')!;
    const final = result.stages.find((s) => s.name === 'runner')!;
    assert.ok(builder && final, `stages: ${result.stages.map((s) => s.name).join(', ')}`);
    console.log(`build go: builder ${(builder.size / MB).toFixed(1)} MB, final ${(final.size / MB).toFixed(2)} MB`);
    assert.ok(final.size < 10 * MB, `final image ${final.size} bytes, expected < 10 MB`);
    assert.ok(builder.size > 100 * MB, `builder ${builder.size} bytes`);

    // docker build -q: the image ID on stdout and no step output (the size summary stays, on stderr).
    const quiet = await cliBuild(EXAMPLE, ['-q', '-t', 'hello-go:1', '--build-arg', `REGISTRY=${env.host}`], { root: env.root });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, `${result.configDigest}\n`);
    assert.doesNotMatch(quiet.stderr, /go build|CACHED|DONE/);
    assert.match(quiet.stderr, /^Final image hello-go:1: /m);
    tally.pass();
  });
});
