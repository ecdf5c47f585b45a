import type { Command } from 'commander';
import type { SummonEvent } from '../../../sdk/client.js';
import { client, json, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';
import { follow } from '../../tail.js';

/** The most events one reconnection fetches to fill the gap. */
export const CATCH_UP_LIMIT = 1000;

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('events').description('the history of releases, deploys, crashes and scaling').addOption(appOption())
    .option('-n, --num <n>', 'number of events', '50').option('-t, --tail', 'keep streaming').option('--json', 'machine-readable output')
    .action((o: { app?: string; num: string; tail?: boolean; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const c = await client(io);
      const print = (e: SummonEvent) => io.out(o.json ? JSON.stringify(e) : `${new Date(e.at).toISOString()} ${e.type.padEnd(18)} ${e.message}`);
      const list = await c.events(app, { limit: Number(o.num) || 50 });
      if (o.json && !o.tail) return json(io, list);
      let last = 0;
      const once = (e: SummonEvent) => {
        if (e.id <= last) return;
        last = e.id;
        print(e);
      };
      for (const e of list) once(e);
      if (!o.tail) return;
      // Each (re)opened stream first fetches what came after the last event printed (the stream
      // itself carries only new events), so an outage or a restart of the API loses none; the
      // stream's own copies of those are skipped by id.
      await follow(io, {
        what: 'event',
        open: (signal, opened) => c.tailEvents(app, once, signal, opened),
        onOpen: async () => {
          const missed = await c.events(app, { after: last, limit: CATCH_UP_LIMIT });
          if (missed.length === CATCH_UP_LIMIT) {
            io.err(`more than ${CATCH_UP_LIMIT} events came while the stream was down; the older ones are in \`summon events -a ${app} -n N\``);
          }
          for (const e of missed) once(e);
        },
      });
    }));
}
