// API routes for log drains: list (with each drain's delivery status), add, remove.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { checkAppName } from '../core/names.js';
import { parseBody } from '../api/bodies.js';
import type { Drain, Store } from '../store/store.js';
import type { DrainManager, DrainStatus } from './drain-manager.js';
import { checkDrainUrl } from './drain-target.js';

/** Each drain buffers up to its own bound: a handful per app keeps that memory in sight. */
export const MAX_DRAINS_PER_APP = 5;

export const drainBody = z.strictObject({ url: z.unknown() });

/** A drain as listed: `status` is null where this node does not deliver it. */
export type DrainView = Drain & { status: DrainStatus | null };

export function registerDrainRoutes(fastify: FastifyInstance, d: { store: Store; drains: DrainManager; now: () => number; allowPrivate?: boolean }): void {
  const appOf = async (req: FastifyRequest): Promise<string> => {
    const name = checkAppName((req.params as { app: string }).app);
    if (!(await d.store.getApp(name))) throw new NotFoundError('app', name, 'see `summon apps`');
    return name;
  };
  const view = (x: Drain): DrainView => ({ ...x, status: d.drains.status(x.id) });

  fastify.get('/api/apps/:app/drains', async (req) => (await d.store.listDrains(await appOf(req))).map(view));
  fastify.post('/api/apps/:app/drains', async (req, reply) => {
    const app = await appOf(req);
    const body = parseBody(drainBody, req.body, 'drain');
    const drain: Drain = { id: newId('drn'), app, url: checkDrainUrl(body.url, d.allowPrivate === true), createdAt: d.now() };
    if ((await d.store.listDrains(app)).length >= MAX_DRAINS_PER_APP) {
      throw new ConflictError(`${app} has ${MAX_DRAINS_PER_APP} drains, the most an app may have: remove one first (\`summon drains -a ${app}\`, \`summon drains:remove -a ${app} ID\`)`);
    }
    await d.store.addDrain(drain);
    d.drains.add(drain);
    return reply.status(201).send(view(drain));
  });
  fastify.delete('/api/apps/:app/drains/:id', async (req) => {
    const app = await appOf(req);
    const id = (req.params as { id: string }).id;
    if (!(await d.store.listDrains(app)).some((x) => x.id === id)) {
      throw new NotFoundError('drain', id, `see \`summon drains -a ${app}\``);
    }
    await d.store.deleteDrain(app, id);
    await d.drains.remove(id);
    return { ok: true };
  });
}
