// Bare git repositories, one per app (dir/<app>.git), each with Summon's pre-receive hook.
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rm, stat, writeFile, rename } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { InvalidInputError } from '../core/errors.js';
import { checkAppName } from '../core/names.js';

const run = promisify(execFile);

export interface RepoManagerOptions {
  /** Where the bare repositories live. */
  dir: string;
  /** Absolute path of the compiled hook entry (dist/src/git/hook.js). */
  hookScript: string;
  /** Node binary the hook runs with; defaults to this process's, so it works without PATH. */
  nodePath?: string;
}

export class RepoManager {
  readonly dir: string;
  private readonly hookScript: string;
  private readonly nodePath: string;

  constructor(opts: RepoManagerOptions) {
    if (!opts || typeof opts.dir !== 'string' || !isAbsolute(opts.dir)) {
      throw new InvalidInputError('RepoManager: dir must be an absolute path', { key: 'dir' });
    }
    if (typeof opts.hookScript !== 'string' || !isAbsolute(opts.hookScript)) {
      throw new InvalidInputError('RepoManager: hookScript must be an absolute path (dist/src/git/hook.js)', { key: 'hookScript' });
    }
    const nodePath = opts.nodePath ?? process.execPath;
    if (!isAbsolute(nodePath)) throw new InvalidInputError('RepoManager: nodePath must be absolute', { key: 'nodePath' });
    this.dir = opts.dir;
    this.hookScript = opts.hookScript;
    this.nodePath = nodePath;
  }

  /** The bare repository directory of an app (whether or not it exists). */
  path(app: string): string {
    return join(this.dir, `${checkAppName(app)}.git`);
  }

  async exists(app: string): Promise<boolean> {
    try {
      return (await stat(join(this.path(app), 'HEAD'))).isFile();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * Creates the repository, or repairs an existing one: config and hook are rewritten every
   * time, so a moved installation (new node or dist path) is fixed by calling create again.
   */
  async create(app: string): Promise<string> {
    const dir = this.path(app);
    await mkdir(this.dir, { recursive: true });
    if (!(await this.exists(app))) {
      await git(['init', '--quiet', '--bare', '--initial-branch=main', '--', dir]);
    }
    const cfg = (k: string, v: string) => git(['--git-dir', dir, 'config', k, v]);
    await cfg('http.receivepack', 'true');
    // The history is the audit trail of what was deployed; deleting main is refused by the
    // hook too, this makes it hold even if the hook is bypassed.
    await cfg('receive.denyDeletes', 'true');
    await cfg('core.logAllRefUpdates', 'true');
    await this.installHook(dir);
    return dir;
  }

  async remove(app: string): Promise<void> {
    await rm(this.path(app), { recursive: true, force: true });
  }

  /**
   * At start: every existing repository whose hook is not this installation's (an upgrade that
   * moved the compiled hook, another node binary, a hook lost) gets it again, so a push after an
   * upgrade reaches this Summon's pipeline. Returns the apps whose hook was rewritten.
   */
  async repairHooks(apps: string[]): Promise<string[]> {
    const fixed: string[] = [];
    for (const app of apps) {
      if (!(await this.exists(app))) continue;
      const dir = this.path(app);
      const now = await readFile(join(dir, 'hooks', 'pre-receive'), 'utf8').catch(() => null);
      if (now === this.hookText()) continue;
      await this.installHook(dir);
      fixed.push(app);
    }
    return fixed;
  }

  private hookText(): string {
    return '#!/bin/sh\n' +
      '# Installed by Summon: hands the push to the build pipeline (see src/git/hook.ts).\n' +
      `exec ${shQuote(this.nodePath)} ${shQuote(this.hookScript)}\n`;
  }

  private async installHook(dir: string): Promise<void> {
    const hooks = join(dir, 'hooks');
    await mkdir(hooks, { recursive: true });
    const script = this.hookText();
    const tmp = join(hooks, `.pre-receive.${process.pid}.tmp`);
    await writeFile(tmp, script, { mode: 0o755 });
    await chmod(tmp, 0o755);
    await rename(tmp, join(hooks, 'pre-receive'));
  }
}

/** Single-quotes a path for sh (paths are ours, but may contain spaces). */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function git(args: string[]): Promise<void> {
  await run('git', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', GIT_CONFIG_NOSYSTEM: '1' } });
}
