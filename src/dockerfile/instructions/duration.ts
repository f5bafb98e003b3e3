/**
 * Go `time.Duration` text: HEALTHCHECK flags are parsed with Go's
 * ParseDuration, and the image history prints them with Duration.String.
 * Durations are nanoseconds.
 */
import { goQuote } from './go-values.js';

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  'µs': 1000n, // U+00B5 micro sign
  'μs': 1000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX = (1n << 63n) - 1n;

/** Go `time.ParseDuration`; throws Error with Go's message. Result in nanoseconds. */
export function parseGoDuration(text: string): number {
  const invalid = (): Error => new Error(`time: invalid duration ${goQuote(text)}`);
  let s = text;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw invalid();
  let total = 0n;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s)!;
    const intPart = m[1] ?? '';
    const fracPart = m[2];
    if (intPart === '' && (fracPart === undefined || fracPart === '')) throw invalid();
    s = s.slice(m[0].length);
    const unitMatch = /^[^0-9.]*/.exec(s)!;
    const unitText = unitMatch[0];
    if (unitText === '') throw new Error(`time: missing unit in duration ${goQuote(text)}`);
    const unit = UNITS[unitText];
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuote(unitText)} in duration ${goQuote(text)}`);
    s = s.slice(unitText.length);
    let v = BigInt(intPart === '' ? '0' : intPart) * unit;
    if (fracPart !== undefined && fracPart !== '') {
      // Same truncation as Go: fraction * (unit / scale), in floating point.
      const f = Number(fracPart.slice(0, 18));
      const scale = 10 ** Math.min(fracPart.length, 18);
      v += BigInt(Math.trunc(f * (Number(unit) / scale)));
    }
    total += v;
    if (total > MAX + (neg ? 1n : 0n)) throw invalid();
  }
  return Number(neg ? -total : total);
}

function fraction(v: bigint, digits: number): string {
  const divisor = 10n ** BigInt(digits);
  const whole = v / divisor;
  const frac = (v % divisor).toString().padStart(digits, '0').replace(/0+$/, '');
  return frac === '' ? `${whole}` : `${whole}.${frac}`;
}

/** Go `Duration.String`: `1h2m3.5s`, `1m0s`, `100ms`, `1.5µs`, `0s`. */
export function formatGoDuration(ns: number): string {
  let u = BigInt(Math.trunc(ns));
  const sign = u < 0n ? '-' : '';
  if (u < 0n) u = -u;
  if (u === 0n) return '0s';
  if (u < 1000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${fraction(u, 3)}µs`;
  if (u < 1_000_000_000n) return `${sign}${fraction(u, 6)}ms`;
  const secs = fraction(u % 60_000_000_000n, 9);
  let rest = u / 60_000_000_000n;
  if (rest === 0n) return `${sign}${secs}s`;
  const minutes = rest % 60n;
  rest /= 60n;
  if (rest === 0n) return `${sign}${minutes}m${secs}s`;
  return `${sign}${rest}h${minutes}m${secs}s`;
}
