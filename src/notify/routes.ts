// API routes for webhooks: list, add (the secret is shown once, in the answer), remove, and
// the record of delivery attempts.
import type { FastifyInstance } from 'fastify';
import { InvalidInputError, NotFoundError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { checkAppName } from '../core/names.js';
import type { Store, Webhook } from '../store/store.js';
import { DEFAULT_WEBHOOK_EVENTS, EVENT_PATTERN } from './events.js';
import { newWebhookSecret } from './webhooks.js';
import { shownUrl, urlProblem } from './webhook-targets.js';
import { route } from '../api/route.js';
import type { WebhookView } from '../sdk/types.js';

export type { WebhookView };

export function webhookView(h: Webhook): WebhookView {
  const { secret: _secret, ...rest } = h;
  return rest;
}

/** `allowPrivate`: `summon up --webhooks-allow-private` (loopback, private, metadata targets too). */
export function checkWebhookUrl(raw: unknown, allowPrivate = false): string {
  if (typeof raw !== 'string' || !raw) throw new InvalidInputError('a webhook needs a URL, e.g. https://hooks.example.com/summon');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new InvalidInputError(`webhook URL is not a URL: ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidInputError(`webhook URL must be http:// or https://, got ${u.protocol}`);
  const problem = urlProblem(u, allowPrivate);
  if (problem) {
    const url = shownUrl(u);
    const fix = u.username || u.password
      ? 'add it without them; a receiver tells Summon\'s deliveries from others by their X-Summon-Signature'
      : 'webhooks may not target loopback, private, link-local or cloud-metadata addresses (from inside the network Summon runs in): use a public address, or, for a receiver on your own network, start Summon with `summon up --webhooks-allow-private`';
    throw new InvalidInputError(`webhook URL ${url} is refused: ${problem}; ${fix}`, { url, reason: problem });
  }
  return u.toString();
}

export function checkWebhookEvents(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [...DEFAULT_WEBHOOK_EVENTS];
  const list = (Array.isArray(raw) ? raw : String(raw).split(',')).map((s) => String(s).trim()).filter(Boolean);
  if (!list.length) throw new InvalidInputError('--events needs at least one event type, e.g. release.live,release.failed');
  for (const e of list) {
    if (!EVENT_PATTERN.test(e)) throw new InvalidInputError(`event type must look like release.live, release.* or *, got ${JSON.stringify(e)}`);
  }
  return [...new Set(list)];
}

export function registerWebhookRoutes(fastify: FastifyInstance, d: { store: Store; now: () => number; allowPrivate?: boolean }): void {
  const appOf = async (req: { params: { app: string } }): Promise<string> => {
    const name = checkAppName(req.params.app);
    if (!(await d.store.getApp(name))) throw new NotFoundError('app', name, 'see `summon apps`');
    return name;
  };
  route(fastify, 'listWebhooks', async (req) => (await d.store.listWebhooks(await appOf(req))).map(webhookView));
  route(fastify, 'addWebhook', async (req, reply) => {
    const app = await appOf(req);
    const body = req.body;
    const hook: Webhook = {
      id: newId('wh'), app, url: checkWebhookUrl(body.url, d.allowPrivate === true), events: checkWebhookEvents(body.events),
      secret: newWebhookSecret(), createdAt: d.now(),
    };
    await d.store.addWebhook(hook);
    return reply.status(201).send(hook);
  });
  route(fastify, 'removeWebhook', async (req) => {
    const app = await appOf(req);
    const id = req.params.id;
    if (!(await d.store.listWebhooks(app)).some((h) => h.id === id)) {
      throw new NotFoundError('webhook', id, `see \`summon webhooks -a ${app}\``);
    }
    await d.store.deleteWebhook(app, id);
    return { ok: true as const };
  });
  route(fastify, 'webhookDeliveries', async (req) => {
    const app = await appOf(req);
    return d.store.listDeliveries(app, req.query.limit ?? 50);
  });
}
