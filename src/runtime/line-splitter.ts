/**
 * Turns a stream of chunks into whole lines, so progress output never shows
 * half a line from stdout glued to half a line from stderr. A line longer than
 * `maxLine` bytes is passed on in pieces; what is left at the end is flushed.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly emit: (chunk: Buffer) => void, private readonly maxLine = 64 * 1024) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      this.take(chunk.subarray(start, nl + 1));
      this.flush();
      start = nl + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start));
    if (this.pendingBytes >= this.maxLine) this.flush();
  }

  /** Emit whatever is buffered (an unterminated last line). */
  flush(): void {
    if (this.pendingBytes === 0) return;
    const out = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.emit(out);
  }

  private take(part: Buffer): void {
    // Copy: the caller may reuse its buffer.
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }
}
