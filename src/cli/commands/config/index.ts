import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as setVerb } from './set.js';
import { register as unsetVerb } from './unset.js';

/** `config` commands, one file per verb. */
export function registerConfig(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  setVerb(program, io, run);
  unsetVerb(program, io, run);
}
