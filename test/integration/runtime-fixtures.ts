/**
 * Fixtures for the runtime/overlay integration tests: a tiny rootfs built from
 * the host's busybox-static (no registry needed), temp dirs, tar reading, and
 * checks that nothing stays mounted.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { mountsUnder } from '../../src/fs/overlay.js';
import { writeLayerFromUpper, type LayerFromUpperOptions } from '../../src/fs/upper-diff.js';

export const isRoot = process.getuid?.() === 0;

/** Why these tests cannot run here, or false. Printed as the skip reason. */
export function rootSkipReason(): string | false {
  if (!isRoot) {
    const r = 'needs root (overlay mounts and runc)';
    console.log(`# SKIP: ${r}`);
    return r;
  }
  return false;
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `sc-test-${prefix}-`));
}

/** busybox-static at /bin/busybox with every applet symlinked, /etc/passwd, /tmp. No /proc, /dev, /sys, /etc/hosts. */
export async function busyboxRootfs(dir: string): Promise<void> {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => { try { execFileSync(p, ['true']); return true; } catch { return false; } });
  if (!busybox) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  await fs.mkdir(path.join(dir, 'bin'), { recursive: true });
  await fs.copyFile(busybox, path.join(dir, 'bin/busybox'));
  await fs.chmod(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const rel of applets) {
    if (rel === 'bin/busybox') continue;
    await fs.mkdir(path.join(dir, path.dirname(rel)), { recursive: true });
    await fs.symlink('/bin/busybox', path.join(dir, rel)).catch(() => undefined);
  }
  await fs.mkdir(path.join(dir, 'etc'), { mode: 0o755 });
  await fs.writeFile(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  await fs.writeFile(path.join(dir, 'etc/group'), 'root:x:0:\ntty:x:5:\nuser:x:1000:\n');
  await fs.mkdir(path.join(dir, 'tmp'));
  await fs.chmod(path.join(dir, 'tmp'), 0o1777);
  await fs.mkdir(path.join(dir, 'root'), { mode: 0o700 });
}

export interface TarItem {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string | null;
  devmajor: number;
  devminor: number;
  pax: Record<string, string> | null;
  content: Buffer;
}

/** Parse a tar with tar-stream (an implementation independent of ours). */
export async function readTar(buf: Buffer): Promise<TarItem[]> {
  const items: TarItem[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => { chunks.push(c as Buffer); });
      stream.on('end', () => {
        items.push({
          name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0,
          linkname: h.linkname ?? null, devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0,
          pax: (h.pax as Record<string, string> | undefined) ?? null, content: Buffer.concat(chunks),
        });
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([buf]).pipe(extract);
  await done;
  return items;
}

/** writeLayerFromUpper into memory. */
export async function layerOf(upper: string, opts: LayerFromUpperOptions = {}) {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  const info = await writeLayerFromUpper(upper, sink, opts);
  const buf = Buffer.concat(chunks);
  return { info, buf, items: await readTar(buf) };
}

/** Fails the test when anything is still mounted under `dir`. */
export async function assertNothingMounted(dir: string): Promise<void> {
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`still mounted under ${dir}: ${left.join(', ')}`);
}

/** Create an overlay whiteout (char device 0:0). */
export function mknodWhiteout(p: string): void {
  execFileSync('mknod', [p, 'c', '0', '0']);
}

export function setXattr(p: string, name: string, valueHex: string): void {
  execFileSync('setfattr', ['-h', '-n', name, '-v', `0x${valueHex}`, p]);
}
