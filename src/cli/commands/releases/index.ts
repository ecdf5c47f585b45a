import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as infoVerb } from './info.js';
import { register as rollbackVerb } from './rollback.js';
import { register as verifyVerb } from './verify.js';

/** `releases` commands, one file per verb. */
export function registerReleases(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  infoVerb(program, io, run);
  rollbackVerb(program, io, run);
  verifyVerb(program, io, run);
}
