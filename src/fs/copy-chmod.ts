/**
 * COPY/ADD --chmod: octal (`755`, `0644`, up to 07777) or chmod(1) symbolic
 * (`+x`, `u=rwX,go=rX`, `g=u`, `a+X`). A mode is parsed once into a function
 * from (current permission bits, is-directory) to new permission bits.
 * Symbolic clauses without a who (`+x`) apply to all, as with a umask of 0.
 */
import { StagecraftError } from '../errors.js';

export interface ChmodSpec {
  /** The flag as written, for messages and cache keys. */
  text: string;
  /** The fixed mode for octal specs; undefined for symbolic ones. */
  octal: number | undefined;
  apply(mode: number, isDir: boolean): number;
}

const WHO_BITS = { u: 0o4700, g: 0o2070, o: 0o1007 } as const;

function invalid(text: string): StagecraftError {
  return new StagecraftError(
    'INSTRUCTION',
    `invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`,
    { hint: 'use an octal mode like 0755 or a symbolic one like u=rwX,go=rX' },
  );
}

interface Clause {
  who: number; // mask of permission + special bits the clause may touch
  ops: Array<{ op: '+' | '-' | '='; perm: string }>;
}

function parseSymbolic(text: string): Clause[] {
  const clauses: Clause[] = [];
  for (const part of text.split(',')) {
    const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(part);
    if (!m) throw invalid(text);
    let who = 0;
    for (const w of m[1]!) who |= w === 'a' ? 0o7777 : WHO_BITS[w as 'u' | 'g' | 'o'];
    if (who === 0) who = 0o7777;
    const ops: Clause['ops'] = [];
    for (const opm of m[2]!.matchAll(/([-+=])([rwxXstugo]*)/g)) {
      const perm = opm[2]!;
      // A copy-from (u/g/o) must stand alone, as in chmod(1).
      if (/[ugo]/.test(perm) && perm.length !== 1) throw invalid(text);
      ops.push({ op: opm[1] as '+' | '-' | '=', perm });
    }
    clauses.push({ who, ops });
  }
  return clauses;
}

/** Bits (within all 12 permission bits) named by a perm string, for the current mode. */
function permBits(perm: string, current: number, isDir: boolean): number {
  if (perm === 'u' || perm === 'g' || perm === 'o') {
    const shift = perm === 'u' ? 6 : perm === 'g' ? 3 : 0;
    const t = (current >> shift) & 0o7;
    return (t << 6) | (t << 3) | t;
  }
  let bits = 0;
  for (const ch of perm) {
    if (ch === 'r') bits |= 0o444;
    else if (ch === 'w') bits |= 0o222;
    else if (ch === 'x') bits |= 0o111;
    else if (ch === 'X') {
      if (isDir || (current & 0o111) !== 0) bits |= 0o111;
    } else if (ch === 's') bits |= 0o6000;
    else if (ch === 't') bits |= 0o1000;
  }
  return bits;
}

export function parseChmod(text: string): ChmodSpec {
  if (/^[0-9]+$/.test(text)) {
    if (!/^[0-7]+$/.test(text)) throw invalid(text);
    const n = Number.parseInt(text, 8);
    if (n > 0o7777) throw invalid(text);
    return { text, octal: n, apply: () => n };
  }
  const clauses = parseSymbolic(text);
  return {
    text,
    octal: undefined,
    apply(mode: number, isDir: boolean): number {
      let cur = mode & 0o7777;
      for (const c of clauses) {
        for (const { op, perm } of c.ops) {
          const bits = permBits(perm, cur, isDir) & c.who;
          if (op === '+') cur |= bits;
          else if (op === '-') cur &= ~bits;
          else {
            // '=' clears the who's rwx (and s/t for the matching who) then sets.
            const clear = c.who & (0o777 | (c.who & 0o7000));
            cur = (cur & ~clear) | bits;
          }
        }
      }
      return cur;
    },
  };
}
