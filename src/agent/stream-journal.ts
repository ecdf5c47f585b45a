// The agent's backlog of events and console lines, kept on its disk as well, so a control
// plane that was away hears what it missed even when the agent restarted meanwhile (an edge
// device that rebooted). JSON lines: a header with the journal's id (the `<boot>` part of
// every message id, kept across restarts so a control plane's cursor stays valid), then one
// line per message. Appends are batched per turn; once the file holds twice the backlog it is
// rewritten with the backlog alone (write, then rename). A torn last line (a crash while
// writing) is skipped on reading.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, rename, writeFile } from 'node:fs/promises';
import { silentLogger, type Logger } from '../logging/logger.js';

export interface JournalEntry {
  seq: number;
  frame: string;
}

export class StreamJournal {
  private pending: string[] = [];
  private writes: Promise<void> = Promise.resolve();
  private linesSinceCompaction: number;
  private scheduled = false;
  private failing = false;

  private constructor(
    private readonly file: string,
    readonly id: string,
    private readonly keep: number,
    lines: number,
    private readonly log: Logger,
  ) {
    this.linesSinceCompaction = lines;
  }

  /** Reads what an earlier run left (or starts a new journal): its id, last seq and entries. */
  /** `logger`: Summon's own log, for writes that failed (the backlog in memory is still served). */
  static open(file: string, keep: number, logger: Logger = silentLogger()): { journal: StreamJournal; id: string; seq: number; entries: JournalEntry[] } {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // no journal yet
    }
    let id: string | undefined;
    const entries: JournalEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const v = JSON.parse(line) as { id?: string; seq?: number; frame?: string };
        if (typeof v.id === 'string' && id === undefined) id = v.id;
        else if (typeof v.seq === 'number' && typeof v.frame === 'string') entries.push({ seq: v.seq, frame: v.frame });
      } catch {
        // a torn line from a crash while writing
      }
    }
    const fresh = id === undefined;
    const journalId = id ?? randomBytes(6).toString('hex');
    const kept = entries.slice(-keep);
    const journal = new StreamJournal(file, journalId, keep, fresh ? 0 : entries.length, logger);
    // A new journal gets its header; one whose last line was torn is rewritten, or the next
    // append would land on the torn line.
    if (fresh || !text.endsWith('\n')) journal.rewrite(kept);
    return { journal, id: journalId, seq: kept.at(-1)?.seq ?? 0, entries: kept };
  }

  append(entry: JournalEntry, backlog: () => JournalEntry[]): void {
    this.pending.push(JSON.stringify(entry) + '\n');
    this.linesSinceCompaction += 1;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const chunk = this.pending.join('');
      this.pending = [];
      this.writes = this.writes.then(() => appendFile(this.file, chunk)).then(() => this.written(), (err: unknown) => this.failed(err));
      if (this.linesSinceCompaction > this.keep * 2) this.rewrite(backlog());
    });
  }

  private rewrite(entries: JournalEntry[]): void {
    this.linesSinceCompaction = entries.length;
    const body = [JSON.stringify({ id: this.id }), ...entries.map((e) => JSON.stringify(e))].join('\n') + '\n';
    const tmp = `${this.file}.tmp`;
    this.writes = this.writes.then(async () => {
      await writeFile(tmp, body);
      await rename(tmp, this.file);
    }).then(() => this.written(), (err: unknown) => this.failed(err));
  }

  private written(): void {
    this.failing = false;
  }

  /** Said once until a write works again, not once per batch. */
  private failed(err: unknown): void {
    if (!this.failing) this.log.warn({ err, file: this.file }, 'stream journal not written: a restart of this agent would not replay these lines');
    this.failing = true;
  }

  /** Waits for everything appended so far to be on disk. */
  async flush(): Promise<void> {
    while (this.scheduled || this.pending.length) await new Promise((r) => setImmediate(r));
    await this.writes;
  }
}
