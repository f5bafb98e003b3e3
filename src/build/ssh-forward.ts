/**
 * RUN --mount=type=ssh: a unix socket for the step that forwards every
 * connection to the host's SSH agent. A proxy (rather than binding the
 * agent's own socket) lets the socket carry the mount's uid/gid/mode
 * (BuildKit's defaults 0:0 0600) without touching the user's agent socket.
 * With several agent sockets for one id, connections go to the first that
 * answers.
 */
import { chmod, chown } from 'node:fs/promises';
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
