import type { Command } from 'commander';

import { client, json, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('apps:create <name>').description('create an app and print its git remote')
    .option('--json', 'machine-readable output')
    .action((name: string, o: { json?: boolean }) => run(async () => {
      const a = await (await client(io)).createApp(name);
      if (o.json) return json(io, a);
      io.out(`Created ${a.name}.`);
      io.out(`Git remote: ${a.gitUrl}`);
      io.out(`  git remote add summon ${a.gitUrl}`);
      io.out(`  git push summon main`);
      io.out(`Authenticate with any user name and your API token as the password (\`summon auth:token\`),`);
      io.out(`e.g. git -c credential.helper= -c http.extraHeader="Authorization: Bearer $(summon auth:token)" push summon main`);
      io.out(`App URL: ${a.url}`);
    }));
}
