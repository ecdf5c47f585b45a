import type { Command } from 'commander';
import { client, json, table, type Io } from '../../context.js';
import { appOption } from '../../app.js';

/** `summon audit`: every change through the API or git — who, what, when, from where, how it ended. */
export function registerAudit(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('audit').description('the audit log: every change through the API or git, with who, what, when, from which address and the outcome')
    .addOption(appOption("only this app's (not looked up from SUMMON_APP or the git remote: without -a, every app's)")).option('-n, --num <n>', 'number of entries (newest)', '100').option('--json', 'machine-readable output')
    .action((o: { app?: string; num: string; json?: boolean }) => run(async () => {
      const list = await (await client(io)).audit({ ...(o.app ? { app: o.app } : {}), limit: Number(o.num) || 100 });
      if (o.json) return json(io, list);
      if (!list.length) return io.out(o.app ? `Nothing changed ${o.app} yet.` : 'Nothing changed yet.');
      io.out(table(list.map((e) => ({
        time: new Date(e.at).toISOString(), who: e.tokenName ? `${e.actor} (${e.tokenName})` : e.actor, from: e.address,
        action: e.action, app: e.app, outcome: e.status !== null ? `${e.outcome} ${e.status}` : e.outcome,
        detail: Object.keys(e.detail).length ? JSON.stringify(e.detail) : '',
      })), ['time', 'who', 'from', 'action', 'app', 'outcome', 'detail']));
    }));
}
