import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as logsVerb } from './logs.js';
import { register as eventsVerb } from './events.js';

/** `logs` commands, one file per verb. */
export function registerLogs(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  logsVerb(program, io, run);
  eventsVerb(program, io, run);
}
