import type { Command } from 'commander';
import { actionOut, ago, client, json, jsonOption, table, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';
import { DEFAULT_WEBHOOK_EVENTS } from '../../../notify/events.js';

export function registerWebhooks(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('webhooks').description('list the webhooks of an app').addOption(appOption()).option('--json', 'machine-readable output')
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const list = await (await client(io)).webhooks(app);
      if (o.json) return json(io, list);
      if (!list.length) {
        io.out(`${app} has no webhooks. Add one: summon webhooks:add -a ${app} https://hooks.example.com/summon`);
        return;
      }
      io.out(table(list.map((h) => ({ id: h.id, url: h.url, events: h.events.join(','), created: `${ago(h.createdAt)} ago` })), ['id', 'url', 'events', 'created']));
    }));

  program.command('webhooks:add <url>').description('POST signed JSON to URL on events of an app')
    .addOption(appOption())
    .option('--events <list>', 'comma-separated event types (release.*, * allowed)', DEFAULT_WEBHOOK_EVENTS.join(','))
    .option('--json', 'machine-readable output')
    .action((url: string, o: { app?: string; events: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const events = o.events.split(',').map((s) => s.trim()).filter(Boolean);
      const h = await (await client(io)).addWebhook(app, url, events);
      if (o.json) return json(io, h);
      io.out(`Added webhook ${h.id} → ${h.url} for ${h.events.join(', ')}.`);
      io.out(`Signing secret (shown only now): ${h.secret}`);
      io.out('Each POST carries X-Summon-Signature: sha256=<hex HMAC-SHA256 of the raw body with this secret>.');
    }));

  program.command('webhooks:remove <id>').description('remove a webhook').addOption(appOption()).addOption(jsonOption())
    .action((id: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      await (await client(io)).removeWebhook(app, id);
      actionOut(io, o).done({ app, id, removed: true }, () => io.out(`Removed webhook ${id} from ${app}.`));
    }));

  program.command('webhooks:deliveries').description('recent webhook delivery attempts, newest first')
    .addOption(appOption()).option('-n, --num <n>', 'how many', '50').option('--json', 'machine-readable output')
    .action((o: { app?: string; num: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const list = await (await client(io)).webhookDeliveries(app, { limit: Number(o.num) });
      if (o.json) return json(io, list);
      if (!list.length) {
        io.out(`No webhook deliveries for ${app} yet.`);
        return;
      }
      const now = Date.now();
      io.out(table(list.map((d) => ({
        id: d.id, webhook: d.webhookId, event: d.event, attempt: d.attempt, status: d.status,
        result: d.ok ? 'ok' : `failed${d.error ? `: ${d.error}` : ''}`, when: `${ago(d.at, now)} ago`,
      })), ['id', 'webhook', 'event', 'attempt', 'status', 'when', 'result']));
    }));
}
