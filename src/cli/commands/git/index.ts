import { execFile } from 'node:child_process';
import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { client, json, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

/** Runs git in `cwd`; rejects with git's own message. */
function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new SummonError('invalid_input', 'git is not installed (or not on PATH): install git, then run this again'));
      reject(Object.assign(new Error(stderr.trim() || err.message), { gitFailed: true }));
    });
  });
}

/** One word for a POSIX shell (git runs a `!` helper through sh). */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The scheme://host[:port] git's credential requests for `url` carry (what the helper is set for). */
export function credentialOrigin(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

export function registerGit(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('git:remote').description('add (or point) the git remote `summon` at the app, with a credential helper so no token lands in the URL')
    .addOption(appOption()).option('-r, --remote <name>', 'the remote\'s name', 'summon').option('--json', 'machine-readable output')
    .action((o: { app?: string; remote: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const cwd = io.cwd ?? process.cwd();
      try {
        await git(cwd, ['rev-parse', '--git-dir']);
      } catch (e) {
        if (e instanceof SummonError) throw e;
        throw new SummonError('invalid_input', `${cwd} is not in a git repository: cd into your app's repository (or \`git init\` one), then run \`summon git:remote -a ${app}\``);
      }
      const a = await (await client(io)).app(app);
      const url = a.gitUrl;
      const remotes = (await git(cwd, ['remote'])).split('\n').map((s) => s.trim());
      const existed = remotes.includes(o.remote);
      await git(cwd, ['remote', ...(existed ? ['set-url'] : ['add']), o.remote, url]);
      // git asks `summon auth:git-credential` for this server's credentials: an empty entry first
      // so that no other helper (a store, a keychain) answers or keeps the token.
      const key = `credential.${credentialOrigin(url)}.helper`;
      const self = io.self ?? [process.execPath, process.argv[1] ?? 'summon'];
      const helper = `!${[...self, 'auth:git-credential'].map(shellQuote).join(' ')}`;
      await git(cwd, ['config', '--local', '--replace-all', key, '']);
      await git(cwd, ['config', '--local', '--add', key, helper]);
      if (o.json) return json(io, { app, remote: o.remote, url, credentialHelper: helper, updated: existed });
      io.out(`${existed ? 'Updated' : 'Added'} git remote ${o.remote} → ${url}`);
      io.out(`git asks \`summon auth:git-credential\` for the token (git config ${key}).`);
      io.out(`Deploy with: git push ${o.remote} main`);
    }));

  program.command('auth:git-credential [operation]')
    .description('git credential helper (set by `summon git:remote`): answers `get` with the saved token for the Summon API\'s host')
    .action((operation: string | undefined) => run(async () => {
      const input = await readAll(io);
      if (operation !== 'get') return; // store / erase: the token lives in Summon's login file, not here
      const req = new Map<string, string>();
      for (const line of input.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) req.set(line.slice(0, i), line.slice(i + 1).trim());
      }
      const { loadLogin } = await import('../../login-file.js');
      const login = await loadLogin(io.env);
      if (!login.api || !login.token) {
        io.err('summon: not logged in, so no credential for git: run `summon login` (or set SUMMON_API and SUMMON_TOKEN)');
        return;
      }
      let api: URL;
      try {
        api = new URL(login.api);
      } catch {
        return;
      }
      // Only the server the login is for gets the token.
      if (req.get('protocol') !== api.protocol.replace(/:$/, '') || req.get('host') !== api.host) return;
      io.out(`username=summon\npassword=${login.token}`);
    }));
}

function readAll(io: Io): Promise<string> {
  const stdin = io.stdin ?? process.stdin;
  return new Promise((resolve, reject) => {
    let buf = '';
    stdin.setEncoding?.('utf8');
    stdin.on('data', (c: string | Buffer) => {
      buf += String(c);
      // git ends its request with a blank line (and may keep the pipe open).
      if (/\n\n$|^\n$/.test(buf)) done();
    });
    stdin.once('end', () => done());
    stdin.once('error', reject);
    function done(): void {
      stdin.removeAllListeners('data');
      stdin.pause?.();
      resolve(buf);
    }
  });
}
