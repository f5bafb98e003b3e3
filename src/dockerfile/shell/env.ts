/**
 * The environment a word is expanded against. Callers hold env in different
 * shapes (image config `K=V` lists, ordered pairs, maps, records); all of them
 * resolve the same way: on Linux keys are case-sensitive and, when a key
 * repeats, the last value wins.
 */
export type Env =
  | ReadonlyArray<string | readonly [string, string]>
  | ReadonlyMap<string, string>
  | EnvLookup
  | Readonly<Record<string, string>>;

/**
 * A resolved lookup: `get` returns undefined for an unset variable. Pass one
 * directly to avoid copying a scope (e.g. a stage's ARG/ENV view) per word.
 */
export interface EnvLookup {
  get(name: string): string | undefined;
  /** Keys in first-seen order, without duplicates. */
  keys(): string[];
}

function isEnvLookup(env: unknown): env is EnvLookup {
  const e = env as { get?: unknown; keys?: unknown };
  return typeof e.get === 'function' && typeof e.keys === 'function';
}

/**
 * Builds a lookup. `K=V` strings split at the first `=`; a string without `=`
 * defines K with the empty value (BuildKit `EnvsFromSlice`).
 */
export function envLookup(env: Env): EnvLookup {
  if (!(env instanceof Map) && !Array.isArray(env) && isEnvLookup(env)) return env;
  const map = new Map<string, string>();
  if (Array.isArray(env)) {
    for (const entry of env as ReadonlyArray<string | readonly [string, string]>) {
      if (typeof entry === 'string') {
        const i = entry.indexOf('=');
        if (i < 0) map.set(entry, '');
        else map.set(entry.slice(0, i), entry.slice(i + 1));
      } else {
        map.set(entry[0], entry[1]);
      }
    }
  } else if (env instanceof Map) {
    for (const [k, v] of env as ReadonlyMap<string, string>) map.set(k, v);
  } else {
    const rec = env as Readonly<Record<string, string>>;
    for (const k of Object.keys(rec)) {
      const v = rec[k];
      if (typeof v === 'string') map.set(k, v);
    }
  }
  return {
    get: (name) => map.get(name),
    keys: () => [...map.keys()],
  };
}

/** The value of `name`, or '' when unset (BuildKit `getEnv` with last-wins). */
export function getEnv(env: Env, name: string): string {
  return envLookup(env).get(name) ?? '';
}
