/**
 * EXPOSE port specs -> image config `ExposedPorts` keys (`80/tcp`). Accepts
 * what docker's port-spec grammar accepts: `[ip:][hostPort:]port[-end][/proto]`,
 * IPv6 with or without brackets; host parts are validated and dropped.
 */
import { isIP } from 'node:net';
import { goQuote, parseGoUint } from './go-values.js';
import { problem } from './problem.js';

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

function splitParts(raw: string): [ip: string, hostPort: string, containerPort: string] {
  const parts = raw.split(':');
  const n = parts.length;
  const containerPort = parts[n - 1]!;
  switch (n) {
    case 1: return ['', '', containerPort];
    case 2: return ['', parts[0]!, containerPort];
    case 3: return [parts[0]!, parts[1]!, containerPort];
    default: return [parts.slice(0, n - 2).join(':'), parts[n - 2]!, containerPort];
  }
}

function splitProtoPort(raw: string): [proto: string, port: string] {
  const parts = raw.split('/');
  if (raw === '' || parts[0] === '') return ['', ''];
  if (parts.length === 1) return ['tcp', raw];
  if (parts[1] === '') return ['tcp', parts[0]!];
  return [parts[1]!, parts[0]!];
}

function portRange(text: string): [number, number] | undefined {
  if (text === '') return undefined;
  if (!text.includes('-')) {
    const p = parseGoUint(text, 10, 32);
    return p === undefined || p > 65535 ? undefined : [p, p];
  }
  const [a = '', b = ''] = text.split('-');
  const start = parseGoUint(a, 10, 32);
  const end = parseGoUint(b, 10, 32);
  if (start === undefined || end === undefined || start > 65535 || end > 65535 || end < start) return undefined;
  return [start, end];
}

function parseSpec(spec: string): string[] {
  const fail = (reason: string) => problem(`invalid port: ${goQuote(spec)}: ${reason}`);
  const [rawIp, hostPort, rest] = splitParts(spec);
  const [proto, containerPort] = splitProtoPort(rest);
  let ip = rawIp;
  if (ip.startsWith('[')) {
    if (!ip.endsWith(']')) throw fail(`invalid IP address ${ip}`);
    ip = ip.slice(1, -1);
  }
  if (ip !== '' && isIP(ip) === 0) throw fail(`invalid IP address: ${ip}`);
  if (containerPort === '') throw fail('no port specified');
  const range = portRange(containerPort);
  if (!range) throw fail(`invalid containerPort: ${containerPort}`);
  if (hostPort !== '') {
    const host = portRange(hostPort);
    if (!host) throw fail(`invalid hostPort: ${hostPort}`);
    if (range[1] - range[0] !== host[1] - host[0] && range[1] !== range[0]) {
      throw fail(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
  }
  const p = proto.toLowerCase();
  if (!PROTOCOLS.has(p)) throw fail(`invalid proto: ${proto}`);
  const out: string[] = [];
  for (let port = range[0]; port <= range[1]; port++) out.push(`${port}/${p}`);
  return out;
}

/** `['80', '53/udp', '8000-8001']` -> `['80/tcp', '53/udp', '8000/tcp', '8001/tcp']` (first-seen order, no duplicates). */
export function parseExposePorts(specs: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const spec of specs) for (const port of parseSpec(spec)) seen.add(port);
  return [...seen];
}
