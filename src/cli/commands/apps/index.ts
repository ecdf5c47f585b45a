import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as createVerb } from './create.js';
import { register as infoVerb } from './info.js';
import { register as destroyVerb } from './destroy.js';

/** `apps` commands, one file per verb. */
export function registerApps(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  createVerb(program, io, run);
  infoVerb(program, io, run);
  destroyVerb(program, io, run);
}
