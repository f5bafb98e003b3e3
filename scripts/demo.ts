/**
 * The embedded default job: serve the example's base images from a registry on
 * loopback, build examples/python-app with the stagecraft CLI, and list the
 * local images. Usage: node --import tsx scripts/demo.ts [extra build flags]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pushBaseImages } from '../test/support/base-images.js';
import { startRegistry } from '../test/support/registry.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../bin/stagecraft.cjs', import.meta.url));

function stagecraft(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: 'inherit', cwd: repo });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

console.log('stagecraft demo: preparing base images (the first run builds them with debootstrap; later runs reuse them)');
const registry = await startRegistry();
let code = 1;
try {
  await pushBaseImages(registry.host, ['python:3.11-build', 'python:3.11-slim']);
  console.log(`base images served by a registry on ${registry.host}`);
  code = await stagecraft([
    'build', '-t', 'python-app:latest', '--build-arg', `REGISTRY=${registry.host}`, ...process.argv.slice(2), 'examples/python-app',
  ]);
  if (code === 0) code = await stagecraft(['images']);
} finally {
  await registry.stop();
}
process.exitCode = code;
