// Which app a command acts on, as heroku finds it: `-a APP` (or the command's NAME argument),
// else SUMMON_APP, else the git remote named `summon` in the current directory (the one
// `summon git:remote -a APP` adds). One option definition for every command that takes an app.
import { execFile } from 'node:child_process';
import { Option } from 'commander';
import { SummonError } from '../core/errors.js';
import type { Io } from './context.js';

export const APP_HELP = 'the app (default: SUMMON_APP, or the `summon` git remote of the current directory)';

/** The one `-a, --app` definition; `help` for a command where it means something narrower (a filter). */
export function appOption(help = APP_HELP): Option {
  return new Option('-a, --app <name>', help);
}

/** The app name in a Summon git URL: http(s)://HOST/git/NAME.git (credentials in it ignored). */
export function appFromGitUrl(url: string): string | null {
  const m = /\/git\/([^/?#]+?)(?:\.git)?\/?(?:[?#].*)?$/.exec(url.trim());
  return m ? decodeURIComponent(m[1]) : null;
}

/** The URL of the git remote `name` in `cwd`, or null (no repository, no such remote, no git). */
export function gitRemoteUrl(cwd: string, name = 'summon'): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', ['config', '--get', `remote.${name}.url`], { cwd, timeout: 10_000 }, (err, stdout) => {
      resolve(err ? null : stdout.trim() || null);
    });
  });
}

/**
 * The app of a command: `positional` (e.g. `apps:info NAME`) or `-a`, which must agree when
 * both are given; else SUMMON_APP; else the `summon` git remote here. None: exit 2 saying how
 * to give one.
 */
export async function appName(io: Io, o: { app?: string }, positional?: string): Promise<string> {
  if (positional && o.app && positional !== o.app) {
    throw new SummonError('invalid_input', `two different apps given: ${positional} and -a ${o.app}; give one`);
  }
  const given = positional || o.app;
  if (given) return given;
  if (io.env.SUMMON_APP) return io.env.SUMMON_APP;
  const cwd = io.cwd ?? process.cwd();
  const url = await gitRemoteUrl(cwd);
  if (url) {
    const name = appFromGitUrl(url);
    if (name) return name;
    throw new SummonError('invalid_input', `the git remote \`summon\` here (${redact(url)}) is not a Summon app URL (…/git/APP.git): ` +
      'give the app with -a APP, or set SUMMON_APP, or run `summon git:remote -a APP` to point the remote at it');
  }
  throw new SummonError('invalid_input', 'no app given, and none found in SUMMON_APP or a `summon` git remote here: ' +
    'give one with -a APP, or set SUMMON_APP=APP, or run `summon git:remote -a APP` in your app\'s repository');
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
