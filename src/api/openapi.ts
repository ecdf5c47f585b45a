// The OpenAPI 3 document of the API, made by @fastify/swagger from the routes' zod schemas
// (api/contract.ts). Served at GET /api/openapi.json and committed as docs/openapi.json
// (`npm run openapi` writes it; a test fails when the committed copy is not what the code makes).
import type { SwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export const API_VERSION = '0.1.0';

const DESCRIPTION = `The HTTP API of Summon: the CLI, the dashboard and the SDK (src/sdk/client.ts) use only this.

Authentication: \`Authorization: Bearer TOKEN\` on every route but /healthz and this document. A token's
scope (admin, deploy, read, metrics) and app decide what it may call (README, "Users, tokens and scopes").

Errors: every refusal and failure is answered with a 4xx or 5xx status and the one body shape
\`{"error": {"code", "message", "details"?}}\` (schema Error). \`code\` is stable; \`message\` says what to do next.
Long operations (rollback, config changes, restart) answer 200 with NDJSON progress frames and a last
result frame whose \`error\`, on failure, has the same shape.`;

export const openApiOptions: SwaggerOptions = {
  openapi: {
    openapi: '3.0.3',
    info: { title: 'Summon API', version: API_VERSION, description: DESCRIPTION },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
  },
  transform: jsonSchemaTransform,
  transformObject: jsonSchemaTransformObject,
  // Routes without a contract entry (the dashboard's files, git, the hosts' internal routes)
  // are not part of the API.
  hideUntagged: true,
};
