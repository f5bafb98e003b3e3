/** Commands on the local store: images, inspect, history, save, rmi, prune. */
import { rename, rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { StagecraftError } from '../errors.js';
import { saveDockerArchive, saveOciArchive } from '../archive/index.js';
import { normalizeRef } from '../build/images.js';
import { humanSize } from '../report/size.js';
import { Store } from '../store/index.js';
import { streamToNewFile } from '../store/atomic.js';
import { parseReference } from '../reference/index.js';

function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

/** A user's reference in the form tags are stored under (`busybox` -> `docker.io/library/busybox:latest`). */
export function storeRef(text: string): string {
  if (/^sha256:[a-f0-9]{4,64}$/.test(text)) return text;
  return normalizeRef(text).toString();
}

/** By reference first, then (as docker does) by image id or digest prefix. */
async function resolveImage(store: Store, text: string) {
  let byName: StagecraftError | undefined;
  try {
    return await store.resolve(storeRef(text));
  } catch (e) {
    if (!(e instanceof StagecraftError) || (e.code !== 'NOT_FOUND' && e.code !== 'REFERENCE')) throw e;
    byName = e;
  }
  if (/^(sha256:)?[a-f0-9]{4,64}$/.test(text)) return store.resolve(text);
  throw byName;
}

/** `3 minutes ago`, as docker prints CREATED (go-units HumanDuration). */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'N/A';
  const sec = Math.max(0, (now - Date.parse(iso)) / 1000);
  const min = sec / 60;
  const hours = min / 60;
  const days = hours / 24;
  let d: string;
  if (sec < 1) d = 'Less than a second';
  else if (Math.floor(sec) === 1) d = '1 second';
  else if (sec < 60) d = `${Math.floor(sec)} seconds`;
  else if (Math.floor(min) === 1) d = 'About a minute';
  else if (min < 60) d = `${Math.floor(min)} minutes`;
  else if (Math.round(hours) === 1) d = 'About an hour';
  else if (hours < 48) d = `${Math.round(hours)} hours`;
  else if (days < 14) d = `${Math.floor(days)} days`;
  else if (days < 90) d = `${Math.floor(days / 7)} weeks`;
  else if (days < 730) d = `${Math.floor(days / 30)} months`;
  else d = `${Math.floor(days / 365)} years`;
  return `${d} ago`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n');
}

export async function imagesCommand(root: string, o: { quiet?: boolean; format?: string }): Promise<void> {
  const store = await Store.open(root);
  const images = await store.list();
  if (o.format === 'json') {
    out(JSON.stringify(images, null, 2));
    return;
  }
  if (o.quiet) {
    for (const i of images) out(i.configDigest.slice(7, 19));
    return;
  }
  const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
  for (const i of images) {
    const ref = parseReference(i.ref);
    const familiar = ref.familiar();
    const repo = ref.tag !== undefined ? familiar.slice(0, familiar.length - ref.tag.length - 1) : familiar.replace(/@.*$/, '');
    rows.push([repo, ref.tag ?? '<none>', i.configDigest.slice(7, 19), ago(i.created), humanSize(i.size).replace(' ', '')]);
  }
  out(table(rows));
}

export async function inspectCommand(root: string, ref: string): Promise<void> {
  const store = await Store.open(root);
  const img = await resolveImage(store, ref);
  out(JSON.stringify({ ref: img.ref, manifestDigest: img.manifestDigest, configDigest: img.configDigest, manifest: img.manifest, config: img.config }, null, 2));
}

