// API routes for hosts, Prometheus metrics and the OpenAPI document.
import type { FastifyInstance } from 'fastify';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';

export function registerHostRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d } = c;
  // ---- hosts and metrics ----
  route(fastify, 'listHosts', async () => Promise.all(d.agents.map(async (a) => {
    const link = a.link();
    return {
      id: a.hostId, address: link.address, link: link.state, ...(link.url ? { url: link.url } : {}), since: link.since,
      ...(link.error ? { error: link.error } : {}),
      runtimes: await a.capabilities().catch(() => []), instances: a.instances().length,
      ...(link.state === 'local' && d.dataPlane ? { dataPlane: d.dataPlane() } : {}),
    };
  })));
  route(fastify, 'cluster', async () => {
    if (d.cluster) return d.cluster();
    return { store: d.store.kind, node: d.agents[0]?.hostId ?? 'local', leader: null, lease: null, nodes: [] };
  });
  route(fastify, 'hostEvents', async (req) => d.store.listEvents({ types: ['host.unreachable', 'host.connected'], limit: req.query.limit ?? 200 }));
  route(fastify, 'metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(await d.metricsText()));
  route(fastify, 'openapi', async (_req, reply) => reply.type('application/json').send(JSON.stringify(fastify.swagger())));
}
