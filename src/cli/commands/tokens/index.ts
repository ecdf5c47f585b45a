import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as createVerb } from './create.js';
import { register as revokeVerb } from './revoke.js';

/** `tokens` commands (admins only), one file per verb. */
export function registerTokens(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  createVerb(program, io, run);
  revokeVerb(program, io, run);
}
