/**
 * Recognises a heredoc word among instruction arguments (`<<EOF`, `<<-EOF`,
 * `3<<'EOF'`) the way BuildKit does for COPY/ADD sources and destinations:
 * the delimiter must lex as one shell word; any quoting turns expansion off.
 */

export interface HeredocWord {
  name: string;
  chomp: boolean;
  expand: boolean;
  fileDescriptor: number;
}

const HEREDOC = /^(\d*)<<(-?)([^<]*)$/;

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';
}

/** Unquotes one shell word; undefined when the text is not exactly one word. */
function lexOneWord(text: string, escape: string): { word: string; quoted: boolean } | undefined {
  let word = '';
  let quoted = false;
  let i = 0;
  // Leading/trailing blanks do not make a second word.
  while (i < text.length && isSpace(text[i]!)) i++;
  let end = text.length;
  while (end > i && isSpace(text[end - 1]!)) end--;
  if (i >= end) return undefined;
  while (i < end) {
    const ch = text[i]!;
    if (isSpace(ch)) return undefined;
    if (ch === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0 || close >= end) return undefined;
      word += text.slice(i + 1, close);
      quoted = true;
      i = close + 1;
    } else if (ch === '"') {
      i++;
      let closed = false;
      while (i < end) {
        const c = text[i]!;
        if (c === '"') { closed = true; i++; break; }
        if (c === escape && i + 1 < end && ['"', '$', escape].includes(text[i + 1]!)) {
          word += text[i + 1];
          i += 2;
          continue;
        }
        word += c;
        i++;
      }
      if (!closed) return undefined;
      quoted = true;
    } else if (ch === escape && i + 1 < end) {
      word += text[i + 1];
      i += 2;
    } else {
      word += ch;
      i++;
    }
  }
  return { word, quoted };
}

/** The heredoc a word introduces, or undefined when the word is not one. */
export function parseHeredocWord(text: string, escape = '\\'): HeredocWord | undefined {
  const m = HEREDOC.exec(text);
  if (!m) return undefined;
  const rest = m[3] ?? '';
  if (rest === '') return undefined;
  const lexed = lexOneWord(rest, escape);
  if (!lexed || lexed.word === '') return undefined;
  return {
    name: lexed.word,
    chomp: m[2] === '-',
    expand: !lexed.quoted,
    fileDescriptor: m[1] ? Number(m[1]) : 0,
  };
}

/** Strips leading tabs from every line, as `<<-` asks. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}
