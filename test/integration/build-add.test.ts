/**
 * ADD for real: local tar archives (plain, gzip, bzip2, xz, zstd; detected by
 * content) unpacked, --unpack=false; URLs from a node:http server on
 * 127.0.0.1 (file name from the URL, mode 0600, mtime from Last-Modified,
 * --checksum, --unpack=true, cached while the content is unchanged); git
 * repositories served over git's dumb HTTP protocol on 127.0.0.1 (#ref:subdir,
 * --keep-git-dir, --checksum as a commit prefix). Needs root, runc,
 * docker-registry, skopeo, tar, bzip2, xz, zstd and git.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { existsIn, withRootfs } from '../support/oci-run.js';
import { Store } from '../../src/store/index.js';
import { parseSecretFlag, parseSshFlag } from '../../src/build/secrets.js';
import { buildFailure, buildSkipReason, buildWithEvents, openBuildEnv, steps, Tally, type BuildEnv } from '../fixtures/build/fixtures.js';

const skip = buildSkipReason();
const tally = new Tally('build add', 9);

async function contextWith(env: BuildEnv, files: Record<string, string | Buffer>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-add-'));
  env.scratch.push(dir);
  for (const [name, body] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), typeof body === 'string' ? body.split('@REGISTRY@').join(env.host) : body);
  }
  return dir;
}

const sh = (cmd: string, cwd: string): string => execFileSync('sh', ['-c', cmd], { cwd, encoding: 'utf8' });

const PRIVATE_TOKEN = `tok-${Date.now().toString(36)}-private`;

/**
 * git's smart HTTP protocol for the repositories under `projectRoot`: `git http-backend` run as
 * a CGI program for one request (its headers end at the first empty line, `Status:` among them).
 */
function gitHttpBackend(req: IncomingMessage, res: ServerResponse, projectRoot: string, pathInfo: string, query: string): void {
  const child = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: projectRoot, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: pathInfo, QUERY_STRING: query,
      REQUEST_METHOD: req.method ?? 'GET', CONTENT_TYPE: req.headers['content-type'] ?? '', REMOTE_ADDR: '127.0.0.1',
      GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''), HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  req.pipe(child.stdin!);
  let head = Buffer.alloc(0);
  let started = false;
  child.stdout!.on('data', (c: Buffer) => {
    if (started) { res.write(c); return; }
    head = Buffer.concat([head, c]);
    const end = head.indexOf('\r\n\r\n');
    if (end === -1) return;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    started = true;
    if (head.length > end + 4) res.write(head.subarray(end + 4));
  });
  child.stdout!.on('end', () => res.end());
  child.on('error', () => res.writeHead(500).end());
}

