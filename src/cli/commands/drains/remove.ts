import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { drainUrlText, parseDrainUrl } from '../../../drains/drain-target.js';
import { actionOut, client, jsonOption, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('drains:remove <id-or-url>').description('remove a log drain (by its id, or its URL as heroku drains:remove takes it)')
    .addOption(appOption()).addOption(jsonOption())
    .action((which: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const c = await client(io);
      let id = which;
      if (which.includes('://')) {
        const url = drainUrlText(parseDrainUrl(which));
        const found = (await c.drains(app)).find((d) => d.url === url);
        if (!found) throw new SummonError('not_found', `${app} has no drain to ${url}: see \`summon drains -a ${app}\``);
        id = found.id;
      }
      await c.removeDrain(app, id);
      actionOut(io, o).done({ app, id, removed: true }, () => io.out(`Removed drain ${id} from ${app}; what it had not delivered yet is discarded.`));
    }));
}
