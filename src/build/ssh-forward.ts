/**
 * RUN --mount=type=ssh: a unix socket for the step that forwards every
 * connection to the host's SSH agent. A proxy (rather than binding the
 * agent's own socket) lets the socket carry the mount's uid/gid/mode
 * (BuildKit's defaults 0:0 0600) without touching the user's agent socket.
 * With several agent sockets for one id, connections go to the first that
 * answers. Key files given to --ssh are loaded into a private ssh-agent for
 * the step (startKeyAgent), which the proxy then forwards to.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, lstat } from 'node:fs/promises';
import { StagecraftError } from '../errors.js';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface AgentProxy {
  /** Host path of the proxy socket (bind it into the container). */
  path: string;
  close(): Promise<void>;
}

function connectFirst(paths: readonly string[], i = 0): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(paths[i]!);
    s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
    s.once('error', (e) => {
      s.destroy();
      if (i + 1 < paths.length) connectFirst(paths, i + 1).then(resolve, reject);
      else reject(e);
    });
  });
}

export async function startAgentProxy(path: string, agents: readonly string[], owner: { uid: number; gid: number; mode: number }): Promise<AgentProxy> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    connectFirst(agents).then(
      (agent) => {
        open.add(agent);
        agent.on('close', () => { open.delete(agent); client.destroy(); });
        agent.on('error', () => agent.destroy());
        client.on('close', () => agent.destroy());
        client.pipe(agent);
        agent.pipe(client);
        client.resume();
      },
      () => client.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  await chown(path, owner.uid, owner.gid);
  await chmod(path, owner.mode);
  return {
    path,
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
}

export interface KeyAgent {
  /** The agent's socket, holding the keys. */
  path: string;
  close(): Promise<void>;
}

/**
 * `--ssh default=/path/key.pem`: a private ssh-agent for one step, loaded
 * with the key files (unencrypted keys only, as BuildKit), on `sockPath`.
 */
export async function startKeyAgent(sockPath: string, keys: readonly string[], signal?: AbortSignal): Promise<KeyAgent> {
  const agent = spawn('ssh-agent', ['-D', '-a', sockPath], { stdio: 'ignore' });
  const close = async (): Promise<void> => {
    if (agent.exitCode === null && agent.signalCode === null) {
      const gone = new Promise((r) => agent.once('exit', r));
      agent.kill();
      await gone;
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      agent.once('error', (e) => reject(new StagecraftError('RUNTIME', `--ssh with key files needs ssh-agent: ${e.message}`, { hint: 'apt-get install openssh-client' })));
      const started = Date.now();
      const poll = (): void => {
        if (signal?.aborted) { reject(signal.reason); return; }
        lstat(sockPath).then(() => resolve(), () => {
          if (Date.now() - started > 10_000) reject(new StagecraftError('RUNTIME', 'ssh-agent did not start'));
          else setTimeout(poll, 20);
        });
      };
      poll();
    });
    await new Promise<void>((resolve, reject) => {
      execFile('ssh-add', ['-q', ...keys], { env: { ...process.env, SSH_AUTH_SOCK: sockPath, SSH_ASKPASS: '/bin/false', SSH_ASKPASS_REQUIRE: 'force', DISPLAY: '' }, timeout: 10_000 }, (err, _o, stderr) => {
        if (err) reject(new StagecraftError('USAGE', `--ssh: cannot load key ${keys.join(', ')}: ${String(stderr).trim().split('\n').pop() ?? err.message}`, { hint: 'pass an unencrypted private key, or an agent socket that holds the key' }));
        else resolve();
      });
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { path: sockPath, close };
}
