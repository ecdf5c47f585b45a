// Per-app logs: the console output of every instance and Summon's own lines about the app.
// Kept in memory up to a byte budget per app (oldest dropped first) and appended to a file per
// app, rotated at the same budget, so `summon logs` still has history after a restart.
import { appendFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../logging/logger.js';

export interface LogLine {
  seq: number;
  at: number;
  app: string;
  source: 'app' | 'summon';
  /** Instance id for app lines; a component ("build", "deploy", "router", "scale") for summon lines. */
  proc: string;
  text: string;
}

/** `json` is the line already serialised (once, for the file): streams reuse it. */
export type LogListener = (line: LogLine, json: string) => void;

export interface LogQuery {
  since?: number;
  instance?: string;
  source?: 'app' | 'summon';
  limit?: number;
}

interface AppLog {
  lines: LogLine[];
  bytes: number;
  pending: string;
  fileBytes: number | null;
}

export class LogStore {
  private readonly apps = new Map<string, AppLog>();
  private readonly listeners = new Map<string, Set<LogListener>>();
  private seq = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  private readonly log: Logger;

  /** `logger`: Summon's own log, for writes to disk that failed (the lines stay in memory). */
  constructor(private readonly opts: { dir: string; maxBytesPerApp?: number; now?: () => number; logger?: Logger }) {
    this.log = opts.logger ?? silentLogger();
  }

  private get max(): number {
    return this.opts.maxBytesPerApp ?? 4 * 1024 * 1024;
  }

  private app(name: string): AppLog {
    let a = this.apps.get(name);
    if (!a) {
      a = { lines: [], bytes: 0, pending: '', fileBytes: null };
      this.apps.set(name, a);
    }
    return a;
  }

  append(app: string, source: LogLine['source'], proc: string, text: string, at = (this.opts.now ?? Date.now)()): LogLine {
    const line: LogLine = { seq: ++this.seq, at, app, source, proc, text };
    const a = this.app(app);
    a.lines.push(line);
    a.bytes += text.length + 48;
    if (a.bytes > this.max) this.trim(a);
    const json = JSON.stringify(line);
    a.pending += `${json}\n`;
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => void this.flush(), 200);
      this.flushTimer.unref();
    }
    const ls = this.listeners.get(app);
    if (ls) for (const l of ls) l(line, json);
    return line;
  }

  /** Drops the oldest lines down to 90 % of the budget in one splice: shifting one line per
   *  append would copy the whole array on every line once an app is at its cap. */
  private trim(a: AppLog): void {
    const goal = this.max * 0.9;
    let n = 0;
    while (a.bytes > goal && n < a.lines.length - 1) {
      a.bytes -= a.lines[n].text.length + 48;
      n += 1;
    }
    a.lines.splice(0, n);
  }

  query(app: string, q: LogQuery = {}): LogLine[] {
    let lines = this.apps.get(app)?.lines ?? [];
    if (q.since !== undefined) lines = lines.filter((l) => l.at >= q.since!);
    if (q.instance) lines = lines.filter((l) => l.proc === q.instance);
    if (q.source) lines = lines.filter((l) => l.source === q.source);
    return q.limit ? lines.slice(-q.limit) : [...lines];
  }

  matches(line: LogLine, q: LogQuery): boolean {
    return (!q.instance || line.proc === q.instance) && (!q.source || line.source === q.source);
  }

  subscribe(app: string, listener: LogListener): () => void {
    let set = this.listeners.get(app);
    if (!set) {
      set = new Set();
      this.listeners.set(app, set);
    }
    set.add(listener);
    return () => set!.delete(listener);
  }

  /** Loads the tail of every app's log file (called once at start). */
  async load(apps: string[]): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
    for (const name of apps) {
      try {
        const text = await readFile(join(this.opts.dir, `${name}.log`), 'utf8');
        const a = this.app(name);
        for (const raw of text.split('\n')) {
          if (!raw) continue;
          try {
            const l = JSON.parse(raw) as LogLine;
            l.seq = ++this.seq;
            a.lines.push(l);
            a.bytes += l.text.length + 48;
          } catch {
            // A torn last line after a crash is skipped.
          }
        }
        if (a.bytes > this.max) this.trim(a);
      } catch {
        // No log yet.
      }
    }
  }

  async remove(app: string): Promise<void> {
    this.apps.delete(app);
    await rm(join(this.opts.dir, `${app}.log`), { force: true });
    await rm(join(this.opts.dir, `${app}.log.1`), { force: true });
  }

  memoryBytes(): number {
    let n = 0;
    for (const a of this.apps.values()) n += a.bytes;
    return n;
  }

  flush(): Promise<void> {
    this.flushTimer = null;
    this.flushing = this.flushing.then(async () => {
      await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
      for (const [name, a] of this.apps) {
        if (!a.pending) continue;
        const chunk = a.pending;
        a.pending = '';
        const file = join(this.opts.dir, `${name}.log`);
        if (a.fileBytes === null) a.fileBytes = await stat(file).then((s) => s.size, () => 0);
        if (a.fileBytes + chunk.length > this.max) {
          await rename(file, `${file}.1`).catch(() => undefined);
          a.fileBytes = 0;
        }
        await appendFile(file, chunk, { mode: 0o600 }); // created 0600: logs hold what apps print
        a.fileBytes += chunk.length;
      }
    }).catch((err: unknown) => this.log.warn({ err, dir: this.opts.dir }, 'app log lines not written to disk'));
    return this.flushing;
  }
}
