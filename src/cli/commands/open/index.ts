import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Command } from 'commander';
import { client, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

/** The path of `name` on PATH, or null. */
export function onPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

export function registerOpen(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('open [path]').description('print the app\'s URL, and open it in a browser when on a terminal with xdg-open')
    .addOption(appOption())
    .action((path: string | undefined, o: { app?: string }) => run(async () => {
      const app = await appName(io, o);
      const a = await (await client(io)).app(app);
      const url = path ? new URL(path.replace(/^\/*/, '/'), a.url).toString() : a.url;
      io.out(url);
      const opener = io.tty ? onPath('xdg-open', io.env.PATH) : null;
      if (!opener) return;
      const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
      child.on('error', () => {});
      child.unref();
    }));
}
