// The log a build keeps (`summon builds:info`): every line the pusher saw, up to a bound. Past
// it, the first half and the last half are kept with a line saying how much was cut between
// them, since a build's cause is usually at its start and its failure at its end.

/** What one build keeps of its output. */
export const MAX_BUILD_LOG_BYTES = 1024 * 1024;

export class BuildLog {
  private readonly head: string[] = [];
  private headBytes = 0;
  private readonly tail: string[] = [];
  private tailBytes = 0;
  private cutLines = 0;
  private cutBytes = 0;
  /** Bytes written, kept or not. */
  bytes = 0;

  constructor(private readonly max = MAX_BUILD_LOG_BYTES) {
    if (!Number.isInteger(max) || max < 1024) throw new Error(`BuildLog: max must be a whole number of bytes ≥ 1024, got ${String(max)}`);
  }

  add(line: string): void {
    const size = Buffer.byteLength(line) + 1;
    this.bytes += size;
    const half = Math.floor(this.max / 2);
    if (this.cutLines === 0 && this.tail.length === 0 && this.headBytes + size <= half) {
      this.head.push(line);
      this.headBytes += size;
      return;
    }
    this.tail.push(line);
    this.tailBytes += size;
    while (this.tailBytes > half && this.tail.length > 0) {
      const dropped = this.tail.shift()!;
      this.tailBytes -= Buffer.byteLength(dropped) + 1;
      this.cutLines += 1;
      this.cutBytes += Buffer.byteLength(dropped) + 1;
    }
  }

  get truncated(): boolean {
    return this.cutLines > 0;
  }

  text(): string {
    const cut = this.cutLines ? [`[… ${this.cutLines} lines (${this.cutBytes} bytes) cut: a build keeps ${this.max} bytes of its log …]`] : [];
    const lines = [...this.head, ...cut, ...this.tail];
    return lines.length ? `${lines.join('\n')}\n` : '';
  }
}
