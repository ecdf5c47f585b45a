// A minimal QMP (QEMU Machine Protocol) client spoken directly over a unix socket:
// read the greeting, negotiate capabilities, then send commands and receive replies and
// asynchronous events. Replies are matched to commands by an `id` we attach.
import { connect, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export class QmpError extends Error {
  readonly errorClass: string;
  constructor(command: string, errorClass: string, desc: string) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
    this.name = 'QmpError';
    this.errorClass = errorClass;
  }
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface QmpConnectOptions {
  /** How long to keep retrying while the socket does not exist yet or refuses (QEMU still starting). */
  timeoutMs?: number;
  /** Stops the retrying (e.g. QEMU exited while we waited for its socket). */
  signal?: AbortSignal;
}

/**
 * One QMP session. Emits 'event' (QmpEvent) for every asynchronous event and 'close'
 * when the connection ends (QEMU exited or closed it).
 */
export class QmpClient extends EventEmitter {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  /** The greeting's QEMU version, e.g. "7.2.22". */
  version = '';

  private constructor(private readonly socket: Socket) {
    super();
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    for (;;) {
      if (opts.signal?.aborted) throw new Error(`gave up connecting to QMP socket ${path}: ${String(opts.signal.reason ?? 'aborted')}`);
      try {
        const socket = await openSocket(path);
        const client = new QmpClient(socket);
        await client.handshake(Math.max(500, deadline - Date.now()));
        return client;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const retryable = code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EAGAIN';
        if (!retryable || Date.now() > deadline) {
          throw new Error(`cannot open QMP socket ${path}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private handshake(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        reject(new Error(`no QMP greeting within ${timeoutMs} ms`));
      }, timeoutMs);
      const onGreeting = (msg: Record<string, unknown>): void => {
        clearTimeout(timer);
        const v = (msg.QMP as { version?: { qemu?: { major: number; minor: number; micro: number } } })?.version?.qemu;
        if (v) this.version = `${v.major}.${v.minor}.${v.micro}`;
        this.execute('qmp_capabilities').then(() => resolve(), reject);
      };
      this.once('greeting', onGreeting);
      this.socket.setEncoding('utf8');
      this.socket.on('data', (chunk: string) => this.onData(chunk));
      this.socket.on('error', () => {
        // 'close' follows and fails whatever is pending.
      });
      this.socket.on('close', () => {
        clearTimeout(timer);
        this.closed = true;
        for (const p of this.pending.values()) p.reject(new Error(`QMP connection closed before ${p.command} answered`));
        this.pending.clear();
        reject(new Error('QMP connection closed during the greeting'));
        this.emit('close');
      });
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // QMP speaks one JSON object per line; anything else is noise
      }
      if ('QMP' in msg) this.emit('greeting', msg);
      else if ('event' in msg) this.emit('event', msg as unknown as QmpEvent);
      else if ('return' in msg || 'error' in msg) {
        const id = String(msg.id ?? '');
        const p = this.pending.get(id);
        if (!p) continue;
        this.pending.delete(id);
        if ('error' in msg) {
          const err = msg.error as { class?: string; desc?: string };
          p.reject(new QmpError(p.command, err.class ?? 'GenericError', err.desc ?? 'unknown error'));
        } else p.resolve(msg.return);
      }
    }
  }

  /** Sends a command and resolves with its `return` value; rejects if QEMU does not answer within timeoutMs. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`QMP connection is closed; cannot send ${command}`));
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      // A stopped or wedged QEMU never answers; the caller must get control back.
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        command,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    });
  }

  /** Resolves with the next event named `name`, or rejects after timeoutMs. */
  waitForEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const onEvent = (ev: QmpEvent): void => {
        if (ev.event !== name) return;
        cleanup();
        resolve(ev);
      };
      const onClose = (): void => {
        cleanup();
        reject(new Error(`QMP connection closed before event ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no QMP event ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      this.on('event', onEvent);
      this.once('close', onClose);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}
