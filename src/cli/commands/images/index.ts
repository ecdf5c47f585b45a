import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as exportVerb } from './export.js';

/** `images` commands, one file per verb. */
export function registerImages(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  exportVerb(program, io, run);
}