/** A static file server on 127.0.0.1 (paths under /private/ need `Authorization: Bearer PRIVATE_TOKEN`) over `root`, with Last-Modified from `lastModified` and a request log. Paths under /smart/ are git repositories served with git's smart HTTP protocol. */
async function serve(root: string, lastModified: Date): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url ?? ''}`);
    const [urlPath, query = ''] = (req.url ?? '/').split('?') as [string, string?];
    if (urlPath.startsWith('/smart/')) {
      gitHttpBackend(req, res, join(root, 'smart'), decodeURIComponent(urlPath.slice('/smart'.length)), query);
      return;
    }
    if ((req.url ?? '').startsWith('/private/') && req.headers.authorization !== `Bearer ${PRIVATE_TOKEN}`) {
      res.writeHead(401).end();
      return;
    }
    const rel = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!)).replace(/^(\.\.\/)+/, '');
    const p = join(root, rel);
    lstat(p).then((st) => {
      if (!st.isFile()) { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-length': st.size, 'last-modified': lastModified.toUTCString() });
      createReadStream(p).pipe(res);
    }, () => res.writeHead(404).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) };
}

describe('ADD builds', { skip }, () => {
  let env: BuildEnv;
  let web: Awaited<ReturnType<typeof serve>>;
  let webRoot: string;
  const lastModified = new Date('2021-03-04T05:06:07Z');

  before(async () => {
    env = await openBuildEnv(['busybox:latest']);
    webRoot = await mkdtemp(join(tmpdir(), 'stagecraft-add-web-'));
    env.scratch.push(webRoot);
    web = await serve(webRoot, lastModified);
  });

  after(async () => {
    await web?.close();
    await env?.close();
    console.log(tally.summary());
  });

  it('local archives are unpacked whatever their name (plain, gzip, bzip2, xz, zstd); --unpack=false copies the file; an empty *.tar.gz is just a file', async () => {
    const src = await mkdtemp(join(tmpdir(), 'stagecraft-add-tar-'));
    env.scratch.push(src);
    await mkdir(join(src, 'tree/sub'), { recursive: true });
    await writeFile(join(src, 'tree/sub/f.txt'), 'in the archive\n');
    await writeFile(join(src, 'tree/run.sh'), '#!/bin/sh\n');
    await chmod(join(src, 'tree/run.sh'), 0o750);
    sh('tar --owner=123 --group=456 -cf plain.tar -C tree . && gzip -c plain.tar > a.gz && bzip2 -c plain.tar > a.bz2 && xz -c plain.tar > a.xz && zstd -q -c plain.tar > a.zst', src);
    const files: Record<string, Buffer | string> = { 'empty.tar.gz': '' };
    for (const f of ['plain.tar', 'a.gz', 'a.bz2', 'a.xz', 'a.zst']) files[`archives/${f}`] = await readFile(join(src, f));
    files.Dockerfile = [
      'FROM @REGISTRY@/busybox:latest',
      'ADD archives/plain.tar /plain/',
      'ADD archives/a.gz /gz/',
      'ADD archives/a.bz2 /bz2',
      'ADD archives/a.xz /xz/',
      'ADD archives/a.zst /zst/',
      'ADD --unpack=false archives/a.gz /kept/',
      'ADD empty.tar.gz /empty/',
    ].join('\n');
    const context = await contextWith(env, files);
    const { result } = await buildWithEvents({ context, tags: ['add-archives:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      for (const d of ['plain', 'gz', 'bz2', 'xz', 'zst']) {
        assert.equal(await readFile(join(fs, d, 'sub/f.txt'), 'utf8'), 'in the archive\n', d);
        const st = await lstat(join(fs, d, 'run.sh'));
        assert.equal(st.mode & 0o7777, 0o750, `${d}: mode from the archive`);
        assert.equal(`${st.uid}:${st.gid}`, '123:456', `${d}: owners from the archive`);
      }
      assert.ok((await lstat(join(fs, 'kept/a.gz'))).isFile(), '--unpack=false keeps the archive');
      assert.equal(await existsIn(fs, '/kept/sub'), false);
      assert.equal((await lstat(join(fs, 'empty/empty.tar.gz'))).size, 0, 'an empty file is not an archive');
    });
    tally.pass();
  });

  it('URLs: named after the URL, mode 0600, mtime from Last-Modified, --checksum verified, --chmod applies, --unpack=true unpacks; cached while unchanged, re-run when the content changes', async () => {
    await writeFile(join(webRoot, 'hello.txt'), 'hello over http\n');
    const tarDir = await mkdtemp(join(tmpdir(), 'stagecraft-add-webtar-'));
    env.scratch.push(tarDir);
    await writeFile(join(tarDir, 'inside.txt'), 'unpacked from a URL\n');
    sh(`tar -czf ${join(webRoot, 'bundle.tar.gz')} inside.txt`, tarDir);
    const sum = createHash('sha256').update('hello over http\n').digest('hex');
    const context = await contextWith(env, {
      Dockerfile: [
        'FROM @REGISTRY@/busybox:latest',
        `ADD ${web.url}/hello.txt /dl/`,
        `ADD ${web.url}/hello.txt /renamed`,
        `ADD --checksum=sha256:${sum} --chmod=644 ${web.url}/hello.txt /checked`,
        `ADD ${web.url}/bundle.tar.gz /packed/`,
        `ADD --unpack=true ${web.url}/bundle.tar.gz /unpacked/`,
      ].join('\n'),
    });
    const { result } = await buildWithEvents({ context, tags: ['add-url:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      const st = await lstat(join(fs, 'dl/hello.txt'));
      assert.equal(await readFile(join(fs, 'dl/hello.txt'), 'utf8'), 'hello over http\n');
      assert.equal(st.mode & 0o7777, 0o600);
      assert.equal(`${st.uid}:${st.gid}`, '0:0');
      assert.equal(Math.floor(st.mtimeMs / 1000), lastModified.getTime() / 1000, 'mtime from Last-Modified');
      assert.equal(await readFile(join(fs, 'renamed'), 'utf8'), 'hello over http\n');
      assert.equal((await lstat(join(fs, 'checked'))).mode & 0o7777, 0o644);
      assert.ok((await lstat(join(fs, 'packed/bundle.tar.gz'))).isFile(), 'a remote archive is not unpacked by default');
      assert.equal(await readFile(join(fs, 'unpacked/inside.txt'), 'utf8'), 'unpacked from a URL\n');
    });
    const again = await buildWithEvents({ context, tags: ['add-url:2'], root: env.root });
    assert.ok(steps(again.events).filter((s) => s.name.startsWith('ADD')).every((s) => s.cached), 'unchanged URLs: cached');
    await writeFile(join(webRoot, 'bundle.tar.gz'), await readFile(join(webRoot, 'hello.txt')));
    const changed = await buildWithEvents({ context, tags: ['add-url:3'], root: env.root });
    const packed = steps(changed.events).find((s) => s.name.endsWith('/packed/'));
    assert.equal(packed?.cached, false, 'changed content: the ADD runs again');
    tally.pass();
  });

  it('URL errors: a checksum mismatch and a 404 fail with the line and the URL', async () => {
    const bad = await contextWith(env, { Dockerfile: `FROM @REGISTRY@/busybox:latest\nADD --checksum=sha256:${'0'.repeat(64)} ${web.url}/hello.txt /x\n` });
    const f = await buildFailure({ context: bad, root: env.root });
    assert.match((f.error as Error).message, /checksum mismatch: expected sha256:0{64}, got sha256:[a-f0-9]{64}/);
    assert.equal((f.error as { location?: { startLine: number } }).location?.startLine, 2);
    const missing = await contextWith(env, { Dockerfile: `FROM @REGISTRY@/busybox:latest\nADD ${web.url}/nope.txt /x\n` });
    const g = await buildFailure({ context: missing, root: env.root });
    assert.match((g.error as Error).message, /nope\.txt: invalid response status 404/);
    tally.pass();
  });

  it('URL auth: HTTP_AUTH_TOKEN_<host> from --secret authenticates the fetch; without it the server refuses; the token is nowhere in the store or the events', async () => {
    await mkdir(join(webRoot, 'private'), { recursive: true });
    await writeFile(join(webRoot, 'private/p.txt'), 'private file\n');
    const context = await contextWith(env, { Dockerfile: `FROM @REGISTRY@/busybox:latest\nADD ${web.url}/private/p.txt /p.txt\n` });
    const denied = await buildFailure({ context, root: env.root });
    assert.match((denied.error as Error).message, /invalid response status 401/);
    process.env.SC_ADD_TOKEN = PRIVATE_TOKEN;
    try {
      const { result, events } = await buildWithEvents({ context, tags: ['add-auth:1'], root: env.root, secrets: [parseSecretFlag('id=HTTP_AUTH_TOKEN_127.0.0.1,env=SC_ADD_TOKEN')] });
      await withRootfs(env.root, result.tags[0]!, async (fs) => {
        assert.equal(await readFile(join(fs, 'p.txt'), 'utf8'), 'private file\n');
      });
      assert.ok(!JSON.stringify(events).includes(PRIVATE_TOKEN));
      const hits: string[] = [];
      for (const rel of await readdir(env.root, { recursive: true })) {
        const p = join(env.root, rel);
        if ((await lstat(p)).isFile() && (await readFile(p)).includes(PRIVATE_TOKEN)) hits.push(p);
      }
      assert.deepEqual(hits, [], 'the token is in no file of the store');
    } finally {
      delete process.env.SC_ADD_TOKEN;
    }
    tally.pass();
  });

  it('git repositories over HTTP: the default branch without .git, #tag:subdir, --keep-git-dir, git modes 0644/0755; --checksum is a commit prefix', async () => {
    const work = await mkdtemp(join(tmpdir(), 'stagecraft-add-git-'));
    env.scratch.push(work);
    const git = (cmd: string): string => sh(`git -c user.name=t -c user.email=t@t -c init.defaultBranch=main ${cmd}`, work).trim();
    git('init -q .');
    await mkdir(join(work, 'sub'));
    await writeFile(join(work, 'README'), 'top\n');
    await writeFile(join(work, 'sub/tool.sh'), '#!/bin/sh\necho tool\n');
    await chmod(join(work, 'sub/tool.sh'), 0o700);
    git('add -A && git -c user.name=t -c user.email=t@t commit -q -m one && git tag v1');
    await writeFile(join(work, 'README'), 'top, second commit\n');
    git('commit -q -am two');
    const commit = git('rev-parse HEAD');
    sh(`git clone -q --bare . ${join(webRoot, 'repo.git')} && git -C ${join(webRoot, 'repo.git')} update-server-info`, work);
    const repo = `${web.url}/repo.git`;
    const context = await contextWith(env, {
      Dockerfile: [
        'FROM @REGISTRY@/busybox:latest',
        `ADD ${repo} /src`,
        `ADD ${repo}#v1:sub /v1sub/`,
        `ADD --keep-git-dir=true ${repo}#main /kept`,
        `ADD --checksum=${commit.slice(0, 10)} ${repo} /checked`,
      ].join('\n'),
    });
    const { result } = await buildWithEvents({ context, tags: ['add-git:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal(await readFile(join(fs, 'src/README'), 'utf8'), 'top, second commit\n');
      assert.equal(await existsIn(fs, '/src/.git'), false, '.git is left out by default');
      assert.equal((await lstat(join(fs, 'src/README'))).mode & 0o7777, 0o644);
      assert.equal((await lstat(join(fs, 'src/sub/tool.sh'))).mode & 0o7777, 0o755);
      assert.equal((await lstat(join(fs, 'src/sub'))).mode & 0o7777, 0o755);
      assert.equal(await readFile(join(fs, 'v1sub/tool.sh'), 'utf8'), '#!/bin/sh\necho tool\n', '#v1:sub is the subdir at the tag');
      assert.equal(await existsIn(fs, '/v1sub/README'), false);
      assert.equal(await existsIn(fs, '/kept/.git/HEAD'), true, '--keep-git-dir keeps .git');
      assert.equal(await readFile(join(fs, 'checked/README'), 'utf8'), 'top, second commit\n');
    });
    const wrong = await contextWith(env, { Dockerfile: `FROM @REGISTRY@/busybox:latest\nADD --checksum=deadbeef ${repo} /x\n` });
    const f = await buildFailure({ context: wrong, root: env.root });
    assert.match((f.error as Error).message, new RegExp(`expected checksum to match deadbeef, got ${commit}`));
    tally.pass();
  });

  it('git over smart HTTP: a branch or tag is fetched shallow (only its commit), a commit id gets the whole history; all through git-upload-pack', async () => {
    const work = await mkdtemp(join(tmpdir(), 'stagecraft-add-gitsmart-'));
    env.scratch.push(work);
    const git = (cmd: string): string => sh(`git -c user.name=t -c user.email=t@t -c init.defaultBranch=main ${cmd}`, work).trim();
    git('init -q .');
    await writeFile(join(work, 'f'), 'one\n');
    git('add f && git -c user.name=t -c user.email=t@t commit -q -m one && git tag v1');
    const first = git('rev-parse HEAD');
    await writeFile(join(work, 'f'), 'two\n');
    git('commit -q -am two');
    const head = git('rev-parse HEAD');
    await mkdir(join(webRoot, 'smart'), { recursive: true });
    sh(`git clone -q --bare . ${join(webRoot, 'smart', 'repo.git')}`, work); // no update-server-info: only the smart protocol can serve it
    const repo = `${web.url}/smart/repo.git`;
    const before = web.requests.length;
    const context = await contextWith(env, {
      Dockerfile: [
        'FROM @REGISTRY@/busybox:latest',
        `ADD --keep-git-dir=true ${repo}#main /branch`,
        `ADD --keep-git-dir=true ${repo}#v1 /tag`,
        `ADD --keep-git-dir=true ${repo}#${first} /commit`,
      ].join('\n'),
    });
    const { result } = await buildWithEvents({ context, tags: ['add-gitsmart:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal(await readFile(join(fs, 'branch/f'), 'utf8'), 'two\n');
      assert.equal((await readFile(join(fs, 'branch/.git/shallow'), 'utf8')).trim(), head, 'the branch: only its commit was fetched');
      assert.equal(await readFile(join(fs, 'tag/f'), 'utf8'), 'one\n');
      assert.equal((await readFile(join(fs, 'tag/.git/shallow'), 'utf8')).trim(), first, 'the tag: only its commit was fetched');
      assert.equal(await readFile(join(fs, 'commit/f'), 'utf8'), 'one\n');
      assert.equal(await existsIn(fs, '/commit/.git/shallow'), false, 'a commit id is cloned whole');
    });
    const asked = web.requests.slice(before);
    assert.ok(asked.some((r) => r.startsWith('POST /smart/repo.git/git-upload-pack')), `the smart protocol was used: ${asked.join(' | ')}`);
    tally.pass();
  });

  it('git over ssh: git uses the --ssh default agent, and no agent without --ssh (as BuildKit); ssh itself is a local stand-in running git-upload-pack', async () => {
    const work = await mkdtemp(join(tmpdir(), 'stagecraft-add-gitssh-'));
    env.scratch.push(work);
    sh('git -c init.defaultBranch=main init -q src && echo old > src/f && git -C src add f && git -C src -c user.name=t -c user.email=t@t commit -q -m zero'
      + ' && echo over-ssh > src/f && git -C src -c user.name=t -c user.email=t@t commit -q -am one && git clone -q --bare src repo.git', work);
    const head = sh('git -C repo.git rev-parse main', work).trim();
    // GIT_SSH_COMMAND stand-in: records the agent it was given, then runs the remote command locally.
    await writeFile(join(work, 'fake-ssh'), `#!/bin/sh\necho "agent=$SSH_AUTH_SOCK" >> ${join(work, 'ssh.log')}\nfor last; do :; done\nexec sh -c "$last"\n`);
    await chmod(join(work, 'fake-ssh'), 0o755);
    const context = await contextWith(env, {
      Dockerfile: `FROM @REGISTRY@/busybox:latest\nADD git@localhost:${join(work, 'repo.git')} /viassh\nADD --keep-git-dir=true git@localhost:${join(work, 'repo.git')}#main /kept\n`,
    });
    const saved = { cmd: process.env.GIT_SSH_COMMAND, sock: process.env.SSH_AUTH_SOCK };
    process.env.GIT_SSH_COMMAND = join(work, 'fake-ssh');
    process.env.SSH_AUTH_SOCK = '/host/agent/not-for-builds';
    try {
      const { result } = await buildWithEvents({ context, tags: ['add-gitssh:1'], root: env.root, ssh: [parseSshFlag(`default=${join(work, 'agent.sock')}`)] });
      await withRootfs(env.root, result.tags[0]!, async (fs) => {
        assert.equal(await readFile(join(fs, 'viassh/f'), 'utf8'), 'over-ssh\n');
        // A named ref over a smart transport is fetched shallow: the kept .git has the one commit.
        assert.equal(await readFile(join(fs, 'kept/f'), 'utf8'), 'over-ssh\n');
        assert.equal((await readFile(join(fs, 'kept/.git/shallow'), 'utf8')).trim(), head, 'only the ref\'s commit was fetched');
      });
      await buildWithEvents({ context, tags: ['add-gitssh:2'], root: env.root, noCache: true });
    } finally {
      if (saved.cmd === undefined) delete process.env.GIT_SSH_COMMAND; else process.env.GIT_SSH_COMMAND = saved.cmd;
      if (saved.sock === undefined) delete process.env.SSH_AUTH_SOCK; else process.env.SSH_AUTH_SOCK = saved.sock;
    }
    const log = (await readFile(join(work, 'ssh.log'), 'utf8')).split('\n').filter(Boolean);
    assert.ok(log.length >= 2, log.join(' | '));
    assert.equal(log[0], `agent=${join(work, 'agent.sock')}`, 'the --ssh default agent');
    assert.equal(log.at(-1), 'agent=', 'without --ssh, not the host agent');
    tally.pass();
  });

  it('COPY --link is cached when an earlier step changes (its layer does not depend on the layers below); plain COPY is not', async () => {
    const context = await contextWith(env, {
      f: 'payload\n',
      Dockerfile: [
        'FROM @REGISTRY@/busybox:latest',
        'ARG BUST',
        'RUN echo "$BUST" > /bust',
        'COPY --link f /linked',
        'COPY f /plain',
        'COPY --link --chown=nobody f /by-name',
      ].join('\n'),
    });
    await buildWithEvents({ context, tags: ['link-cache:1'], buildArgs: { BUST: '1' }, root: env.root });
    const { result, events } = await buildWithEvents({ context, tags: ['link-cache:2'], buildArgs: { BUST: '2' }, root: env.root });
    const byName = (n: string): boolean | undefined => steps(events).find((s) => s.name === n)?.cached;
    assert.equal(steps(events).find((s) => s.name.startsWith('RUN echo'))?.cached, false);
    assert.equal(byName('COPY --link f /linked'), true, '--link layer reused');
    assert.equal(byName('COPY f /plain'), false);
    assert.equal(byName('COPY --link --chown=nobody f /by-name'), false, 'a --chown name depends on the stage passwd');
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.equal(await readFile(join(fs, 'bust'), 'utf8'), '2\n');
      assert.equal(await readFile(join(fs, 'linked'), 'utf8'), 'payload\n');
    });
    tally.pass();
  });

  it('COPY --link: the layer holds only the copied files and fresh parents (0755 root), a symlink in the lower dest path is replaced not followed, . resolves against WORKDIR', async () => {
    const context = await contextWith(env, {
      'testfile': 'linked\n',
      Dockerfile: [
        'FROM @REGISTRY@/busybox:latest',
        'RUN mkdir -p /srv/real /opt/deep && chmod 0700 /opt /opt/deep && chown 12:34 /opt && ln -s /srv/real /app',
        'COPY --link testfile /opt/deep/linked',
        'COPY --link testfile /app/linked',
        'WORKDIR /var/www',
        'COPY --link testfile .',
        'COPY --link --chown=nobody testfile /owned',
      ].join('\n'),
    });
    const { result } = await buildWithEvents({ context, tags: ['copy-link:1'], root: env.root });
    await withRootfs(env.root, result.tags[0]!, async (fs, image) => {
      assert.equal(await readFile(join(fs, 'opt/deep/linked'), 'utf8'), 'linked\n');
      const opt = await lstat(join(fs, 'opt'));
      assert.equal(opt.mode & 0o7777, 0o755, '--link creates the parents fresh: the lower /opt mode is overridden');
      assert.equal(`${opt.uid}:${opt.gid}`, '0:0');
      assert.ok((await lstat(join(fs, 'app'))).isDirectory(), '/app is now a directory: the symlink was not followed');
      assert.equal(await readFile(join(fs, 'app/linked'), 'utf8'), 'linked\n');
      assert.equal(await existsIn(fs, '/srv/real/linked'), false);
      assert.equal(await readFile(join(fs, 'var/www/testfile'), 'utf8'), 'linked\n');
      const owned = await lstat(join(fs, 'owned'));
      assert.equal(owned.uid, 65534, '--chown names resolve in the stage passwd');
      // Each --link layer is only its own files and their parents.
      const withLayers = (image.config.history ?? []).filter((h) => !h.empty_layer);
      const at = withLayers.findIndex((h) => (h.created_by ?? '').startsWith('COPY testfile /opt/deep/linked'));
      assert.ok(at >= 0, withLayers.map((h) => h.created_by).join('\n'));
      const layerDir = (await Store.open(env.root)).layerDir(image.config.rootfs.diff_ids[at] as `sha256:${string}`);
      const entries = (await readdir(layerDir, { recursive: true })).sort();
      assert.deepEqual(entries, ['opt', 'opt/deep', 'opt/deep/linked']);
      assert.equal((await lstat(join(layerDir, 'opt/deep'))).mode & 0o7777, 0o755);
    });
    // An independent reader of the saved layer tars (umoci) sees the same.
    await withRootfs(env.root, result.tags[0]!, async (fs) => {
      assert.ok((await lstat(join(fs, 'app'))).isDirectory());
      assert.equal(await readFile(join(fs, 'app/linked'), 'utf8'), 'linked\n');
      assert.equal((await lstat(join(fs, 'opt'))).mode & 0o7777, 0o755);
    }, 'umoci');
    tally.pass();
  });
});
