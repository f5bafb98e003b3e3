/**
 * Go `path/filepath.Match` on Linux, including exactly when it reports
 * `ErrBadPattern`. Works on UTF-8 bytes like Go does, so `*` skips bytes and
 * `?`/`[…]` decode one rune (an invalid byte decodes as U+FFFD, width 1).
 *
 *   *      any sequence of non-/ characters
 *   ?      any single non-/ character
 *   [...]  a class: ranges lo-hi, ^ negates, \ escapes
 *   \c     the character c
 */

export class BadPatternError extends Error {
  constructor() {
    super('syntax error in pattern');
    this.name = 'BadPatternError';
  }
}

const enc = new TextEncoder();
const SLASH = 0x2f;
const BACKSLASH = 0x5c;

/** Decodes one UTF-8 rune at `i`: [rune, width]. Invalid input gives [0xfffd, 1]. */
export function decodeRune(b: Uint8Array, i: number): [number, number] {
  const c0 = b[i];
  if (c0 === undefined) return [0xfffd, 0];
  if (c0 < 0x80) return [c0, 1];
  let need: number;
  if (c0 >= 0xc2 && c0 <= 0xdf) need = 1;
  else if (c0 >= 0xe0 && c0 <= 0xef) need = 2;
  else if (c0 >= 0xf0 && c0 <= 0xf4) need = 3;
  else return [0xfffd, 1];
  if (i + need >= b.length) return [0xfffd, 1];
  let r = need === 1 ? c0 & 0x1f : need === 2 ? c0 & 0x0f : c0 & 0x07;
  for (let k = 1; k <= need; k++) {
    const c = b[i + k] as number;
    if ((c & 0xc0) !== 0x80) return [0xfffd, 1];
    r = (r << 6) | (c & 0x3f);
  }
  const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
  if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return [0xfffd, 1];
  return [r, need + 1];
}

/** Does `name` match the shell pattern? Throws BadPatternError for a malformed pattern. */
export function filepathMatch(pattern: string, name: string): boolean {
  let pat: Uint8Array = enc.encode(pattern);
  let nm: Uint8Array = enc.encode(name);
  outer: while (pat.length > 0) {
    const { star, chunk, rest } = scanChunk(pat);
    pat = rest;
    if (star && chunk.length === 0) {
      // a trailing * matches the rest of the name unless it has a /
      return !nm.includes(SLASH);
    }
    const first = matchChunk(chunk, nm);
    if (first.ok && (first.rest.length === 0 || pat.length > 0)) {
      nm = first.rest;
      continue;
    }
    if (first.bad) throw new BadPatternError();
    if (star) {
      // try again with the star swallowing i+1 bytes, never a /
      for (let i = 0; i < nm.length && nm[i] !== SLASH; i++) {
        const t = matchChunk(chunk, nm.subarray(i + 1));
        if (t.ok) {
          if (pat.length === 0 && t.rest.length > 0) continue;
          nm = t.rest;
          continue outer;
        }
        if (t.bad) throw new BadPatternError();
      }
    }
    // no match: still report a malformed remainder
    while (pat.length > 0) {
      const next = scanChunk(pat);
      pat = next.rest;
      if (matchChunk(next.chunk, new Uint8Array(0)).bad) throw new BadPatternError();
    }
    return false;
  }
  return nm.length === 0;
}

function scanChunk(pattern: Uint8Array): { star: boolean; chunk: Uint8Array; rest: Uint8Array } {
  let p = pattern;
  let star = false;
  while (p.length > 0 && p[0] === 0x2a) {
    p = p.subarray(1);
    star = true;
  }
  let inRange = false;
  let i = 0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case BACKSLASH:
        if (i + 1 < p.length) i++;
        break;
      case 0x5b: // [
        inRange = true;
        break;
      case 0x5d: // ]
        inRange = false;
        break;
      case 0x2a: // *
        if (!inRange) break scan;
        break;
    }
  }
  return { star, chunk: p.subarray(0, i), rest: p.subarray(i) };
}

interface ChunkResult {
  rest: Uint8Array;
  ok: boolean;
  bad: boolean;
}

function matchChunk(chunkIn: Uint8Array, sIn: Uint8Array): ChunkResult {
  let chunk = chunkIn;
  let s = sIn;
  let failed = false;
  const bad: ChunkResult = { rest: new Uint8Array(0), ok: false, bad: true };
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    const c = chunk[0] as number;
    if (c === 0x5b) {
      let r = 0;
      if (!failed) {
        const [rr, n] = decodeRune(s, 0);
        r = rr;
        s = s.subarray(n);
      }
      chunk = chunk.subarray(1);
      let negated = false;
      if (chunk.length > 0 && chunk[0] === 0x5e) {
        negated = true;
        chunk = chunk.subarray(1);
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (chunk.length > 0 && chunk[0] === 0x5d && nrange > 0) {
          chunk = chunk.subarray(1);
          break;
        }
        const lo = getEsc(chunk);
        if (!lo) return bad;
        chunk = lo.rest;
        let hi = lo.r;
        if (chunk[0] === 0x2d) {
          const h = getEsc(chunk.subarray(1));
          if (!h) return bad;
          chunk = h.rest;
          hi = h.r;
        }
        if (lo.r <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (c === 0x3f) {
      if (!failed) {
        if (s[0] === SLASH) failed = true;
        const [, n] = decodeRune(s, 0);
        s = s.subarray(n);
      }
      chunk = chunk.subarray(1);
    } else {
      if (c === BACKSLASH) {
        chunk = chunk.subarray(1);
        if (chunk.length === 0) return bad;
      }
      if (!failed) {
        if (chunk[0] !== s[0]) failed = true;
        s = s.subarray(1);
      }
      chunk = chunk.subarray(1);
    }
  }
  if (failed) return { rest: new Uint8Array(0), ok: false, bad: false };
  return { rest: s, ok: true, bad: false };
}

/** One class character (possibly escaped); undefined means ErrBadPattern. */
function getEsc(chunkIn: Uint8Array): { r: number; rest: Uint8Array } | undefined {
  let chunk = chunkIn;
  if (chunk.length === 0 || chunk[0] === 0x2d || chunk[0] === 0x5d) return undefined;
  if (chunk[0] === BACKSLASH) {
    chunk = chunk.subarray(1);
    if (chunk.length === 0) return undefined;
  }
  const [r, n] = decodeRune(chunk, 0);
  if (r === 0xfffd && n === 1) return undefined; // invalid UTF-8
  const rest = chunk.subarray(n);
  if (rest.length === 0) return undefined;
  return { r, rest };
}
