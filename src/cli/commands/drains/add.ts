import type { Command } from 'commander';
import { client, json, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('drains:add <url>')
    .description("send an app's log (its instances' output and Summon's lines about it) to syslog+tls://HOST:PORT, syslog://HOST:PORT or https://HOST/PATH")
    .requiredOption('-a, --app <name>', 'app name').option('--json', 'machine-readable output')
    .action((url: string, o: { app: string; json?: boolean }) => run(async () => {
      const d = await (await client(io)).addDrain(o.app, url);
      if (o.json) return json(io, d);
      io.out(`Added drain ${d.id} → ${d.url} for ${o.app}.`);
      io.out(`Lines logged from now on are sent there; \`summon drains -a ${o.app}\` shows how delivery goes.`);
    }));
}
