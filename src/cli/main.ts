/**
 * The command line. This is the only code that touches process.argv, exit
 * codes and the terminal. Each command's implementation is imported only when
 * that command runs, so `stagecraft --version` loads almost nothing.
 */
import { Command, Option } from 'commander';
import { StagecraftError, isStagecraftError } from '../errors.js';
import { VERSION } from '../version.js';
import { addRegistryCommands } from './registry-cli.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function storeRoot(opts: { root?: string }): string {
  return opts.root ?? process.env.STAGECRAFT_ROOT ?? '/var/lib/stagecraft';
}

export function program(): Command {
  const cmd = new Command('stagecraft')
    .description('Build container images from Dockerfiles, multi-stage first, with no daemon.')
    .version(VERSION, '-v, --version')
    .option('--root <dir>', 'local store directory (env STAGECRAFT_ROOT; default /var/lib/stagecraft)')
    .option('--debug', 'print error details and causes')
    .showHelpAfterError();

  cmd
    .command('build')
    .description('build an image from a Dockerfile')
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <path>', 'Dockerfile (default: <context>/Dockerfile)')
    .option('-t, --tag <ref>', 'name the image (repeatable)', collect, [])
    .option('--target <stage>', 'build up to this stage')
    .option('--build-arg <k=v>', 'set a build-time variable (repeatable)', collect, [])
    .option('--no-cache', 'do not use the build cache')
    .option('--platform <os/arch>', 'target platform (default: the host)')
    .option('--insecure-registry <host>', 'allow plain HTTP to this registry (repeatable; loopback is always allowed)', collect, [])
    .option('--registry-mirror <url>', 'mirror for docker.io pulls, tried in order before the origin (repeatable)', collect, [])
    .option('--certs-dir <dir>', 'per-registry CA certificates, <dir>/<host:port>/ca.crt (default /etc/docker/certs.d)')
    .option('--config <dir>', "directory of Docker's config.json holding registry logins (default $DOCKER_CONFIG, else ~/.docker)")
    .option('--push', 'push the image to every -t name after the build')
    .option('--secret <spec>', 'secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (repeatable)', collect, [])
    .option('--ssh <spec>', 'SSH agent for RUN --mount=type=ssh: default, or ID=SOCKET|KEY[,...] (repeatable)', collect, [])
    .option('--runtime <name>', 'OCI runtime: runc or crun (falls back to runc when crun cannot start)')
    .addOption(new Option('--progress <mode>', 'progress output').choices(['auto', 'plain', 'tty', 'json', 'quiet']).default('auto'))
    .option('-q, --quiet', 'no step output, as --progress quiet (the image ID is printed either way)')
    .option('-j, --jobs <n>', 'steps to run at once (default: number of cores)')
    .action(async (context: string, o, c: Command) => {
      const { buildCommand } = await import('./build-command.js');
      const g = c.optsWithGlobals();
      process.exitCode = await buildCommand(context, { ...o, root: storeRoot(g), debug: g.debug });
    });

  addRegistryCommands(cmd, storeRoot);

  cmd
    .command('images')
    .description('list images in the local store')
    .option('-q, --quiet', 'only image IDs')
    .option('--format <fmt>', 'table or json', 'table')
    .action(async (o, c: Command) => {
      const { imagesCommand } = await import('./store-commands.js');
      await imagesCommand(storeRoot(c.optsWithGlobals()), o);
    });

  cmd
    .command('inspect')
    .description('print an image manifest and config as JSON')
    .argument('<ref>')
    .action(async (ref: string, _o, c: Command) => {
      const { inspectCommand } = await import('./store-commands.js');
      await inspectCommand(storeRoot(c.optsWithGlobals()), ref);
    });

  cmd
    .command('history')
    .description('one row per history entry: created_by and layer size')
    .argument('<ref>')
    .option('--no-trunc', 'do not truncate output')
    .action(async (ref: string, o, c: Command) => {
      const { historyCommand } = await import('./store-commands.js');
      await historyCommand(storeRoot(c.optsWithGlobals()), ref, o);
    });

  cmd
    .command('save')
    .description('write images to an archive that docker load, podman load and skopeo accept')
    .argument('<refs...>')
    .requiredOption('-o, --output <file>', 'archive file')
    .addOption(new Option('--format <fmt>', 'archive format').choices(['docker', 'oci']).default('docker'))
    .action(async (refs: string[], o, c: Command) => {
      const { saveCommand } = await import('./store-commands.js');
      await saveCommand(storeRoot(c.optsWithGlobals()), refs, o);
    });

  cmd
    .command('rmi')
    .description('remove image tags')
    .argument('<refs...>')
    .action(async (refs: string[], _o, c: Command) => {
      const { rmiCommand } = await import('./store-commands.js');
      await rmiCommand(storeRoot(c.optsWithGlobals()), refs);
    });

  cmd
    .command('prune')
    .description('remove blobs and layers no tag needs (and, with --all, the build cache and RUN cache mounts)')
    .option('-a, --all', 'also drop the build cache and RUN cache mounts')
    .action(async (o, c: Command) => {
      const { pruneCommand } = await import('./store-commands.js');
      await pruneCommand(storeRoot(c.optsWithGlobals()), o);
    });

  cmd
    .command('lint')
    .description("check a Dockerfile with BuildKit's rules and stagecraft's multi-stage checks")
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <path>', 'Dockerfile (default: <context>/Dockerfile)')
    .option('--build-arg <k=v>', 'set a build-time variable (repeatable)', collect, [])
    .addOption(new Option('--format <fmt>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (context: string, o) => {
      const { lintCommand } = await import('./lint-command.js');
      process.exitCode = await lintCommand(context, o);
    });

  cmd
    .command('outline')
    .description('print the stages, their dependencies and build args, without building')
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <path>', 'Dockerfile (default: <context>/Dockerfile)')
    .option('--target <stage>', 'show what this stage needs')
    .option('--build-arg <k=v>', 'set a build-time variable (repeatable)', collect, [])
    .addOption(new Option('--format <fmt>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (context: string, o) => {
      const { outlineCommand } = await import('./lint-command.js');
      process.exitCode = await outlineCommand(context, o);
    });

  return cmd;
}

export async function main(argv: string[]): Promise<void> {
  const debug = argv.includes('--debug');
  try {
    await program().parseAsync(argv);
  } catch (e) {
    process.exitCode = reportError(e, debug);
  }
}

/** Prints one actionable line (and details with --debug); returns the exit code. */
export function reportError(e: unknown, debug: boolean): number {
  if (isStagecraftError(e)) {
    process.stderr.write(`error: ${e.oneLine()}\n`);
    if (debug) printCauses(e);
    return e.code === 'USAGE' ? 2 : 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`error: ${err.message}\n`);
  if (debug) process.stderr.write(`${err.stack ?? ''}\n`);
  else process.stderr.write('(run again with --debug for details)\n');
  return 1;
}

function printCauses(e: StagecraftError): void {
  process.stderr.write(`${e.stack ?? ''}\n`);
  let c: unknown = e.cause;
  while (c) {
    process.stderr.write(`caused by: ${c instanceof Error ? (c.stack ?? c.message) : String(c)}\n`);
    c = c instanceof Error ? c.cause : undefined;
  }
}
