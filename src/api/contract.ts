// The API contract: for every route in sdk/routes.ts, what it takes (parameters, query, body)
// and what it answers, as the zod schemas of sdk/types.ts. `route()` (api/route.ts) registers a
// handler with its entry: requests are validated against it before the handler runs, JSON
// answers are serialized through it (a field the schema does not name never leaves), and
// @fastify/swagger turns the whole table into the OpenAPI document (GET /api/openapi.json,
// docs/openapi.json). Who may call each route is core/access.ts's ROUTE_RULES.
import { z } from 'zod';
import type { RouteName } from '../sdk/routes.js';
import * as T from '../sdk/types.js';

interface Content {
  description: string;
  content: Record<string, { schema: z.ZodType }>;
}
export interface RouteContract {
  summary: string;
  tags: string[];
  description?: string;
  params?: z.ZodObject;
  querystring?: z.ZodObject;
  body?: z.ZodType;
  /** The success answer: a schema for JSON, or content types for streams and files. */
  response: { 200?: z.ZodType | Content; 201?: z.ZodType };
}

const ndjson = (description: string): Content => ({
  description: `${description}: NDJSON, progress frames then one result frame`,
  content: { 'application/x-ndjson': { schema: z.union([T.ProgressFrame, T.ResultFrame]) } },
});
const sse = (description: string, frame: z.ZodType): Content => ({
  description: `${description}: text/event-stream; \`: ping\` comments every 15 s; a client too slow to read is sent \`event: dropped\` and closed`,
  content: { 'text/event-stream': { schema: frame } },
});
const file = (description: string): Content => ({
  description, content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } },
});

