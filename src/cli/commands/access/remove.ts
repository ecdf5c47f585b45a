import type { Command } from 'commander';
import { client, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('access:remove <email>').description("take an app from a member (their tokens stop reaching it at once)")
    .addOption(appOption())
    .action((email: string, o: { app?: string }) => run(async () => {
      const app = await appName(io, o);
      await (await client(io)).removeAccess(app, email);
      io.out(`${email} no longer has access to ${app}.`);
    }));
}
