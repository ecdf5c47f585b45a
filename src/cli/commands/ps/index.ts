import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as listVerb } from './list.js';
import { register as scaleVerb } from './scale.js';
import { register as restartVerb } from './restart.js';
import { register as autoscaleVerb } from './autoscale.js';

/** `ps` commands, one file per verb. */
export function registerPs(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  listVerb(program, io, run);
  scaleVerb(program, io, run);
  restartVerb(program, io, run);
  autoscaleVerb(program, io, run);
}
