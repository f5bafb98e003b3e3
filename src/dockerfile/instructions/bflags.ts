/**
 * The `--flag` parser for instruction flags, with BuildKit's BFlags rules:
 * `--name=value` for strings, `--name` / `--name=true|false` for booleans,
 * repeatable string-slice flags, `--` ends the flags, an unknown or repeated
 * flag is an error. Declare the flags, then call `parse()` once.
 */
import { problem } from './problem.js';
import { withSuggestion } from './suggest.js';

export type FlagType = 'bool' | 'string' | 'strings';

export interface Flag {
  readonly name: string;
  readonly type: FlagType;
  /** Current value: the default until parsed; 'true'/'false' for booleans. */
  value: string;
  /** Every value of a string-slice flag, in order. */
  values: string[];
}

export class BFlags {
  readonly args: readonly string[];
  private readonly flags = new Map<string, Flag>();
  private readonly usedFlags = new Map<string, Flag>();
  private setupError: string | undefined;

  constructor(args: readonly string[]) {
    this.args = args;
  }

  addBool(name: string, defaultValue: boolean): Flag {
    return this.add(name, 'bool', defaultValue ? 'true' : 'false');
  }

  addString(name: string, defaultValue: string): Flag {
    return this.add(name, 'string', defaultValue);
  }

  addStrings(name: string): Flag {
    return this.add(name, 'strings', '');
  }

  private add(name: string, type: FlagType, value: string): Flag {
    const flag: Flag = { name, type, value, values: [] };
    if (this.flags.has(name)) this.setupError = `duplicate flag defined: ${name}`;
    else this.flags.set(name, flag);
    return flag;
  }

  isUsed(flag: Flag): boolean {
    return this.usedFlags.has(flag.name);
  }

  /** Names of the flags given, in the order first seen. */
  used(): string[] {
    return [...this.usedFlags.keys()];
  }

  /** Applies the arguments to the declared flags; throws on the first bad one. */
  parse(): void {
    if (this.setupError !== undefined) throw problem(`error setting up flags: ${this.setupError}`);
    for (const arg of this.args) {
      if (!arg.startsWith('--')) throw problem(`arg should start with -- : ${arg}`);
      if (arg === '--') return;
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const hasValue = eq >= 0;
      const name = hasValue ? body.slice(0, eq) : body;
      const value = hasValue ? body.slice(eq + 1) : '';
      const flag = this.flags.get(name);
      if (!flag) {
        throw problem(withSuggestion(`unknown flag: --${name}`, name, [...this.flags.keys()], true));
      }
      if (this.usedFlags.has(name) && flag.type !== 'strings') {
        throw problem(`duplicate flag specified: --${name}`);
      }
      this.usedFlags.set(name, flag);
      switch (flag.type) {
        case 'bool': {
          if (hasValue && value === '') throw problem(`missing a value on flag: --${name}`);
          const lower = value.toLowerCase();
          if (lower === '' || lower === 'true') flag.value = 'true';
          else if (lower === 'false') flag.value = 'false';
          else throw problem(`expecting boolean value for flag --${name}, not: ${value}`);
          break;
        }
        case 'string':
          if (!hasValue) throw problem(`missing a value on flag: --${name}`);
          flag.value = value;
          break;
        case 'strings':
          if (!hasValue) throw problem(`missing a value on flag: --${name}`);
          flag.values.push(value);
          break;
      }
    }
  }
}
