// Summon's own logs (the apps' console lines are control/log-store.ts). One logger per process,
// made by the composition root (server.ts for `summon up`, agent-node.ts for `summon agent`) and
// handed down through constructors; a part given none writes nowhere. Lines go to stderr, so
// stdout keeps what the commands print for people and scripts (the `summon up` block): one JSON
// object per line where stderr is a file or a pipe (for a log collector), pino-pretty's
// readable form where it is a terminal.
import pino from 'pino';
import pretty from 'pino-pretty';
import { InvalidInputError } from '../core/errors.js';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A level as given on the command line; refused naming the flag. */
export function parseLogLevel(v: unknown, flag = '--log-level'): LogLevel {
  if (typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new InvalidInputError(`${flag} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(v)}`);
}

export interface LoggerOptions {
  /** Default info. */
  level?: LogLevel;
  /** On every line, e.g. "summon up". */
  name?: string;
  /** Where lines go (default: stderr). Tests hand a stream they read. */
  destination?: pino.DestinationStream;
  /** Readable lines instead of JSON (default: when lines go to stderr and it is a terminal). */
  pretty?: boolean;
}

export function createLogger(o: LoggerOptions = {}): Logger {
  const level = parseLogLevel(o.level ?? 'info', 'log level');
  const isPretty = o.pretty ?? (o.destination === undefined && process.stderr.isTTY === true);
  // Synchronous writes: the last lines before a crash or an exit are not lost in a buffer, and
  // they interleave with stdout in the order they happened.
  const destination = isPretty
    ? pretty({ destination: o.destination ?? 2, sync: true, colorize: o.destination === undefined, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', singleLine: true })
    : o.destination ?? pino.destination({ fd: 2, sync: true });
  return pino({ level, ...(o.name ? { name: o.name } : {}) }, destination);
}

/** For a part constructed without a logger (unit tests, embedders that want none). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
