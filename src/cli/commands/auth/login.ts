import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { SummonClient } from '../../../sdk/client.js';
import { type Io } from '../../context.js';
import { saveLogin } from '../../login-file.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('login').description('save the API URL and token for later commands')
    .requiredOption('--api <url>', 'the Summon API, e.g. http://127.0.0.1:7070').requiredOption('--token <token>', 'an API token')
    .action((o: { api: string; token: string }) => run(async () => {
      let url: URL;
      try {
        url = new URL(o.api);
      } catch {
        throw new SummonError('invalid_input', `--api must be a URL like http://127.0.0.1:7070, got ${JSON.stringify(o.api)}`);
      }
      const api = url.toString().replace(/\/$/, '');
      const who = await new SummonClient({ api, token: o.token }).whoami(); // fails with 401 on a bad token
      const file = await saveLogin({ api, token: o.token }, io.env);
      io.out(`Logged in to ${api} as ${who.user.email} (token ${who.token.name}, scope ${who.token.scope}${who.token.app ? ` on ${who.token.app}` : ''}; saved in ${file}).`);
    }));
}
