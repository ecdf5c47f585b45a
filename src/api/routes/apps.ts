// API routes for apps: list, create, show, destroy.
import type { FastifyInstance } from 'fastify';
import { checkAppName } from '../../core/names.js';
import { AppService } from '../../control/app-service.js';
import { sees } from '../guard.js';
import type { AppView } from '../views.js';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';

export function registerAppRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d, view, appParam } = c;
  const apps = new AppService({ ...d, now: c.now });
  route(fastify, 'listApps', async (req) => {
    // One app after another: with a thousand apps, a thousand concurrent store reads would
    // only raise the peak memory the process keeps afterwards.
    const out: AppView[] = [];
    for (const a of await d.store.listApps()) if (sees(req, a.name)) out.push(await view(a.name));
    return out;
  });
  route(fastify, 'createApp', async (req, reply) => {
    const name = checkAppName(req.body.name);
    await apps.create(name);
    return reply.status(201).send(await view(name));
  });
  route(fastify, 'getApp', async (req) => view(appParam(req)));
  route(fastify, 'destroyApp', async (req) => {
    await apps.destroy(appParam(req));
    return { ok: true as const };
  });
}
