// API routes for hosts, Prometheus metrics and the OpenAPI document.
import type { FastifyInstance } from 'fastify';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';
import { parseExpiry } from '../../core/access.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../core/errors.js';
import { checkHostId } from '../../core/names.js';
import { principalOf } from '../guard.js';

export function registerHostRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d } = c;
  // ---- hosts and metrics ----
  route(fastify, 'listHosts', async () => Promise.all(d.agents.map(async (a) => {
    const link = a.link();
    const meta = d.controller.hostInfo(a.hostId);
    const joined = d.joined?.record(a.hostId);
    const runtimes = await a.capabilities().catch(() => []);
    return {
      id: a.hostId, address: joined && link.state !== 'local' ? joined.address : link.address, link: link.state, ...(link.url ? { url: link.url } : {}), since: link.since,
      ...(link.error ? { error: link.error } : {}),
      runtimes: runtimes.length || !joined ? runtimes : joined.runtimes, instances: a.instances().length,
      ...(joined ? { joined: true } : {}),
      labels: meta?.labels ?? {}, draining: meta?.draining === true, memoryBytes: meta?.memoryBytes ?? null,
      ...(link.state === 'local' && d.dataPlane ? { dataPlane: d.dataPlane() } : {}),
    };
  })));
  route(fastify, 'cluster', async () => {
    if (d.cluster) return d.cluster();
    return { store: d.store.kind, node: d.agents[0]?.hostId ?? 'local', leader: null, lease: null, nodes: [] };
  });
  route(fastify, 'createJoinToken', async (req, reply) => {
    if (!d.joined || !d.controlFingerprint) throw new ConflictError('this Summon takes no joining hosts (it has no TLS certificate for them)');
    const b = req.body ?? {};
    const ttl = b.expires === undefined ? undefined : parseExpiry(b.expires);
    if (ttl === null || (typeof ttl === 'object' && ttl !== undefined)) {
      throw new InvalidInputError(ttl === null ? '--expires never is not allowed for a join token: give a duration up to 30d (default 1h)' : ttl.error.replace('3650d', '30d').replace(' (or "never")', ''), { field: 'expires' });
    }
    const base = b.url ?? `https://${req.headers.host ?? 'localhost'}`;
    let u: URL;
    try {
      u = new URL(base);
    } catch {
      throw new InvalidInputError(`--url ${JSON.stringify(base)} is not a URL: give the control plane's address as the new host reaches it, e.g. https://10.0.0.1:7070`, { field: 'url' });
    }
    if (u.protocol !== 'https:' || u.pathname !== '/' || u.search) {
      throw new InvalidInputError(`--url must be https://HOST:PORT (the API port, as the new host reaches it), got ${base}`, { field: 'url' });
    }
    const labels = b.labels ?? {};
    const t = await d.joined.createToken({ labels, ...(ttl !== undefined ? { expiresInMs: ttl } : {}), createdBy: principalOf(req).user?.email ?? null });
    const url = `${u.origin}#sha256=${d.controlFingerprint}`;
    const command = `summon agent --join '${url}' --token ${t.token}`;
    reply.code(201);
    return { id: t.id, token: t.token, command, url, fingerprint: d.controlFingerprint, labels: t.labels, expiresAt: t.expiresAt };
  });
  route(fastify, 'removeHost', async (req) => {
    const host = checkHostId(req.params.host);
    if (!d.joined) throw new NotFoundError('host', host, 'see `summon hosts`');
    await d.joined.remove(host);
    return { host, removed: true };
  });
  route(fastify, 'drainHost', async (req, reply) => {
    const host = checkHostId(req.params.host);
    if (!d.agents.some((a) => a.hostId === host)) throw new NotFoundError('host', host, 'see `summon hosts`');
    if (d.agents.length < 2) throw new ConflictError(`${host} is the only host: there is nowhere to move its instances (join another with \`summon hosts:join-token\`)`);
    if (d.joined?.has(host)) await d.joined.setDraining(host, true);
    return c.streamed(reply, async (out) => {
      out(`-----> Draining ${host}: no new instance goes there; moving its instances elsewhere`);
      const r = await d.controller.drainHost(host, out);
      return r.ok ? { ok: true, message: `${host} is drained` } : { ok: false, message: r.reason };
    });
  });
  route(fastify, 'hostEvents', async (req) => d.store.listEvents({ types: ['host.unreachable', 'host.connected'], limit: req.query.limit ?? 200 }));
  route(fastify, 'metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(await d.metricsText()));
  route(fastify, 'openapi', async (_req, reply) => reply.type('application/json').send(JSON.stringify(fastify.swagger())));
}
