import type { Command } from 'commander';
import { ago, client, json, table, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('tokens').description('list API tokens (never the tokens themselves): id, user, scope, app, state, expiry, last use')
    .option('--user <email>', "only this user's").option('--json', 'machine-readable output')
    .action((o: { user?: string; json?: boolean }) => run(async () => {
      const list = await (await client(io)).tokens(o.user ? { user: o.user } : {});
      if (o.json) return json(io, list);
      const now = Date.now();
      io.out(table(list.map((t) => ({
        id: t.id, name: t.name, user: t.user, scope: t.scope, app: t.app ?? '(all)', state: t.state, token: `${t.prefix}…`,
        expires: t.expiresAt === null ? 'never' : new Date(t.expiresAt).toISOString(), used: t.lastUsedAt === null ? 'never' : `${ago(t.lastUsedAt, now)} ago`,
      })), ['id', 'name', 'user', 'scope', 'app', 'state', 'token', 'expires', 'used']));
    }));
}
