import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as loginVerb } from './login.js';
import { register as tokenVerb } from './token.js';
import { register as whoamiVerb } from './whoami.js';

/** `auth` commands, one file per verb. */
export function registerAuth(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  loginVerb(program, io, run);
  tokenVerb(program, io, run);
  whoamiVerb(program, io, run);
}
