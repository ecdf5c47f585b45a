// The OpenAPI 3 document of the API, made by @fastify/swagger from the routes' zod schemas
// (api/contract.ts). Served at GET /api/openapi.json and committed as docs/openapi.json
// (`npm run openapi` writes it; a test fails when the committed copy is not what the code makes).
import type { SwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { SUMMON_VERSION } from '../core/version.js';


const DESCRIPTION = `The HTTP API of Summon: the CLI, the dashboard and the SDK (src/sdk/client.ts) use only this.

Authentication: \`Authorization: Bearer TOKEN\` on every route but /healthz and this document. A token's
scope (admin, deploy, read, metrics) and app decide what it may call (README, "Users, tokens and scopes").

Errors: every refusal and failure is answered with a 4xx or 5xx status and the one body shape
\`{"error": {"code", "message", "details"?}}\` (schema Error). \`code\` is stable; \`message\` says what to do next.
Long operations (rollback, config changes, restart) answer 200 with NDJSON progress frames and a last
result frame whose \`error\`, on failure, has the same shape.`;

type OpenApiDoc = { paths?: unknown; components?: { schemas?: Record<string, unknown> } } & Record<string, unknown>;

/** Every named schema is made in an input and an output form; keeps only those a route uses. */
function withoutUnusedSchemas<D extends OpenApiDoc>(doc: D): D {
  const all = doc.components?.schemas ?? {};
  const used = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string' && x.startsWith('#/components/schemas/')) {
          const name = x.slice('#/components/schemas/'.length);
          if (!used.has(name)) {
            used.add(name);
            walk(all[name]);
          }
        } else walk(x);
      }
    }
  };
  walk(doc.paths);
  const schemas = Object.fromEntries(Object.entries(all).filter(([k]) => used.has(k)).sort(([a], [b]) => a.localeCompare(b)));
  return { ...doc, components: { ...doc.components, schemas } };
}

export const openApiOptions: SwaggerOptions = {
  openapi: {
    openapi: '3.0.3',
    info: { title: 'Summon API', version: SUMMON_VERSION, description: DESCRIPTION },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
  },
  transform: jsonSchemaTransform,
  transformObject: (d) => withoutUnusedSchemas(jsonSchemaTransformObject(d) as OpenApiDoc) as ReturnType<typeof jsonSchemaTransformObject>,
  // Routes without a contract entry (the dashboard's files, git, the hosts' internal routes)
  // are not part of the API.
  hideUntagged: true,
};

/**
 * The document as this build of Summon makes it, without a running Summon: the routes are
 * registered over inert services (nothing is called while routes are registered).
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const { createApiServer } = await import('./api.js');
  const inert = new Proxy({}, { get: () => () => undefined }) as never;
  const { fastify } = createApiServer({
    store: inert, controller: inert, releases: inert, repos: inert, git: inert, logs: inert, events: inert, secrets: inert,
    agents: [], auth: inert, audit: inert, pushes: inert, drains: inert, edge: inert,
    appUrl: (a) => a, gitUrl: (a) => a, metricsText: async () => '', series: () => [], artifactPath: (s) => s,
  });
  await fastify.ready();
  const doc = fastify.swagger() as unknown as Record<string, unknown>;
  await fastify.close();
  return doc;
}
