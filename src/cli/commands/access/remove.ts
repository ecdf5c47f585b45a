import type { Command } from 'commander';
import { actionOut, client, jsonOption, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('access:remove <email>').description("take an app from a member (their tokens stop reaching it at once)")
    .addOption(appOption()).addOption(jsonOption())
    .action((email: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      await (await client(io)).removeAccess(app, email);
      actionOut(io, o).done({ app, email, removed: true }, () => io.out(`${email} no longer has access to ${app}.`));
    }));
}
