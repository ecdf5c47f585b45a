import type { Command } from 'commander';
import type { Io } from '../../context.js';
import { register as usageVerb } from './usage.js';

/** `usage`: per-second metering and its cost. */
export function registerUsage(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  usageVerb(program, io, run);
}
