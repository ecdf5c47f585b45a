import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as addVerb } from './add.js';
import { register as removeVerb } from './remove.js';

/** `access` commands (as `heroku access`: an app's collaborators), one file per verb. */
export function registerAccess(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  addVerb(program, io, run);
  removeVerb(program, io, run);
}
