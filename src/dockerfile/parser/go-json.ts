/**
 * A JSON reader with the outcomes of Go's encoding/json Unmarshal into
 * `interface{}` / `map[string]any`, as far as the Dockerfile parser looks:
 * the whole text must be one JSON value (surrounding whitespace allowed),
 * nesting deeper than 10000 is an error, a number that overflows float64 is
 * an error, and a lone surrogate escape decodes to U+FFFD.
 *
 * It is iterative (no recursion on nesting) and keeps only the first level:
 * the items of a top-level array, or the members of a top-level object, each
 * either a string or the marker `nonString`.
 */

export const nonString: unique symbol = Symbol('nonString');
export type ShallowValue = string | typeof nonString;

export type GoJsonTop =
  | { kind: 'array'; items: ShallowValue[] }
  | { kind: 'object'; members: Map<string, ShallowValue> }
  | { kind: 'scalar' };

export type GoJsonResult = { ok: true; top: GoJsonTop } | { ok: false; reason: 'syntax' | 'range' };

const maxDepth = 10000;

class JsonSyntax extends Error {}

export function goJsonUnmarshal(text: string): GoJsonResult {
  try {
    return new Reader(text).run();
  } catch (e) {
    if (e instanceof JsonSyntax) return { ok: false, reason: 'syntax' };
    throw e;
  }
}

interface Frame {
  type: 'a' | 'o';
  key: string;
}

class Reader {
  private pos = 0;
  private overflow = false;
  constructor(private readonly s: string) {}

  run(): GoJsonResult {
    const s = this.s;
    const stack: Frame[] = [];
    let top: GoJsonTop = { kind: 'scalar' };
    this.ws();
    for (;;) {
      // Expecting a value.
      this.ws();
      let v: ShallowValue;
      const c = s[this.pos];
      if (c === '[' || c === '{') {
        this.pos++;
        if (stack.length + 1 > maxDepth) throw new JsonSyntax('exceeded max depth');
        const frame: Frame = { type: c === '[' ? 'a' : 'o', key: '' };
        stack.push(frame);
        if (stack.length === 1) top = c === '[' ? { kind: 'array', items: [] } : { kind: 'object', members: new Map() };
        this.ws();
        const close = c === '[' ? ']' : '}';
        if (s[this.pos] === close) {
          this.pos++;
          stack.pop();
          v = nonString;
        } else {
          if (frame.type === 'o') this.key(frame);
          continue;
        }
      } else if (c === '"') {
        v = this.string();
      } else if (c === 't') {
        this.literal('true');
        v = nonString;
      } else if (c === 'f') {
        this.literal('false');
        v = nonString;
      } else if (c === 'n') {
        this.literal('null');
        v = nonString;
      } else {
        this.number();
        v = nonString;
      }
      // After a value: record it, then close containers or move to the next member.
      for (;;) {
        if (stack.length === 0) {
          this.ws();
          if (this.pos !== s.length) throw new JsonSyntax('trailing data');
          return this.overflow ? { ok: false, reason: 'range' } : { ok: true, top };
        }
        const frame = stack[stack.length - 1]!;
        if (stack.length === 1) {
          if (top.kind === 'array') top.items.push(v);
          else if (top.kind === 'object') top.members.set(frame.key, v);
        }
        this.ws();
        const d = s[this.pos++];
        if (d === ',') {
          if (frame.type === 'o') {
            this.ws();
            this.key(frame);
          }
          break;
        }
        if ((d === ']' && frame.type === 'a') || (d === '}' && frame.type === 'o')) {
          stack.pop();
          v = nonString;
          continue;
        }
        throw new JsonSyntax('expected , or closing bracket');
      }
    }
  }

  private key(frame: Frame): void {
    if (this.s[this.pos] !== '"') throw new JsonSyntax('expected key');
    frame.key = this.string();
    this.ws();
    if (this.s[this.pos++] !== ':') throw new JsonSyntax('expected :');
  }

  private ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  private literal(word: string): void {
    if (!this.s.startsWith(word, this.pos)) throw new JsonSyntax('bad literal');
    this.pos += word.length;
  }

  private digit(i: number): boolean {
    const c = this.s.charCodeAt(i);
    return c >= 0x30 && c <= 0x39;
  }

  private number(): void {
    const s = this.s;
    const start = this.pos;
    if (s[this.pos] === '-') this.pos++;
    if (s[this.pos] === '0') this.pos++;
    else if (this.digit(this.pos)) while (this.digit(this.pos)) this.pos++;
    else throw new JsonSyntax('bad value');
    if (s[this.pos] === '.') {
      this.pos++;
      if (!this.digit(this.pos)) throw new JsonSyntax('bad fraction');
      while (this.digit(this.pos)) this.pos++;
    }
    if (s[this.pos] === 'e' || s[this.pos] === 'E') {
      this.pos++;
      if (s[this.pos] === '+' || s[this.pos] === '-') this.pos++;
      if (!this.digit(this.pos)) throw new JsonSyntax('bad exponent');
      while (this.digit(this.pos)) this.pos++;
    }
    if (!Number.isFinite(Number(s.slice(start, this.pos)))) this.overflow = true;
  }

  private string(): string {
    const s = this.s;
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      if (this.pos >= s.length) throw new JsonSyntax('unterminated string');
      const c = s.charCodeAt(this.pos);
      if (c === 0x22) {
        this.pos++;
        return out;
      }
      if (c < 0x20) throw new JsonSyntax('control character in string');
      if (c !== 0x5c) {
        out += s[this.pos++];
        continue;
      }
      const e = s[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const u = this.hex4();
          if (u >= 0xd800 && u < 0xdc00) {
            // A valid pair decodes; anything else is U+FFFD and the next
            // escape is read on its own.
            if (s[this.pos] === '\\' && s[this.pos + 1] === 'u') {
              const save = this.pos;
              this.pos += 2;
              const lo = this.hex4();
              if (lo >= 0xdc00 && lo <= 0xdfff) {
                out += String.fromCharCode(u, lo);
                break;
              }
              this.pos = save;
            }
            out += '\ufffd';
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            out += '\ufffd';
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default:
          throw new JsonSyntax('bad escape');
      }
    }
  }

  private hex4(): number {
    const h = this.s.slice(this.pos, this.pos + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) throw new JsonSyntax('bad \\u escape');
    this.pos += 4;
    return parseInt(h, 16);
  }
}