export async function historyCommand(root: string, ref: string, o: { trunc?: boolean }): Promise<void> {
  const store = await Store.open(root);
  const img = await resolveImage(store, ref);
  const history = img.config.history ?? [];
  const diffIds = img.config.rootfs.diff_ids;
  let layer = diffIds.length - 1;
  const rows = [['CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
  // Newest first, like docker history; each non-empty entry owns the next layer from the top.
  for (let i = history.length - 1; i >= 0; i--) {
    const h = history[i]!;
    let size = 0;
    if (!h.empty_layer && layer >= 0) {
      size = (await store.layerInfo(diffIds[layer]!))?.size ?? 0;
      layer--;
    }
    const by = h.created_by ?? '';
    rows.push([ago(h.created), o.trunc === false || by.length <= 45 ? by : `${by.slice(0, 44)}…`, humanSize(size).replace(' ', ''), h.comment ?? '']);
  }
  out(table(rows));
}

export async function saveCommand(root: string, refs: string[], o: { output: string; format: 'docker' | 'oci' }): Promise<void> {
  const store = await Store.open(root);
  const resolved: string[] = [];
  for (const r of refs) {
    const img = await resolveImage(store, r);
    resolved.push(img.ref ?? img.manifestDigest);
  }
  // Write beside the target and rename, so a failed save leaves no half archive.
  const tmp = `${o.output}.partial-${process.pid}`;
  const pass = new PassThrough();
  let fileError: NodeJS.ErrnoException | undefined;
  const written = streamToNewFile(tmp, pass).catch((e: unknown) => { fileError = e as NodeJS.ErrnoException; });
  let saveError: unknown;
  try {
    if (o.format === 'oci') await saveOciArchive(store, resolved, pass);
    else await saveDockerArchive(store, resolved, pass);
    pass.end();
  } catch (e) {
    saveError = e;
    pass.destroy();
  }
  await written;
  if (saveError === undefined && !fileError) await rename(tmp, o.output).catch((e: unknown) => { fileError = e as NodeJS.ErrnoException; });
  if (saveError === undefined && !fileError) return;
  await rm(tmp, { force: true });
  // The file failing (no such directory, no room) stops the writer too: report the file, not the
  // writer's "premature close". A writer failing on its own leaves only a premature close here.
  if (fileError?.syscall !== undefined) {
    throw new StagecraftError('ARCHIVE', `cannot write ${o.output}: ${fileError.code ?? fileError.message}`, {
      hint: 'check that its directory exists and is writable and that the disk has room; nothing was written',
      cause: fileError,
    });
  }
  throw saveError ?? fileError;
}

export async function rmiCommand(root: string, refs: string[]): Promise<void> {
  const store = await Store.open(root);
  let failed = false;
  for (const r of refs) {
    const ref = storeRef(r);
    if (await store.untag(ref)) out(`Untagged: ${r}`);
    else {
      process.stderr.write(`error: no such image: ${r}\n`);
      failed = true;
    }
  }
  if (failed) process.exitCode = 1;
}

export async function pruneCommand(root: string, o: { all?: boolean }): Promise<void> {
  const store = await Store.open(root);
  const pruned = await store.prune({ all: o.all ?? false });
  // State records and bundles of RUN steps whose runtime was killed (src/runtime/sweep.ts).
  const { sweepRuntimeLeftovers } = await import('../runtime/sweep.js');
  const { detectRuntime, DEFAULT_STATE_ROOT } = await import('../runtime/index.js');
  const runtime = await detectRuntime('runc').catch(() => undefined);
  const swept = await sweepRuntimeLeftovers(runtime?.stateRoot ?? DEFAULT_STATE_ROOT, { runtimePath: runtime?.path });
  const r = {
    ...pruned,
    ...(swept.containers > 0 ? { runtimeStateRemoved: swept.containers } : {}),
    ...(swept.bundles > 0 ? { bundlesRemoved: swept.bundles } : {}),
  };
  // The build cache includes RUN --mount=type=cache directories (not content-addressed, so not in the GC).
  if (o.all) {
    const { clearCacheMounts } = await import('../build/cache-mounts.js');
    const c = await clearCacheMounts(root);
    out(JSON.stringify({ ...r, cacheMountsRemoved: c.removed, ...(c.inUse > 0 ? { cacheMountsInUse: c.inUse } : {}) }));
    return;
  }
  out(JSON.stringify(r));
}
