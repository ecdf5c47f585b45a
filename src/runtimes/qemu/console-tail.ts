// Follows the serial console file QEMU writes and hands each complete line to a callback.
// inotify (fs.watch) delivers promptly; a slow poll covers filesystems where it does not.
import { open, type FileHandle } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export class ConsoleTail {
  private fh: FileHandle | undefined;
  private pos = 0;
  private partial = '';
  private readonly decoder = new StringDecoder('utf8');
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string) => void,
    private readonly pollMs = 250,
    private readonly maxLine = 16 * 1024,
  ) {}

  /** Starts following; the file may not exist yet (QEMU creates it). */
  start(): void {
    this.timer = setInterval(() => this.kick(), this.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Reads what is left, flushes an unterminated last line, and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.watcher?.close();
    await this.reading;
    await this.drain();
    if (this.partial) this.onLine(this.partial);
    this.partial = '';
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.drain()
      .catch(() => {})
      .finally(() => {
        this.reading = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async drain(): Promise<void> {
    if (!this.fh) {
      try {
        this.fh = await open(this.path, 'r');
      } catch {
        return; // not created yet
      }
      if (!this.stopped) {
        try {
          this.watcher = watch(this.path, () => this.kick());
          this.watcher.on('error', () => {});
        } catch {
          // polling alone still works
        }
      }
    }
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      this.partial += this.decoder.write(buf.subarray(0, bytesRead));
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        this.onLine(this.partial.slice(0, nl).replace(/\r$/, ''));
        this.partial = this.partial.slice(nl + 1);
      }
      if (this.partial.length > this.maxLine) {
        this.onLine(this.partial);
        this.partial = '';
      }
    }
  }
}
