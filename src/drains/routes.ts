// API routes for log drains: list (with each drain's delivery status), add, remove.
import type { FastifyInstance } from 'fastify';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { checkAppName } from '../core/names.js';
import { route } from '../api/route.js';
import type { DrainView } from '../sdk/types.js';
import type { Drain, Store } from '../store/store.js';
import type { DrainManager } from './drain-manager.js';
import { checkDrainUrl } from './drain-target.js';

/** Each drain buffers up to its own bound: a handful per app keeps that memory in sight. */
export const MAX_DRAINS_PER_APP = 5;

/** A drain as listed: `status` is null where this node does not deliver it. */
export type { DrainView };

export function registerDrainRoutes(fastify: FastifyInstance, d: { store: Store; drains: DrainManager; now: () => number; allowPrivate?: boolean }): void {
  const appOf = async (req: { params: { app: string } }): Promise<string> => {
    const name = checkAppName(req.params.app);
    if (!(await d.store.getApp(name))) throw new NotFoundError('app', name, 'see `summon apps`');
    return name;
  };
  const view = (x: Drain): DrainView => ({ ...x, status: d.drains.status(x.id) });

  route(fastify, 'listDrains', async (req) => (await d.store.listDrains(await appOf(req))).map(view));
  route(fastify, 'addDrain', async (req, reply) => {
    const app = await appOf(req);
    const body = req.body;
    const drain: Drain = { id: newId('drn'), app, url: checkDrainUrl(body.url, d.allowPrivate === true), createdAt: d.now() };
    if ((await d.store.listDrains(app)).length >= MAX_DRAINS_PER_APP) {
      throw new ConflictError(`${app} has ${MAX_DRAINS_PER_APP} drains, the most an app may have: remove one first (\`summon drains -a ${app}\`, \`summon drains:remove -a ${app} ID\`)`);
    }
    await d.store.addDrain(drain);
    d.drains.add(drain);
    return reply.status(201).send(view(drain));
  });
  route(fastify, 'removeDrain', async (req) => {
    const app = await appOf(req);
    const id = req.params.id;
    if (!(await d.store.listDrains(app)).some((x) => x.id === id)) {
      throw new NotFoundError('drain', id, `see \`summon drains -a ${app}\``);
    }
    await d.store.deleteDrain(app, id);
    await d.drains.remove(id);
    return { ok: true as const };
  });
}
