import type { Command } from 'commander';
import { actionOut, client, json, jsonOption, table, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

/** `domains`, `domains:add`, `domains:remove` (as `heroku domains`). */
export function registerDomains(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('domains').description("list an app's custom domains and the certificate that serves each")
    .addOption(appOption()).option('--json', 'machine-readable output')
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const list = await (await client(io)).domains(app);
      if (o.json) return json(io, list);
      if (!list.length) {
        io.out(`${app} has no custom domains. Add one: summon domains:add -a ${app} www.example.com`);
        return;
      }
      io.out(table(list.map((d) => ({
        domain: d.host, added: new Date(d.createdAt).toISOString().slice(0, 10),
        certificate: d.certificate ? d.certificate.slice(0, 16) : 'none (summon certs:add)',
      })), ['domain', 'added', 'certificate']));
    }));

  program.command('domains:add <host>')
    .description('give the app a custom domain (www.example.com, or *.example.com for every name one label under it); point its DNS at the router')
    .addOption(appOption()).option('--json', 'machine-readable output')
    .action((host: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const d = await (await client(io)).addDomain(app, host);
      if (o.json) return json(io, d);
      io.out(`Added ${d.host} to ${app}.`);
      io.out(`Point its DNS (an A/AAAA or CNAME record) at this Summon's router; requests with Host: ${d.host} reach ${app}.`);
      if (!d.certificate) io.out(`For HTTPS, add a certificate that covers it: summon certs:add -a ${app} --cert cert.pem --key key.pem`);
    }));

  program.command('domains:remove <host>').description('take a custom domain away from the app (requests for it get 404 at once)')
    .addOption(appOption()).addOption(jsonOption())
    .action((raw: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const host = raw.trim().toLowerCase();
      await (await client(io)).removeDomain(app, host);
      actionOut(io, o).done({ app, host, removed: true }, () => io.out(`Removed ${host} from ${app}.`));
    }));
}
