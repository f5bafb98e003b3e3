/**
 * A loopback HTTP proxy in front of a real registry that injects faults into
 * chosen requests: error statuses (with Retry-After and a registry error
 * body), a connection reset part way through a body, a flipped byte, and a
 * slow answer. Everything else passes through unchanged (Host header
 * included, so upload Locations the registry hands out point back at the
 * proxy). Each rule fires `times` times, then the proxy is transparent again.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type Fault =
  /** Answer with `status` (and an optional registry error code and Retry-After) without asking the registry. */
  | { kind: 'status'; status: number; retryAfter?: string; registryCode?: string }
  /** Forward, then cut the connection after `afterBytes` bytes of the response body. */
  | { kind: 'reset'; afterBytes: number }
  /** Forward, with the byte at `offset` of the response body inverted. */
  | { kind: 'flip'; offset: number }
  /** Wait `delayMs` before forwarding (a server slower than the client's timeout, or just slow). */
  | { kind: 'slow'; delayMs: number }
  /** Forward, with the Location header pointed at another `host:port` (e.g. an upload URL on another host). */
  | { kind: 'location'; host: string };

export interface FaultRule {
  /** Which requests: method and URL path tested against this. */
  method?: string;
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault. Default 1; Infinity for all. */
  times?: number;
}

export interface ProxyLogEntry {
  method: string;
  url: string;
  range: string | undefined;
  /** Whether the request carried an Authorization header (never its value). */
  authorized: boolean;
  /** The fault applied, if any. */
  fault: Fault['kind'] | undefined;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  log: ProxyLogEntry[];
  add(rule: FaultRule): void;
  clear(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(target: { host: string; url: string }): Promise<FaultProxy> {
  const rules: Array<FaultRule & { left: number }> = [];
  const log: ProxyLogEntry[] = [];

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void => {
    const up = request(`${target.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      const headers = { ...r.headers };
      if (fault?.kind === 'location' && headers.location) {
        const u = new URL(headers.location, target.url);
        u.host = fault.host;
        headers.location = u.toString();
      }
      res.writeHead(r.statusCode ?? 502, headers);
      if (!fault || fault.kind === 'slow' || fault.kind === 'location') {
        r.pipe(res);
        return;
      }
      let seen = 0;
      r.on('data', (chunk: Buffer) => {
        if (fault.kind === 'reset') {
          const room = fault.afterBytes - seen;
          if (room > 0) res.write(chunk.subarray(0, room));
          seen += chunk.length;
          if (seen >= fault.afterBytes) {
            r.destroy();
            res.socket?.destroy();
          }
          return;
        }
        const c = Buffer.from(chunk);
        const offset = (fault as { offset: number }).offset;
        if (offset >= seen && offset < seen + c.length) c[offset - seen] = c[offset - seen]! ^ 0xff;
        seen += c.length;
        res.write(c);
      });
      r.on('end', () => res.end());
      r.on('error', () => res.destroy());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    const rule = rules.find((r) => r.left > 0 && r.path.test(path) && (!r.method || r.method === req.method));
    if (rule) rule.left--;
    const fault = rule?.fault;
    log.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, authorized: req.headers.authorization !== undefined, fault: fault?.kind });
    if (fault?.kind === 'status') {
      req.resume();
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      res.writeHead(fault.status, headers);
      res.end(JSON.stringify({ errors: [{ code: fault.registryCode ?? 'UNKNOWN', message: 'injected by the fault proxy' }] }));
      return;
    }
    if (fault?.kind === 'slow') {
      const timer = setTimeout(() => forward(req, res, fault), fault.delayMs);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    forward(req, res, fault);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  const host = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  return {
    host,
    url: `http://${host}`,
    log,
    add: (rule) => rules.push({ ...rule, left: rule.times ?? 1 }),
    clear: () => { rules.length = 0; },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
