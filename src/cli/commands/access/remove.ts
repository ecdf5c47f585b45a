import type { Command } from 'commander';
import { client, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('access:remove <email>').description("take an app from a member (their tokens stop reaching it at once)")
    .requiredOption('-a, --app <name>', 'app name')
    .action((email: string, o: { app: string }) => run(async () => {
      await (await client(io)).removeAccess(o.app, email);
      io.out(`${email} no longer has access to ${o.app}.`);
    }));
}
