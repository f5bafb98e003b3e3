/**
 * Go value syntaxes that Dockerfile flags inherit from BuildKit: one CSV record
 * (`encoding/csv`), `strconv.ParseBool`, `strconv.ParseUint`/`ParseInt`, and
 * docker/go-units sizes (`64m`, `1GiB`).
 */
import { goQuote } from '../shell/go-text.js';

/** Splits one CSV record like Go's encoding/csv (no trimming, `""` escapes a quote). Throws Error. */
export function splitCsvRecord(input: string): string[] {
  const nl = input.search(/\r?\n/);
  const line = nl >= 0 ? input.slice(0, nl) : input;
  if (input === '') throw new Error('EOF');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) throw new Error(`parse error on line 1, column ${line.length + 1}: extraneous or missing " in quoted-field`);
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      if (j < line.length && line[j] !== ',') {
        throw new Error(`parse error on line 1, column ${j + 1}: extraneous or missing " in quoted-field`);
      }
      fields.push(value);
      if (j >= line.length) return fields;
      i = j + 1;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      const value = line.slice(i, end);
      const bare = value.indexOf('"');
      if (bare >= 0) throw new Error(`parse error on line 1, column ${i + bare + 1}: bare " in non-quoted field`);
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}

const TRUE_WORDS = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE_WORDS = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go `strconv.ParseBool`; undefined when the text is not a boolean. */
export function parseGoBool(s: string): boolean | undefined {
  if (TRUE_WORDS.has(s)) return true;
  if (FALSE_WORDS.has(s)) return false;
  return undefined;
}

/**
 * Go `strconv.ParseUint(s, base, bits)` for base 8 or 10 without prefixes or
 * underscores; undefined on bad syntax or overflow.
 */
export function parseGoUint(s: string, base: 8 | 10, bits: 32 | 64): number | undefined {
  const digits = base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!digits.test(s)) return undefined;
  const n = BigInt(base === 8 ? `0o${s}` : s);
  if (n > (1n << BigInt(bits)) - 1n) return undefined;
  return Number(n);
}

/** Go `strconv.ParseInt(s, 10, 32)`; throws Go's message on failure. */
export function parseGoInt32(s: string): number {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new Error(`strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n > 2147483647n || n < -2147483648n) throw new Error(`strconv.ParseInt: parsing ${goQuote(s)}: value out of range`);
  return Number(n);
}

const SIZE = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const BINARY_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** docker/go-units RAMInBytes: `64m` = 64 MiB; undefined when not a size. */
export function ramInBytes(s: string): number | undefined {
  const m = SIZE.exec(s);
  if (!m) return undefined;
  const num = m[1]!;
  if ((num.match(/\./g) ?? []).length > 1) return undefined;
  let size = Number(num);
  const unit = m[2]?.toLowerCase();
  if (unit !== undefined) size *= BINARY_UNITS[unit]!;
  return Math.trunc(size);
}

/** Go `%q` (strconv.Quote), shared with the shell-word code. */
export { goQuote };
