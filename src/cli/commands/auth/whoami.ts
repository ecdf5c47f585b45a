import type { Command } from 'commander';
import { client, json, type Io } from '../../context.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('auth:whoami').description('who the saved token acts as: user, role, scope, app and expiry').option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => run(async () => {
      const w = await (await client(io)).whoami();
      if (o.json) return json(io, w);
      io.out(`${w.user.email} (${w.user.role}), token ${w.token.id} (${w.token.name}): scope ${w.token.scope}` +
        `${w.token.app ? ` on ${w.token.app}` : ''}, ${w.token.expiresAt === null ? 'no expiry' : `expires ${new Date(w.token.expiresAt).toISOString()}`}`);
      io.out(`Apps: ${w.apps === 'all' ? 'every app' : w.apps.join(', ') || 'none'}`);
    }));
}
