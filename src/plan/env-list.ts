/**
 * The two environment shapes BuildKit keeps for a stage, with their exact
 * ordering rules:
 *
 * - the build state's env (what RUN sees and what words expand against):
 *   setting a key moves it to the end, so the order is "by last assignment";
 * - the image config `Env` list: setting a key replaces the first entry with
 *   that key in place, or appends (`addEnv`).
 */

/** Immutable ordered env with "last assignment wins and moves to the end" semantics. */
export class EnvList {
  private constructor(private readonly entries: ReadonlyArray<readonly [string, string]>) {}

  static empty(): EnvList {
    return new EnvList([]);
  }

  /** From `K=V` strings (a string without `=` is K with the empty value). */
  static fromStrings(list: readonly string[]): EnvList {
    let e = EnvList.empty();
    for (const kv of list) {
      const [k, v] = splitKeyValue(kv);
      e = e.set(k, v);
    }
    return e;
  }

  set(key: string, value: string): EnvList {
    return new EnvList([...this.entries.filter(([k]) => k !== key), [key, value]]);
  }

  delete(key: string): EnvList {
    return new EnvList(this.entries.filter(([k]) => k !== key));
  }

  get(key: string): string | undefined {
    for (const [k, v] of this.entries) if (k === key) return v;
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  keys(): string[] {
    return this.entries.map(([k]) => k);
  }

  /** Pairs in order, for the word expander. */
  pairs(): Array<[string, string]> {
    return this.entries.map(([k, v]) => [k, v]);
  }

  /** `K=V` strings in order (the process environment). */
  toStrings(): string[] {
    return this.entries.map(([k, v]) => `${k}=${v}`);
  }
}

/** Splits `K=V` at the first `=`; no `=` gives the empty value. */
export function splitKeyValue(kv: string): [string, string] {
  const i = kv.indexOf('=');
  return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
}

/**
 * BuildKit's `addEnv` for the image config: replaces the first entry whose key
 * matches (case-sensitive on Linux), else appends. Returns a new list.
 */
export function addEnv(env: readonly string[] | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((e) => splitKeyValue(e)[0] === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}
