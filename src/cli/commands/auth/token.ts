import type { Command } from 'commander';

import { client, type Io } from '../../context.js';
import { loadLogin } from '../../login-file.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('auth:token').description('print the API token')
    .action(() => run(async () => {
      await client(io);
      io.out((await loadLogin(io.env)).token!);
    }));
}
