// API routes for custom domains and certificates, over the edge service (control/edge-service.ts),
// which checks, stores and sends every change to the data planes.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { coveredDomains } from '../../core/certs.js';
import { ConflictError } from '../../core/errors.js';
import type { EdgeService } from '../../control/edge-service.js';
import type { CertView, DomainView } from '../../sdk/types.js';
import type { Domain, StoredCert } from '../../store/store.js';
import { route } from '../route.js';
import { sees } from '../guard.js';
import type { ApiContext } from '../context.js';

export function certView(c: StoredCert, domains: string[]): CertView {
  return {
    id: c.id, app: c.app, hosts: c.hosts, domains: coveredDomains(c.hosts, domains), issuer: c.issuer, subject: c.subject,
    notBefore: c.notBefore, notAfter: c.notAfter, source: c.source, createdAt: c.createdAt,
  };
}

/** Each domain with the certificate that serves it: of those covering it, the one that expires last. */
function domainViews(domains: Domain[], certs: StoredCert[], now: number): DomainView[] {
  return domains.map((d) => {
    const best = certs.filter((c) => c.notAfter > now && coveredDomains(c.hosts, [d.host]).length > 0).sort((a, b) => b.notAfter - a.notAfter)[0];
    return { host: d.host, app: d.app, createdAt: d.createdAt, certificate: best?.id ?? null };
  });
}

export function registerDomainRoutes(fastify: FastifyInstance, c: ApiContext, edge: EdgeService): void {
  const { d, now, appParam, requireApp } = c;
  const appOf = async (req: FastifyRequest<{ Params: { app: string } }>): Promise<string> => {
    const name = appParam(req);
    await requireApp(name);
    return name;
  };

  route(fastify, 'listDomains', async (req) => {
    const app = await appOf(req);
    return domainViews(await d.store.listDomains(app), await d.store.listCerts(app), now());
  });
  route(fastify, 'addDomain', async (req, reply) => {
    const app = await appOf(req);
    let added: Domain;
    try {
      added = await edge.addDomain(app, req.body.host);
    } catch (e) {
      const owner = e instanceof ConflictError ? e.details?.owner : undefined;
      if (typeof owner === 'string' && owner !== app) {
        const host = String(e instanceof ConflictError ? e.details?.host : req.body.host);
        // Who owns it is said only to a caller who reaches that app.
        throw sees(req, owner)
          ? new ConflictError(`${host} is a domain of ${owner} already: two apps cannot own one domain (remove it there first: \`summon domains:remove -a ${owner} ${host}\`)`, { host, owner })
          : new ConflictError(`${host} is a domain of another app already: two apps cannot own one domain (its owner can remove it, or an admin)`, { host });
      }
      throw e;
    }
    const [view] = domainViews([added], await d.store.listCerts(app), now());
    return reply.status(201).send(view);
  });
  route(fastify, 'removeDomain', async (req) => {
    const app = await appOf(req);
    await edge.removeDomain(app, req.params.host);
    return { ok: true as const };
  });

  route(fastify, 'listCerts', async (req) => {
    const app = await appOf(req);
    const domains = (await d.store.listDomains(app)).map((x) => x.host);
    return (await d.store.listCerts(app)).map((x) => certView(x, domains));
  });
  route(fastify, 'addCert', async (req, reply) => {
    const app = await appOf(req);
    const { stored, checked } = await edge.addCert(app, req.body.cert, req.body.key, 'upload');
    d.audit.note(req.raw, { detail: { id: stored.id, domains: checked.covers, notAfter: new Date(stored.notAfter).toISOString() } });
    const domains = (await d.store.listDomains(app)).map((x) => x.host);
    return reply.status(201).send(certView(stored, domains));
  });
  route(fastify, 'removeCert', async (req) => {
    const app = await appOf(req);
    const gone = await edge.removeCert(app, req.params.id);
    d.audit.note(req.raw, { detail: { id: gone.id } });
    return { ok: true as const };
  });
}
