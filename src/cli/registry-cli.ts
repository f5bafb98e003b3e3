/**
 * The command-line definitions of `push`, `pull`, `login` and `logout` (the work is
 * in registry-commands.ts, imported only when one of them runs), and the
 * registry flags `build` shares with them.
 */
import { Command, Option } from 'commander';
import { StagecraftError } from '../errors.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--insecure-registry` (when `insecure`), `--certs-dir`, `--config` on `c`. */
export function registryOptions(c: Command, insecure = true): Command {
  if (insecure) c.option('--insecure-registry <host>', 'allow plain HTTP or an unverified certificate for this registry (repeatable; loopback is always allowed)', collect, []);
  return c
    .option('--certs-dir <dir>', 'per-registry CA certificates, <dir>/<host:port>/ca.crt (env STAGECRAFT_CERTS_DIR; default /etc/docker/certs.d)')
    .option('--config <dir>', "directory of Docker's config.json holding registry logins (default $DOCKER_CONFIG, else ~/.docker)");
}

/** `--chunk-size` as a positive whole number of bytes, with an optional k/M suffix (KiB, MiB). */
export function parseChunkSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)\s*([kKmM]i?[bB]?)?$/.exec(text.trim());
  const n = m ? Number(m[1]) * (m[2] ? (m[2][0]!.toLowerCase() === 'k' ? 1024 : 1024 * 1024) : 1) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new StagecraftError('USAGE', `--chunk-size must be a positive number of bytes, not "${text}"`, { hint: 'e.g. --chunk-size 5MiB' });
  return n;
}

export function addRegistryCommands(cmd: Command, storeRoot: (o: { root?: string }) => string): void {
  registryOptions(cmd
    .command('push')
    .description('push a local image to a registry; more names push the same image under them')
    .argument('<refs...>', 'the stored image, then any more names'))
    .addOption(new Option('--compression <kind>', 'compression for built (uncompressed) layers').choices(['gzip', 'zstd']).default('gzip'))
    .option('--chunk-size <bytes>', 'upload blobs in chunks of this size (default: one request per blob)')
    .option('-q, --quiet', 'print only the pushed digest lines')
    .option('-a, --all-tags', 'push every local tag of the repository given (one argument, no tag)')
    .action(async (refs: string[], o, c: Command) => {
      const { pushCommand, pushAllTagsCommand } = await import('./registry-commands.js');
      await (o.allTags ? pushAllTagsCommand : pushCommand)(storeRoot(c.optsWithGlobals()), refs, {
        insecureRegistry: o.insecureRegistry, certsDir: o.certsDir, configDir: o.config,
        compression: o.compression, chunkSize: parseChunkSize(o.chunkSize), quiet: o.quiet,
      });
    });

  registryOptions(cmd
    .command('pull')
    .description('pull an image from a registry into the local store and tag it there, as docker pull does; builds FROM it then use it without the registry')
    .argument('<ref>', 'image reference: name[:tag] or name@sha256:digest')
    .option('--platform <os/arch>', 'platform to pick from a multi-platform image (default: the host)')
    .option('--registry-mirror <url>', 'mirror for docker.io pulls, tried in order before the origin (repeatable)', collect, [])
    .option('-q, --quiet', 'print only the full reference'))
    .action(async (ref: string, o, c: Command) => {
      const { pullCommand } = await import('./registry-commands.js');
      await pullCommand(storeRoot(c.optsWithGlobals()), ref, {
        platform: o.platform, insecureRegistry: o.insecureRegistry, registryMirror: o.registryMirror, certsDir: o.certsDir, configDir: o.config, quiet: o.quiet,
      });
    });

  registryOptions(cmd
    .command('login')
    .description("log in to a registry (docker.io when SERVER is omitted), storing the credentials as docker login does")
    .argument('[server]', 'registry host, e.g. registry.example:5000')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password or token (insecure: prefer --password-stdin)')
    .option('--password-stdin', 'read the password or token from standard input'))
    .action(async (server: string | undefined, o) => {
      const { loginCommand } = await import('./registry-commands.js');
      await loginCommand(server, {
        username: o.username, password: o.password, passwordStdin: o.passwordStdin,
        insecureRegistry: o.insecureRegistry, certsDir: o.certsDir, configDir: o.config,
      });
    });

  cmd
    .command('logout')
    .description('remove the stored credentials for a registry (docker.io when SERVER is omitted)')
    .argument('[server]', 'registry host')
    .option('--config <dir>', "directory of Docker's config.json (default $DOCKER_CONFIG, else ~/.docker)")
    .action(async (server: string | undefined, o) => {
      const { logoutCommand } = await import('./registry-commands.js');
      await logoutCommand(server, { configDir: o.config });
    });
}
