import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as addVerb } from './add.js';
import { register as removeVerb } from './remove.js';

/** `users` commands (admins only), one file per verb. */
export function registerUsers(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  addVerb(program, io, run);
  removeVerb(program, io, run);
}
