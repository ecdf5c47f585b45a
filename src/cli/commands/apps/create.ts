import type { Command } from 'commander';

import { client, json, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('apps:create <name>').alias('create').description('create an app and print its git remote')
    .option('--json', 'machine-readable output')
    .action((name: string, o: { json?: boolean }) => run(async () => {
      const a = await (await client(io)).createApp(name);
      if (o.json) return json(io, a);
      io.out(`Created ${a.name}.`);
      io.out(`Git remote: ${a.gitUrl}`);
      io.out('In your app\'s repository (git asks Summon for the token; none lands in the URL):');
      io.out(`  summon git:remote -a ${a.name}`);
      io.out('  git push summon main');
      io.out('(Elsewhere, e.g. in CI: any user name, and an API token as the password: `summon tokens:create --scope deploy`.)');
      io.out(`App URL: ${a.url}`);
    }));
}
