// An instance's stdout and stderr as named pipes (FIFOs) in the runtime's state directory
// instead of anonymous pipes to Summon, so an instance outlives a restart of Summon: the
// instance gets each FIFO opened read-write, so its writes never fail with EPIPE however often
// Summon's end goes away (with nobody reading, a write blocks once the pipe's 64 KiB are
// full, as a write to a slow log collector would); Summon reads through its own read-only
// end, and a Summon started again opens that end again and goes on reading where the last
// one stopped. What was in the pipe is not lost across the restart.
import { execFile } from 'node:child_process';
import { closeSync, constants, openSync, renameSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';

export interface ConsolePaths {
  out: string;
  err: string;
}

export function consolePaths(dir: string, id: string): ConsolePaths {
  return { out: join(dir, `${id}.out`), err: join(dir, `${id}.err`) };
}

function mkfifo(paths: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('mkfifo', ['-m', '0600', '--', ...paths], (err) => (err ? reject(new Error(`mkfifo failed: ${err.message}`)) : resolve()));
  });
}

/**
 * Makes the FIFO pairs, one spare made ahead (mkfifo is a process: ~2-5 ms that a cold
 * start should not wait for), renamed to the instance's names when it is taken.
 */
export class ConsoleFifos {
  private spare: Promise<ConsolePaths> | null = null;
  private n = 0;

  constructor(private readonly dir: string) {}

  private make(): Promise<ConsolePaths> {
    const p = consolePaths(this.dir, `.spare-${process.pid}-${this.n++}`);
    const made = mkfifo([p.out, p.err]).then(() => p);
    made.catch(() => undefined);
    return made;
  }

  /** The instance's pair, made (renamed from the spare) at consolePaths(dir, id). */
  async take(id: string): Promise<ConsolePaths> {
    const spare = this.spare ?? this.make();
    this.spare = this.make();
    const from = await spare;
    const to = consolePaths(this.dir, id);
    renameSync(from.out, to.out);
    renameSync(from.err, to.err);
    return to;
  }

  /** Removes an unused spare (on close). */
  async close(): Promise<void> {
    const s = this.spare;
    this.spare = null;
    const p = await s?.catch(() => null);
    if (p) removeConsole(p);
  }
}

/** The instance's ends: read-write descriptors to hand to spawn (close them once it has). */
export function writerFds(p: ConsolePaths): [number, number] {
  const out = openSync(p.out, constants.O_RDWR);
  try {
    return [out, openSync(p.err, constants.O_RDWR)];
  } catch (e) {
    closeSync(out);
    throw e;
  }
}

/** Summon's read end of one FIFO, as a stream; it ends once every writer is gone. */
export function readerOf(path: string): Socket {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  return new Socket({ fd, readable: true, writable: false });
}

export function removeConsole(p: ConsolePaths): void {
  rmSync(p.out, { force: true });
  rmSync(p.err, { force: true });
}
