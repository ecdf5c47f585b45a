import type { Command } from 'commander';
import { SCOPES, type Scope } from '../../../core/access.js';
import { SummonError } from '../../../core/errors.js';
import { client, json, type Io } from '../../context.js';
import { appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('tokens:create').description('make an API token (shown once): admin, deploy (push, deploy, roll back, read), read (GET only) or metrics (/metrics only)')
    .requiredOption('--scope <scope>', 'admin, deploy, read or metrics')
    .addOption(appOption('the one app the token is for (default: every app its user reaches)'))
    .option('--expires <d>', 'lifetime like 90d, 12h or 30m, or never', 'never')
    .option('--name <name>', 'what it is for, shown in `summon tokens` and the audit log (default: the scope and app)')
    .option('--user <email>', 'the user it acts as (default: you)')
    .option('--json', 'machine-readable output')
    .action((o: { scope: string; app?: string; expires: string; name?: string; user?: string; json?: boolean }) => run(async () => {
      if (!(SCOPES as readonly string[]).includes(o.scope)) throw new SummonError('invalid_input', `--scope must be one of ${SCOPES.join(', ')}, got ${JSON.stringify(o.scope)}`);
      const t = await (await client(io)).createToken({
        scope: o.scope as Scope, expires: o.expires,
        ...(o.app ? { app: o.app } : {}), ...(o.name ? { name: o.name } : {}), ...(o.user ? { user: o.user } : {}),
      });
      if (o.json) return json(io, t);
      io.out(`Created token ${t.id} (${t.name}) for ${t.user}: scope ${t.scope}${t.app ? ` on ${t.app}` : ''}, ` +
        `${t.expiresAt === null ? 'no expiry' : `expires ${new Date(t.expiresAt).toISOString()}`}.`);
      io.out(t.token);
      io.out('It is shown this once: Summon keeps only its hash. Revoke it with `summon tokens:revoke ' + t.id + '`.');
    }));
}
