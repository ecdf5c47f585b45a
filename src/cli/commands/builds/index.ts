import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as infoVerb } from './info.js';

/** `builds` commands, one file per verb. */
export function registerBuilds(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  infoVerb(program, io, run);
}
