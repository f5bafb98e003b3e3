/**
 * httpGet (ADD's URL download): redirects as fetch() follows them, with
 * Authorization kept on the same origin and dropped on another, at most 20
 * hops, and only to http(s). Two node:http servers on 127.0.0.1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { httpGet } from '../src/build/http-get.js';

interface Seen { url: string; headers: IncomingHttpHeaders }

async function server(handler: (url: string, res: import('node:http').ServerResponse) => void): Promise<{ origin: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const s = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    handler(req.url ?? '', res);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  return { origin: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, seen, server: s };
}

async function body(res: import('node:http').IncomingMessage): Promise<string> {
  let text = '';
  for await (const c of res) text += String(c);
  return text;
}

describe('httpGet', () => {
  let a: Awaited<ReturnType<typeof server>>;
  let b: Awaited<ReturnType<typeof server>>;

  before(async () => {
    b = await server((url, res) => {
      if (url === '/file') res.writeHead(200, { 'content-type': 'text/plain' }).end('from b');
      else res.writeHead(404).end();
    });
    a = await server((url, res) => {
      const m = /^\/hop\/(\d+)$/.exec(url);
      if (url === '/file') res.writeHead(200).end('from a');
      else if (url === '/same') res.writeHead(302, { location: '/file' }).end();
      else if (url === '/other') res.writeHead(301, { location: `${b.origin}/file` }).end();
      else if (url === '/see-other') res.writeHead(303, { location: 'file' }).end();
      else if (url === '/temp') res.writeHead(307, { location: '/file' }).end();
      else if (url === '/perm') res.writeHead(308, { location: '/file' }).end();
      else if (url === '/ftp') res.writeHead(302, { location: 'ftp://127.0.0.1/x' }).end();
      else if (url === '/no-location') res.writeHead(302).end('stay');
      else if (m) res.writeHead(302, { location: `/hop/${Number(m[1]) + 1}` }).end();
      else res.writeHead(404).end();
    });
  });

  after(() => {
    a?.server.close();
    b?.server.close();
  });

  it('follows 301, 302, 303, 307 and 308 (relative and absolute Location) to the final body', async () => {
    for (const [path, want] of [['/same', 'from a'], ['/other', 'from b'], ['/see-other', 'from a'], ['/temp', 'from a'], ['/perm', 'from a'], ['/file', 'from a']] as const) {
      const res = await httpGet(`${a.origin}${path}`);
      assert.equal(res.statusCode, 200, path);
      assert.equal(await body(res), want, path);
    }
  });

  it('keeps Authorization on the same origin and drops it on another', async () => {
    a.seen.length = 0;
    b.seen.length = 0;
    await body(await httpGet(`${a.origin}/same`, { headers: { authorization: 'Bearer same-origin' } }));
    assert.deepEqual(a.seen.map((s) => [s.url, s.headers.authorization]), [['/same', 'Bearer same-origin'], ['/file', 'Bearer same-origin']]);
    a.seen.length = 0;
    await body(await httpGet(`${a.origin}/other`, { headers: { Authorization: 'Bearer not-for-b', 'x-kept': '1' } }));
    assert.equal(a.seen[0]!.headers.authorization, 'Bearer not-for-b');
    assert.equal(b.seen.length, 1);
    assert.equal(b.seen[0]!.headers.authorization, undefined, 'Authorization went to another origin');
    assert.equal(b.seen[0]!.headers['x-kept'], '1');
  });

  it('gives up after 20 redirects, refuses non-http(s) targets, and returns a redirect without Location as it is', async () => {
    await assert.rejects(httpGet(`${a.origin}/hop/0`), /more than 20 redirects/);
    await assert.rejects(httpGet(`${a.origin}/ftp`), /redirect to ftp: URL/);
    const res = await httpGet(`${a.origin}/no-location`);
    assert.equal(res.statusCode, 302);
    assert.equal(await body(res), 'stay');
    // 20 hops are still followed: /hop/1 -> ... -> /hop/21 is 20 redirects; the last answers 302 -> /hop/22.
    const hops = a.seen.filter((s) => s.url.startsWith('/hop/')).length;
    assert.equal(hops, 21, 'the first request and 20 redirects');
  });

  it('rejects a refused connection with the socket error', async () => {
    const s = await server(() => undefined);
    const origin = s.origin;
    await new Promise<void>((r) => s.server.close(() => r()));
    await assert.rejects(httpGet(`${origin}/x`), /ECONNREFUSED/);
  });
});
