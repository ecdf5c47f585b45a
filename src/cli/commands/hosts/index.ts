import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as eventsVerb } from './events.js';
import { register as credentialVerb } from './credential.js';
import { register as joinVerb } from './join.js';
import { register as removeVerb } from './remove.js';
import { register as drainVerb } from './drain.js';

/** `hosts` commands, one file per verb. */
export function registerHosts(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  eventsVerb(program, io, run);
  credentialVerb(program, io, run);
  joinVerb(program, io, run);
  removeVerb(program, io, run);
  drainVerb(program, io, run);
}