export const CONTRACT = {
  health: { summary: 'Liveness of this Summon process', tags: ['meta'], response: { 200: z.object({ ok: z.literal(true) }) } },
  openapi: { summary: 'This document', tags: ['meta'], response: { 200: { description: 'OpenAPI 3 document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } } },
  whoami: { summary: 'The caller: user, token and the apps it reaches', tags: ['access'], response: { 200: T.WhoAmI } },

  listApps: { summary: 'Apps the caller reaches', tags: ['apps'], response: { 200: z.array(T.AppView) } },
  createApp: { summary: 'Create an app (and its git repository)', tags: ['apps'], body: T.CreateAppBody, response: { 201: T.AppView } },
  getApp: { summary: 'One app', tags: ['apps'], params: T.AppParams, response: { 200: T.AppView } },
  destroyApp: { summary: 'Destroy an app: instances, releases, repository, logs', tags: ['apps'], params: T.AppParams, response: { 200: T.Ok } },

  listReleases: { summary: 'Releases, oldest first', tags: ['releases'], params: T.AppParams, response: { 200: z.array(T.ReleaseView) } },
  getRelease: { summary: 'One release with its manifests', tags: ['releases'], params: T.ReleaseParams, response: { 200: T.ReleaseView } },
  rollback: { summary: 'Roll back to an earlier release (a new release with its artifact)', tags: ['releases'], params: T.AppParams, body: T.RollbackBody.optional(), response: { 200: ndjson('the rollout') } },
  verifyRelease: { summary: 'Rebuild a release from its manifest and compare the artifact (stored on the release)', tags: ['releases'], params: T.ReleaseParams, body: T.EmptyBody.optional(), response: { 200: ndjson('the rebuild; the result frame holds `verification`, and fails with conflict when the bytes differ') } },
  getConfig: { summary: 'Config vars (values: a secrets-scoped token)', tags: ['config'], params: T.AppParams, response: { 200: z.record(z.string(), z.string()) } },
  setConfig: { summary: 'Set and unset config vars (a new release)', tags: ['config'], params: T.AppParams, body: T.ConfigBody, response: { 200: ndjson('the rollout') } },

  upload: {
    summary: 'Upload an artifact (or initrd) built elsewhere, by its sha256', tags: ['deploys'], params: T.UploadParams,
    description: 'The body is the file itself (Content-Type: application/octet-stream) with its Content-Length, at most 1G; refused before it is read when larger, and not stored unless its sha256 is the one in the path.',
    response: { 200: T.Uploaded },
  },
  deploy: { summary: 'Release an uploaded artifact with its summon.toml (checks and rollout as a push)', tags: ['deploys'], params: T.AppParams, body: T.DeployBody, response: { 200: ndjson('the rollout') } },
  listBuilds: { summary: 'Builds of pushes, newest first, failed or not', tags: ['builds'], params: T.AppParams, querystring: T.LimitQuery, response: { 200: z.array(T.BuildSummary) } },
  getBuild: { summary: 'One build with its log (a deploy token: a build sees the config vars)', tags: ['builds'], params: T.BuildParams, response: { 200: T.BuildView } },

  listInstances: { summary: 'Instances on every host', tags: ['instances'], params: T.AppParams, response: { 200: z.array(T.Instance) } },
  scale: { summary: 'Set the instance count', tags: ['instances'], params: T.AppParams, body: T.ScaleBody, response: { 200: T.AppView } },
  autoscale: { summary: 'Set the autoscale policy', tags: ['instances'], params: T.AppParams, body: T.AutoscaleBody, response: { 200: T.AppView } },
  restart: { summary: 'Replace every instance, one at a time', tags: ['instances'], params: T.AppParams, body: T.EmptyBody.optional(), response: { 200: ndjson('the restart') } },
  acmeStatus: { summary: 'certs:auto: on or off, the ACME certificate serving the app\'s domains, the next order', tags: ['certificates'], params: T.AppParams, response: { 200: T.AcmeStatus } },
  acmeOn: { summary: 'certs:auto on: obtain a certificate for the app\'s custom domains over ACME now (if none is valid) and renew it ahead of expiry', tags: ['certificates'], params: T.AppParams, body: T.EmptyBody.optional(), response: { 200: ndjson('the ACME order') } },
  acmeOff: { summary: 'certs:auto off: no more orders or renewals (certificates obtained keep serving)', tags: ['certificates'], params: T.AppParams, response: { 200: T.AcmeStatus } },

  logs: { summary: 'Log lines (app and Summon), oldest first', tags: ['logs'], params: T.AppParams, querystring: T.LogQuery, response: { 200: z.array(T.LogLine) } },
  logStream: { summary: 'Follow the log', tags: ['logs'], params: T.AppParams, querystring: T.LogQuery, response: { 200: sse('`event: log` (one line) and `event: logs` (an array of lines)', z.union([T.LogLine, z.array(T.LogLine)])) } },
  appEvents: { summary: 'The app\'s events, oldest first', tags: ['events'], params: T.AppParams, querystring: T.EventQuery, response: { 200: z.array(T.SummonEvent) } },
  eventStream: { summary: 'Follow events (every app the caller reaches, or one)', tags: ['events'], querystring: T.StreamQuery, response: { 200: sse('`event: event`', T.SummonEvent) } },
  series: { summary: 'The dashboard charts\' time series', tags: ['metrics'], params: T.AppParams, response: { 200: z.array(T.SeriesPoint) } },
  usage: { summary: 'Instance-seconds and memory-seconds per app and UTC day, and the cost at the operator\'s price', tags: ['usage'], querystring: T.UsageQuery, response: { 200: T.UsageView } },
  advice: { summary: 'Rightsizing advice from the last day\'s observations of the running instances', tags: ['usage'], params: T.AppParams, response: { 200: T.AdviceView } },
  metrics: { summary: 'Prometheus metrics (a metrics or admin token)', tags: ['metrics'], response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: z.string() } } } } },

  liveImage: { summary: 'The live release as a bootable disk image', tags: ['images'], params: T.AppParams, querystring: T.ImageQuery, response: { 200: file('raw disk, or a tar.gz holding disk.raw (gce); X-Summon-Release names the release') } },
  releaseImage: { summary: 'A release as a bootable disk image', tags: ['images'], params: T.ReleaseParams, querystring: T.ImageQuery, response: { 200: file('raw disk, or a tar.gz holding disk.raw (gce)') } },

  listWebhooks: { summary: 'Webhooks (without their secrets)', tags: ['webhooks'], params: T.AppParams, response: { 200: z.array(T.WebhookView) } },
  addWebhook: { summary: 'Add a webhook; the answer holds its signing secret, shown once', tags: ['webhooks'], params: T.AppParams, body: T.WebhookBody, response: { 201: T.Webhook } },
  removeWebhook: { summary: 'Remove a webhook', tags: ['webhooks'], params: T.AppIdParams, response: { 200: T.Ok } },
  webhookDeliveries: { summary: 'Delivery attempts, newest first', tags: ['webhooks'], params: T.AppParams, querystring: T.DeliveryQuery, response: { 200: z.array(T.WebhookDelivery) } },
  listDrains: { summary: 'Log drains with their delivery status', tags: ['drains'], params: T.AppParams, response: { 200: z.array(T.DrainView) } },
  addDrain: { summary: 'Add a log drain', tags: ['drains'], params: T.AppParams, body: T.DrainBody, response: { 201: T.DrainView } },
  removeDrain: { summary: 'Remove a log drain', tags: ['drains'], params: T.AppIdParams, response: { 200: T.Ok } },

  listDomains: { summary: 'Custom domains of the app, each with the certificate that serves it', tags: ['domains'], params: T.AppParams, response: { 200: z.array(T.DomainView) } },
  addDomain: {
    summary: 'Add a custom domain (one app per domain, across all apps)', tags: ['domains'], params: T.AppParams, body: T.DomainBody,
    description: 'Refused (409) when another app owns it; the owner is named only to a caller who reaches that app.',
    response: { 201: T.DomainView },
  },
  removeDomain: { summary: 'Remove a custom domain', tags: ['domains'], params: T.AppHostParams, response: { 200: T.Ok } },
  listCerts: { summary: 'Certificates of the app (never their keys)', tags: ['domains'], params: T.AppParams, response: { 200: z.array(T.CertView) } },
  addCert: {
    summary: 'Add a certificate and its key (PEM)', tags: ['domains'], params: T.AppParams, body: T.CertBody,
    description: 'Refused (400) with the reason when the PEM is malformed, the key does not match, the certificate expired or is not valid yet, or it covers none of the app\'s domains. The key is stored encrypted.',
    response: { 201: T.CertView },
  },
  removeCert: { summary: 'Remove a certificate (by its id, or the first 8 characters or more of it)', tags: ['domains'], params: T.AppIdParams, response: { 200: T.Ok } },

  listUsers: { summary: 'Users and the apps granted to them', tags: ['access'], response: { 200: z.array(T.UserView) } },
  addUser: { summary: 'Add a user', tags: ['access'], body: T.UserBody, response: { 201: T.UserView } },
  removeUser: { summary: 'Remove a user (and their tokens)', tags: ['access'], params: T.EmailParams, response: { 200: T.RemovedUser } },
  listAccess: { summary: 'Who reaches the app', tags: ['access'], params: T.AppParams, response: { 200: z.array(T.AccessView) } },
  addAccess: { summary: 'Grant a member the app', tags: ['access'], params: T.AppParams, body: T.AccessBody, response: { 201: T.AccessView } },
  removeAccess: { summary: 'Take a member\'s access away', tags: ['access'], params: T.AppEmailParams, response: { 200: T.Ok } },
  listTokens: { summary: 'API tokens (never the secrets)', tags: ['access'], querystring: T.TokenQuery, response: { 200: z.array(T.TokenView) } },
  createToken: { summary: 'Create a token; the answer holds it, shown once', tags: ['access'], body: T.TokenBody, response: { 201: T.CreatedToken } },
  revokeToken: { summary: 'Revoke a token', tags: ['access'], params: T.IdParams, response: { 200: T.TokenView } },
  audit: { summary: 'Changes through the API and git, oldest first', tags: ['access'], querystring: T.AuditQuery, response: { 200: z.array(T.AuditEntry) } },

  listHosts: { summary: 'Hosts, their links and runtimes', tags: ['hosts'], response: { 200: z.array(T.HostView) } },
  hostEvents: { summary: 'host.unreachable and host.connected events, oldest first', tags: ['hosts'], querystring: T.LimitQuery, response: { 200: z.array(T.SummonEvent) } },
  createJoinToken: { summary: 'A join token and the one-line command a new host joins with (single use, expiring)', tags: ['hosts'], body: T.JoinTokenBody.optional(), response: { 201: T.CreatedJoinToken } },
  removeHost: { summary: 'Remove a joined host: its credential is revoked, its link closed, its instances replaced elsewhere', tags: ['hosts'], params: T.HostParams, response: { 200: T.RemovedHost } },
  drainHost: { summary: 'Move a host\'s instances elsewhere (rolling, zero downtime) and place nothing more there', tags: ['hosts'], params: T.HostParams, body: T.EmptyBody.optional(), response: { 200: ndjson('the drain') } },
  hostCredential: { summary: 'The credential a remote host\'s agent runs with', tags: ['hosts'], params: T.HostParams, body: T.EmptyBody.optional(), response: { 200: T.HostCredential } },
  cluster: { summary: 'The control-plane nodes, which one leads and since when, and the store', tags: ['hosts'], response: { 200: T.ClusterView } },
} as const satisfies Record<RouteName, RouteContract>;

type Contract = typeof CONTRACT;
type Success<R> = R extends { 200: infer S } ? S : R extends { 201: infer S } ? S : never;
/** What route `K` answers on success, as the SDK sees it. */
export type Answer<K extends RouteName> = Success<Contract[K]['response']> extends infer S ? S extends z.ZodType ? z.output<S> : never : never;
/** What route `K` takes as its body. */
export type BodyOf<K extends RouteName> = Contract[K] extends { body: infer B } ? B extends z.ZodType ? z.input<B> : never : undefined;
