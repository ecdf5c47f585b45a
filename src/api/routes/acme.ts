// API routes for certs:auto (acme/manager.ts): turn it on (an order now, its steps streamed),
// off, and where it stands.
import type { FastifyInstance } from 'fastify';
import type { AcmeManager } from '../../acme/manager.js';
import { InvalidInputError } from '../../core/errors.js';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';

export function registerAcmeRoutes(fastify: FastifyInstance, c: ApiContext, manager: AcmeManager | null): void {
  const { appParam, requireApp, streamed } = c;
  // An embedder without it (no edge service to answer challenges and serve what it gets).
  const need = (): AcmeManager => {
    if (!manager) throw new InvalidInputError('certs:auto is not run by this Summon: it comes with `summon up`');
    return manager;
  };
  route(fastify, 'acmeStatus', async (req) => {
    const app = appParam(req);
    await requireApp(app);
    return need().status(app);
  });
  route(fastify, 'acmeOn', async (req, reply) => {
    const app = appParam(req);
    await requireApp(app);
    return streamed(reply, async (out) => {
      const { result, status } = await need().enable(app, out);
      if (result === null) return { ok: true, message: `certs:auto is on for ${app}; its certificate is valid`, status };
      if (!result.ok) return { ok: false, message: result.message, status };
      return { ok: true, message: `certs:auto is on for ${app}: ${result.renewed ? 'renewed' : 'obtained'} a certificate for ${result.hosts.join(', ')}, valid until ${result.notAfter}`, cert: result, status };
    });
  });
  route(fastify, 'acmeOff', async (req) => {
    const app = appParam(req);
    await requireApp(app);
    return need().disable(app);
  });
}
