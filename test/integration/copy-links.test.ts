/**
 * COPY --from by hardlink (src/fs/copy-links.ts) must be invisible in the
 * result: the same layer entries (paths, types, modes, owners, times, link
 * targets, content) as a real copy, the source stage left exactly as it was,
 * and a later RUN that changes a linked file changing only its own layer.
 * Needs root, runc, docker-registry and skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Store } from '../../src/store/index.js';
import { readTar } from '../../src/tar/reader.js';
import type { Digest } from '../../src/oci/index.js';
import { runImage } from '../support/oci-run.js';
import { buildSkipReason, buildWithEvents, openBuildEnv, steps, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('copy links', 4);

// Everything in /data gets a fixed mtime (directories last), so the COPY layers
// are the same bytes whether the stage is rebuilt or not.
const DOCKERFILE = `ARG REGISTRY
FROM \${REGISTRY}/busybox:latest AS src
RUN mkdir -p /data/sub/deep /data/empty /data/l/y && echo alpha > /data/a && echo beta > /data/sub/b \\
 && head -c 3000000 /dev/zero > /data/sub/big && echo deep > /data/sub/deep/c && echo s > /data/s \\
 && echo x > /data/l/x && echo z > /data/l/y/z \\
 && chmod 0751 /data/sub/b && chmod 4755 /data/sub/deep/c && chown 123:456 /data/a && chown 7:8 /data/sub \\
 && ln -s a /data/link && ln /data/sub/b /data/sub/hard \\
 && touch -h -d '2001-02-03 04:05:06' /data/link \\
 && touch -d '2001-02-03 04:05:06' /data/a /data/s /data/l/x /data/l/y/z /data/sub/b /data/sub/big /data/sub/deep/c \\
 && touch -d '2002-03-04 05:06:07' /data/sub/deep /data/empty /data/l/y /data/l /data/sub /data

FROM \${REGISTRY}/busybox:latest AS final
RUN mkdir /dst && echo old > /dst/a
COPY --from=src /data/sub /fresh
COPY --from=src /data/s /single
COPY --link --from=src /data/l /linked
COPY --from=src /data /dst

FROM final AS changed
RUN echo more >> /fresh/deep/c && chmod 0600 /single

FROM \${REGISTRY}/busybox:latest AS check
COPY --from=src /data /data
COPY --from=changed /fresh/deep/c /changed-c
`;

interface Entry { type: string; mode: number; uid: number; gid: number; mtime: number; size: number; linkname?: string; sha?: string }

async function layerEntries(store: Store, diffId: Digest, ignoreMtimeOf: string[]): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  for await (const e of readTar(await store.layers.layerTar(diffId))) {
    const h = e.header;
    const hash = createHash('sha256');
    for await (const c of e.body) hash.update(c);
    out[h.path] = {
      type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, mtime: ignoreMtimeOf.includes(h.path) ? 0 : Number(h.mtime), size: h.size,
      ...(h.linkname ? { linkname: h.linkname } : {}), ...(h.type === 'file' ? { sha: hash.digest('hex') } : {}),
    };
  }
  return out;
}

async function withoutLinks<T>(fn: () => Promise<T>): Promise<T> {
  process.env.STAGECRAFT_NO_COPY_LINKS = '1';
  try {
    return await fn();
  } finally {
    delete process.env.STAGECRAFT_NO_COPY_LINKS;
  }
}

describe('COPY --from by hardlink', { skip }, () => {
  let env: BuildEnv;
  let ctx: string;

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    ctx = await mkdtemp(join(tmpdir(), 'stagecraft-copy-links-'));
    env.scratch.push(ctx);
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
  });

  after(async () => {
    await env?.close();
    console.log(tally.summary());
  });

  it('gives the same layers as a real copy, and links only where it may', async () => {
    const linkedRoot = join(env.root, 'linked');
    const copiedRoot = join(env.root, 'copied');
    const opts = (root: string) => ({ context: ctx, target: 'final', tags: ['links:final'], buildArgs: { REGISTRY: env.host }, root });
    const linked = await buildWithEvents(opts(linkedRoot));
    const copied = await withoutLinks(() => buildWithEvents(opts(copiedRoot)));
    const a = await Store.open(linkedRoot);
    const b = await Store.open(copiedRoot);
    const la = (await a.resolve(linked.result.tags[0]!)).config.rootfs.diff_ids;
    const lb = (await b.resolve(copied.result.tags[0]!)).config.rootfs.diff_ids;
    assert.equal(la.length, lb.length);
    // busybox, RUN mkdir /dst, then the four COPY layers: the same entries as a real copy, except
    // the times of the top directories, which the COPY made or changed now (in any copy).
    for (let i = 2; i < la.length; i++) {
      assert.deepEqual(await layerEntries(a, la[i]!, ['dst', 'fresh', 'linked']), await layerEntries(b, lb[i]!, ['dst', 'fresh', 'linked']), `layer ${i}`);
    }
    assert.equal(la[3], lb[3], '/single: the same diffId');

    // Linked: files of the source's layer whose other names are all outside the destination's
    // stack; a real copy links nothing. A file linked into a layer of the destination's stack
    // already (/data/sub by /fresh) is copied by the COPY to /dst.
    const layerDir = (s: Store, d: Digest) => s.layers.layerDir(d);
    const nlink = async (p: string) => (await lstat(p)).nlink;
    assert.equal(await nlink(join(layerDir(a, la[2]!), 'fresh/deep/c')), 2, 'in a directory the COPY made: linked after the unmount');
    assert.equal(await nlink(join(layerDir(a, la[2]!), 'fresh/big')), 2, 'a large file too');
    assert.equal(await nlink(join(layerDir(a, la[3]!), 'single')), 2, 'a single file: linked over its placeholder');
    assert.equal(await nlink(join(layerDir(a, la[4]!), 'linked/y/z')), 2, 'COPY --link: linked in place');
    assert.equal(await nlink(join(layerDir(a, la[5]!), 'dst/a')), 2, 'over a file of a lower layer: linked over the placeholder');
    assert.equal(await nlink(join(layerDir(a, la[5]!), 'dst/sub/deep/c')), 1, 'a file with a name in the stack already is copied');
    const fb = await lstat(join(layerDir(a, la[2]!), 'fresh/b'));
    const fh = await lstat(join(layerDir(a, la[2]!), 'fresh/hard'));
    const db = await lstat(join(layerDir(a, la[5]!), 'dst/sub/b'));
    const dh = await lstat(join(layerDir(a, la[5]!), 'dst/sub/hard'));
    assert.equal(fb.ino, fh.ino, 'an in-source hardlink pair is linked and stays a pair');
    assert.equal(fb.nlink, 4, 'the pair in the source and in /fresh');
    assert.equal(db.ino, dh.ino, 'copied, the pair stays a pair');
    assert.notEqual(db.ino, fb.ino);
    assert.equal(db.nlink, 2);
    for (const d of lb.slice(2)) {
      for (const name of await readdir(layerDir(b, d), { recursive: true })) {
        const st = await lstat(join(layerDir(b, d), name));
        if (st.isFile() && !['fresh/b', 'fresh/hard', 'dst/sub/b', 'dst/sub/hard', 'linked/b', 'linked/hard'].includes(name)) assert.equal(st.nlink, 1, `${name} copied`);
      }
    }
    tally.pass();
  });

  it('links a stage again for a new destination chain, never into a stack that has the file already', async () => {
    const root = join(env.root, 'again');
    const opts = (dockerfile: string, tag: string) => ({ context: ctx, dockerfile, target: 'again', tags: [tag], buildArgs: { REGISTRY: env.host }, root });
    await buildWithEvents({ context: ctx, target: 'final', tags: ['links:final'], buildArgs: { REGISTRY: env.host }, root });
    const store = await Store.open(root);
    const variant = async (n: number, tail: string): Promise<Digest[]> => {
      const df = join(ctx, `Dockerfile.again${n}`);
      await writeFile(df, `${DOCKERFILE}
FROM \${REGISTRY}/busybox:latest AS again
RUN mkdir /dst && echo new${n} > /dst/a
${tail}`);
      const { result, events } = await buildWithEvents(opts(df, `links:again${n}`));
      assert.ok(steps(events).filter((s) => s.stage === 'src').every((s) => s.cached), 'the source stage came from the cache');
      return (await store.resolve(result.tags[0]!)).config.rootfs.diff_ids;
    };
    // /data/sub/deep/c has two names now (the source's layer, /fresh of final), neither in this stack.
    // (Another path than /fresh: the same content would be the same layer, kept once.)
    const ids = await variant(1, 'COPY --from=src /data/sub /again\nCOPY --from=src /data/sub/deep/c /again-c\n');
    const c = join(store.layers.layerDir(ids[2]!), 'again/deep/c');
    const orig = await lstat(c);
    assert.equal(orig.nlink, 3, 'linked again: the source, /fresh of final, /again here');
    const second = await lstat(join(store.layers.layerDir(ids[3]!), 'again-c'));
    assert.notEqual(second.ino, orig.ino, 'not a second name for it in the same stack: copied');
    assert.equal(second.nlink, 1);
    const run = await runImage(root, 'docker.io/library/links:again1', { args: ['sh', '-c', 'cat /again/deep/c /again-c; stat -c "%a %u:%g" /again/deep/c /again-c'] });
    assert.equal(run.stdout, 'deep\ndeep\n4755 0:0\n4755 0:0\n', run.stderr);

    // A layer recorded before links were tracked (no linkedFrom): its files are linked only with a single name.
    let stripped = 0;
    for (const name of await readdir(join(root, 'layers'))) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
      const info = JSON.parse(await readFile(join(root, 'layers', name), 'utf8')) as { linkedFrom?: unknown };
      if (!('linkedFrom' in info)) continue;
      delete info.linkedFrom;
      await writeFile(join(root, 'layers', name), JSON.stringify(info));
      stripped++;
    }
    assert.ok(stripped > 0);
    const ids2 = await variant(2, 'COPY --from=src /data/sub /again2\n');
    assert.equal((await lstat(join(store.layers.layerDir(ids2[2]!), 'again2/deep/c'))).nlink, 1, 'untracked: copied');
    tally.pass();
  });

  it('a later RUN that changes a linked file leaves the source stage as it was', async () => {
    const root = join(env.root, 'later');
    await buildWithEvents({ context: ctx, target: 'final', tags: ['links:final'], buildArgs: { REGISTRY: env.host }, root });
    const { result, events } = await buildWithEvents({ context: ctx, target: 'check', tags: ['links:check'], buildArgs: { REGISTRY: env.host }, root });
    assert.ok(steps(events).filter((s) => s.stage === 'src').every((s) => s.cached), 'the source stage came from the cache');
    const run = await runImage(root, result.tags[0]!, { args: ['sh', '-c', 'cat /data/sub/deep/c /changed-c; stat -c "%a %u:%g" /data/a /data/sub/deep/c /data/s'] });
    assert.equal(run.stdout, 'deep\ndeep\nmore\n644 123:456\n4755 0:0\n644 0:0\n', run.stderr);
    tally.pass();
  });

  it('links nothing under --chown or --chmod', async () => {
    const root = join(env.root, 'chown');
    const c2 = await mkdtemp(join(tmpdir(), 'stagecraft-copy-links-'));
    env.scratch.push(c2);
    await writeFile(join(c2, 'Dockerfile'), `${DOCKERFILE.split('\n\nFROM ${REGISTRY}/busybox:latest AS final')[0]}
FROM \${REGISTRY}/busybox:latest
COPY --from=src --chown=5:6 /data /owned
COPY --from=src --chmod=0700 /data /moded
`);
    const { result } = await buildWithEvents({ context: c2, tags: ['links:chown'], buildArgs: { REGISTRY: env.host }, root });
    const s = await Store.open(root);
    const ids = (await s.resolve(result.tags[0]!)).config.rootfs.diff_ids;
    for (const d of ids.slice(-2)) {
      for (const name of await readdir(s.layers.layerDir(d), { recursive: true })) {
        const st = await lstat(join(s.layers.layerDir(d), name));
        if (st.isFile() && !/(^|\/)(b|hard)$/.test(name)) assert.equal(st.nlink, 1, `${name} is a copy`);
      }
    }
    const run = await runImage(root, result.tags[0]!, { args: ['sh', '-c', 'stat -c "%a %u:%g" /owned/a /moded/a'] });
    assert.equal(run.stdout, '644 5:6\n700 123:456\n', run.stderr);
    tally.pass();
  });
});
