// The HTTP API's server: git smart HTTP beside fastify on one port, one error mapping
// (SummonError → status + the one JSON shape), one gate (guard.ts), the OpenAPI document, and
// the route groups (routes/, each registered from the contract in contract.ts).
import http from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { InvalidInputError, NotFoundError, RateLimitedError, SummonError, toSummonError } from '../core/errors.js';
import { registerDrainRoutes } from '../drains/routes.js';
import { registerWebhookRoutes } from '../notify/routes.js';
import { validationError } from './bodies.js';
import { apiContext, type ApiDeps } from './context.js';
import { authorizeGit, installGuard } from './guard.js';
import { openApiOptions } from './openapi.js';
import { route } from './route.js';
import { registerAccessRoutes } from './routes/access.js';
import { registerAppRoutes } from './routes/apps.js';
import { registerBuildRoutes } from './routes/builds.js';
import { registerDeployRoutes } from './routes/deploys.js';
import { registerDomainRoutes } from './routes/domains.js';
import { registerAcmeRoutes } from './routes/acme.js';
import { registerHostRoutes } from './routes/hosts.js';
import { registerImageRoutes } from './routes/images.js';
import { registerInstanceRoutes } from './routes/instances.js';
import { registerInternalRoutes } from './routes/internal.js';
import { registerLogRoutes } from './routes/logs.js';
import { registerReleaseRoutes } from './routes/releases.js';
import { registerUsageRoutes } from './usage-routes.js';
import { securityHeaders } from './security-headers.js';

export type { ApiDeps };

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json',
};

export function createApiServer(d: ApiDeps): { server: http.Server; fastify: FastifyInstance } {
  const c = apiContext(d);
  const { now, gate } = c;
  let fastifyHandler: http.RequestListener | null = null;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    securityHeaders(res, url);
    const git = /^\/git\/([^/]+)\.git(\/[^?]*)?(\?.*)?$/.exec(url);
    if (git) {
      void (async () => {
        // Git's HTTP Basic (the token as password) is accepted here and nowhere else.
        if (!(await authorizeGit(gate, git[1], git[2] ?? '/', req, res))) {
          req.resume();
          return;
        }
        await d.git.handle(git[1], git[2] ?? '/', req, res);
      })().catch((e) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`git error: ${toSummonError(e).message}\n`);
      });
      return;
    }
    fastifyHandler!(req, res);
  });
  const fastify = Fastify({
    serverFactory: (handler) => {
      fastifyHandler = handler;
      return server;
    },
    bodyLimit: 1024 * 1024,
  });

  // Requests are validated against the route's schemas and JSON answers serialized through
  // them (api/contract.ts); @fastify/swagger makes the OpenAPI document from the same routes.
  fastify.setValidatorCompiler(validatorCompiler);
  fastify.setSerializerCompiler(serializerCompiler);
  void fastify.register(swagger, openApiOptions);

  fastify.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    if (isResponseSerializationError(err as never)) {
      // An answer that does not match its schema is a bug in Summon, not in the request.
      reply.log.error({ err, cause: (err as { cause?: unknown }).cause }, 'answer does not match its schema');
    }
    const e = err instanceof SummonError ? err
      : hasZodFastifySchemaValidationErrors(err) ? validationError(err, `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`)
        : err.statusCode && err.statusCode < 500 ? new InvalidInputError(err.message)
          : toSummonError(err);
    if (e instanceof RateLimitedError) void reply.header('retry-after', String(e.retryAfterS));
    if (e.code === 'unauthorized') void reply.header('www-authenticate', 'Bearer realm="summon"');
    void reply.status(e.httpStatus).send(e.toJSON());
  });
  fastify.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(new NotFoundError('route', `${req.method} ${req.url}`, 'see the API reference in the README').toJSON());
  });

  // Authentication, `may` (core/access.ts) and the audit log for every route below.
  installGuard(fastify, gate);

  // Every route is registered after the OpenAPI plugin, so it sees them all.
  void fastify.register(async (fastify) => {
  // ---- dashboard (static files of dist/web, built by scripts/build-web.mjs) ----
  const serveStatic = async (file: string, reply: FastifyReply) => {
    if (!d.webDir || !existsSync(join(d.webDir, file))) {
      return reply.status(404).type('text/plain').send('The dashboard is not built: run `npm run build`.\n');
    }
    return reply.type(MIME[extname(file)] ?? 'application/octet-stream').send(await readFile(join(d.webDir, file)));
  };
  fastify.get('/', async (_req, reply) => serveStatic('index.html', reply));
  fastify.get('/assets/*', async (req, reply) => {
    const rest = (req.params as { '*': string })['*'];
    if (rest.includes('..')) throw new InvalidInputError('bad asset path');
    return serveStatic(join('assets', rest), reply);
  });
  route(fastify, 'health', async () => ({ ok: true as const }));

  registerAppRoutes(fastify, c);
  registerReleaseRoutes(fastify, c);
  registerBuildRoutes(fastify, c);
  registerDeployRoutes(fastify, c);
  registerInstanceRoutes(fastify, c);
  registerAcmeRoutes(fastify, c, d.acme ?? null);
  registerLogRoutes(fastify, c);
  registerAccessRoutes(fastify, { store: d.store, now, ...(d.agentToken ? { agentSecret: d.agentToken } : {}) });
  registerWebhookRoutes(fastify, { store: d.store, now, allowPrivate: d.webhooksAllowPrivate === true });
  if (d.drains) registerDrainRoutes(fastify, { store: d.store, drains: d.drains, now, allowPrivate: d.drainsAllowPrivate === true });
  if (d.edge) registerDomainRoutes(fastify, c, d.edge);
  if (d.artifactPath) registerImageRoutes(fastify, { store: d.store, secrets: d.secrets, artifactPath: d.artifactPath });
  registerUsageRoutes(fastify, { store: d.store, controller: d.controller, pricePerInstanceSecond: d.pricePerInstanceSecond ?? null, now, ...(d.adviceMinWindowMs !== undefined ? { adviceMinWindowMs: d.adviceMinWindowMs } : {}) });

  registerHostRoutes(fastify, c);
  registerInternalRoutes(fastify, c);
  });

  return { server, fastify };
}
