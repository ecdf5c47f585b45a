// `summon`: parse → sdk → print. Errors print what went wrong and what to do, and exit with
// the error's code (see core/errors.ts).
import { Command, CommanderError } from 'commander';
import { toSummonError } from '../core/errors.js';
import { SUMMON_VERSION } from '../core/version.js';
import { colours, type Io } from './context.js';
import { registerApps } from './commands/apps/index.js';
import { registerAuth } from './commands/auth/index.js';
import { registerConfig } from './commands/config/index.js';
import { registerHosts } from './commands/hosts/index.js';
import { registerStatus } from './commands/status/index.js';
import { registerImages } from './commands/images/index.js';
import { registerLogs } from './commands/logs/index.js';
import { registerPs } from './commands/ps/index.js';
import { registerReleases } from './commands/releases/index.js';
import { registerBuilds } from './commands/builds/index.js';
import { registerUp } from './commands/up/index.js';
import { registerAgent } from './commands/agent/index.js';
import { registerWebhooks } from './commands/webhooks/index.js';
import { registerDrains } from './commands/drains/index.js';
import { registerDomains } from './commands/domains/index.js';
import { registerCerts } from './commands/certs/index.js';
import { registerAcme } from './commands/acme/index.js';
import { registerUsers } from './commands/users/index.js';
import { registerAccess } from './commands/access/index.js';
import { registerTokens } from './commands/tokens/index.js';
import { registerAudit } from './commands/audit/index.js';
import { registerGit } from './commands/git/index.js';
import { registerOpen } from './commands/open/index.js';
import { registerDeploy } from './commands/deploy/index.js';
import { registerCompletion } from './commands/completion/index.js';
import { registerUsage } from './commands/usage/index.js';

const processIo = (): Io => ({
  out: (s) => console.log(s), err: (s) => console.error(s), env: process.env, cwd: process.cwd(), stdin: process.stdin,
  tty: process.stdout.isTTY === true, errTty: process.stderr.isTTY === true, self: [process.execPath, process.argv[1] ?? 'summon'],
  prompt: (s) => { process.stderr.write(s); },
});

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let code = 0;
  const run = async (f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      // The one place a failure becomes an exit code: its error code's (core/errors.ts, README "Exit codes").
      const err = toSummonError(e);
      io.err(`${colours(io, 'err').red('error:')} ${err.message}`);
      code = err.exitCode;
    }
  };
  const program = buildProgram(io, run);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  return code;
}

/** Every command, registered on one commander program (also what `summon completion` reads). */
export function buildProgram(io: Io, run: (f: () => Promise<void>) => Promise<void>): Command {
  const program = new Command('summon')
    .description('Summon: git push your unikernels to production')
    .version(SUMMON_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(run `summon --help` for the commands)');
  registerUp(program, io, run);
  registerAgent(program, io, run);
  registerAuth(program, io, run);
  registerApps(program, io, run);
  registerReleases(program, io, run);
  registerBuilds(program, io, run);
  registerConfig(program, io, run);
  registerPs(program, io, run);
  registerLogs(program, io, run);
  registerHosts(program, io, run);
  registerStatus(program, io, run);
  registerImages(program, io, run);
  registerWebhooks(program, io, run);
  registerDrains(program, io, run);
  registerDomains(program, io, run);
  registerCerts(program, io, run);
  registerAcme(program, io, run);
  registerUsers(program, io, run);
  registerAccess(program, io, run);
  registerTokens(program, io, run);
  registerAudit(program, io, run);
  registerGit(program, io, run);
  registerOpen(program, io, run);
  registerDeploy(program, io, run);
  registerCompletion(program, io, run);
  registerUsage(program, io, run);
  return program;
}
