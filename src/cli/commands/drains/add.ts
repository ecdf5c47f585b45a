import type { Command } from 'commander';
import { client, json, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('drains:add <url>')
    .description("send an app's log (its instances' output and Summon's lines about it) to syslog+tls://HOST:PORT, syslog://HOST:PORT or https://HOST/PATH")
    .addOption(appOption()).option('--json', 'machine-readable output')
    .action((url: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const d = await (await client(io)).addDrain(app, url);
      if (o.json) return json(io, d);
      io.out(`Added drain ${d.id} → ${d.url} for ${app}.`);
      io.out(`Lines logged from now on are sent there; \`summon drains -a ${app}\` shows how delivery goes.`);
    }));
}
