import type { Command } from 'commander';
import { client, json, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('access:add <email>').description('give a member an app: they see it and, with a deploy token, push, deploy and configure it')
    .addOption(appOption()).option('--json', 'machine-readable output')
    .action((email: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const a = await (await client(io)).addAccess(app, email);
      if (o.json) return json(io, a);
      io.out(`${a.email} now has access to ${app}.`);
    }));
}
