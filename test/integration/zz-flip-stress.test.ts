import assert from 'node:assert/strict';
import { readdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { RegistryClient } from '../../src/registry/index.js';
import { Store } from '../../src/store/index.js';
import { pullImage } from '../../src/build/images.js';
import { parseReference } from '../../src/reference/reference.js';
import { hostPlatform, pushBaseImages } from '../support/base-images.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { startRegistry } from '../support/registry.js';

it('stress', async () => {
  const platform = hostPlatform();
  const work = await mkdtemp(join(tmpdir(), 'sc-stress-'));
  const reg = await startRegistry();
  await pushBaseImages(reg.host, ['busybox:latest']);
  const proxy = await startFaultProxy(reg);
  const ref = `${proxy.host}/busybox:latest`;
  const client = new RegistryClient({ retries: 2, retryBaseMs: 5 });
  const image = await client.resolve(ref, platform);
  const layer = image.layers[0]!;
  const blobPath = new RegExp(`/blobs/${layer.digest}$`);
  let leaks = 0;
  const N = Number(process.env.N ?? 200);
  for (let i = 0; i < N; i++) {
    proxy.clear();
    const kind = i % 2 === 0 ? 'flip' : 'cut';
    if (kind === 'flip') proxy.add({ path: blobPath, method: 'GET', fault: { kind: 'flip', offset: 1234 }, times: Infinity });
    else proxy.add({ path: blobPath, method: 'GET', fault: { kind: 'reset', afterBytes: 100 }, times: Infinity });
    const store = await Store.open(join(work, `s${i}`));
    let msg = '';
    await pullImage(client, store, parseReference(ref), platform).catch((e: Error) => { msg = e.message; });
    const left = await readdir(store.tmpDir);
    if (left.length) { leaks++; console.log(i, kind, left, msg.slice(0, 200)); }
  }
  client.close(); await proxy.stop(); await reg.stop();
  assert.equal(leaks, 0);
});
