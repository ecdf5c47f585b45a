import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { SummonClient } from '../../../sdk/client.js';
import { type Io } from '../../context.js';
import { loadLogin, saveLogin } from '../../login-file.js';

/**
 * The token from stdin: typed at a terminal without echo (Enter ends it, Ctrl-C cancels), or
 * the first line of a pipe (`summon login < token-file`).
 */
export function readToken(io: Io): Promise<string> {
  const stdin = io.stdin ?? process.stdin;
  return new Promise((resolve, reject) => {
    let buf = '';
    const tty = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
    if (tty) {
      (io.prompt ?? io.err)('Token (input hidden; `summon auth:token` prints it where Summon runs): ');
      stdin.setRawMode!(true);
    }
    stdin.setEncoding?.('utf8');
    const finish = (err?: Error) => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      if (tty) {
        stdin.setRawMode!(false);
        (io.prompt ?? io.err)('\n');
      }
      stdin.pause?.();
      if (err) reject(err);
      else resolve(buf.trim());
    };
    const onData = (c: string | Buffer) => {
      for (const ch of String(c)) {
        if (tty && ch === '\u0003') return finish(new SummonError('invalid_input', 'login cancelled'));
        if (tty && (ch === '\u007f' || ch === '\b')) {
          buf = buf.slice(0, -1);
          continue;
        }
        if (ch === '\n' || ch === '\r') return finish();
        buf += ch;
      }
    };
    const onEnd = () => finish();
    stdin.on('data', onData);
    stdin.once('end', onEnd);
  });
}

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('login').description('save the API URL and token for later commands (the token is read from the terminal, hidden, or from a pipe)')
    .option('--api <url>', 'the Summon API, e.g. http://127.0.0.1:7070 (default: SUMMON_API or the saved login\'s)')
    .option('--token <token>', 'an API token (default: prompted for; a token on the command line stays in your shell history)')
    .action((o: { api?: string; token?: string }) => run(async () => {
      const apiText = o.api ?? (await loadLogin(io.env)).api;
      if (!apiText) throw new SummonError('invalid_input', 'which Summon? give --api URL, e.g. `summon login --api http://127.0.0.1:7070`');
      let url: URL;
      try {
        url = new URL(apiText);
      } catch {
        throw new SummonError('invalid_input', `--api must be a URL like http://127.0.0.1:7070, got ${JSON.stringify(apiText)}`);
      }
      const api = url.toString().replace(/\/$/, '');
      const token = o.token ?? await readToken(io);
      if (!token) throw new SummonError('invalid_input', 'no token given: type or pipe the API token (`summon auth:token` prints it where Summon runs, `summon tokens:create --scope deploy` makes one)');
      const who = await new SummonClient({ api, token }).whoami(); // fails with 401 on a bad token
      const file = await saveLogin({ api, token }, io.env);
      io.out(`Logged in to ${api} as ${who.user.email} (token ${who.token.name}, scope ${who.token.scope}${who.token.app ? ` on ${who.token.app}` : ''}; saved in ${file}).`);
    }));
}
