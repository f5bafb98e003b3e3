/**
 * The embedded default job: serve the example's base images from a registry on
 * loopback, build an example (examples/python-app unless another is named)
 * with the stagecraft CLI, and list the local images.
 * Usage: node --import tsx scripts/demo.ts [python-app|node-app|go-app] [extra build flags]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { exampleBases, pushBaseImages, type ExampleName } from '../test/support/base-images.js';
import { startRegistry } from '../test/support/registry.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../bin/stagecraft', import.meta.url));

function stagecraft(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cli, args, { stdio: 'inherit', cwd: repo });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

const args = process.argv.slice(2);
const example = (args[0] !== undefined && Object.hasOwn(exampleBases, args[0]) ? args.shift()! : 'python-app') as ExampleName;

console.log('stagecraft demo: preparing base images (the first run builds them with debootstrap; later runs reuse them)');
const registry = await startRegistry();
let code = 1;
try {
  await pushBaseImages(registry.host, exampleBases[example]);
  console.log(`base images served by a registry on ${registry.host}`);
  code = await stagecraft([
    'build', '-t', `${example}:latest`, '--build-arg', `REGISTRY=${registry.host}`, ...args, `examples/${example}`,
  ]);
  if (code === 0) code = await stagecraft(['images']);
} finally {
  await registry.stop();
}
process.exitCode = code;
