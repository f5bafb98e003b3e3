/**
 * A Node built-in module loaded when first asked for, not when the module
 * that uses it is. Each built-in outside Node's startup snapshot costs its
 * compile on load (node:https with tls ~4-5 ms on the build VM, node:http and
 * node:zlib ~3 ms each), and the bundled CLI initialises a module's imports
 * together with the module: a build that never speaks TLS, never talks to a
 * registry and never touches a gzip stream should not pay for them.
 *
 *   const agent = new (builtin('node:https').Agent)({ keepAlive: true });
 */
import { createRequire } from 'node:module';

interface Builtins {
  'node:http': typeof import('node:http');
  'node:https': typeof import('node:https');
  'node:tls': typeof import('node:tls');
  'node:zlib': typeof import('node:zlib');
}

// Built-ins resolve the same from anywhere; the path only has to be absolute. require() caches them.
const load = createRequire('/');

export function builtin<K extends keyof Builtins>(name: K): Builtins[K] {
  return load(name) as Builtins[K];
}
