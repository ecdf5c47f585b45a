// Every API route by name: its method and path, once. The server registers each route from
// this table with its schemas (api/contract.ts), and the SDK builds its requests from it, so a
// route moved on one side is moved on both. Plain data (no zod) so the dashboard's bundle
// carries only these strings.
export const ROUTES = {
  health: { method: 'GET', url: '/healthz' },
  openapi: { method: 'GET', url: '/api/openapi.json' },
  whoami: { method: 'GET', url: '/api/whoami' },
  // apps
  listApps: { method: 'GET', url: '/api/apps' },
  createApp: { method: 'POST', url: '/api/apps' },
  getApp: { method: 'GET', url: '/api/apps/:app' },
  destroyApp: { method: 'DELETE', url: '/api/apps/:app' },
  // releases and config
  listReleases: { method: 'GET', url: '/api/apps/:app/releases' },
  getRelease: { method: 'GET', url: '/api/apps/:app/releases/:version' },
  rollback: { method: 'POST', url: '/api/apps/:app/rollback' },
  verifyRelease: { method: 'POST', url: '/api/apps/:app/releases/:version/verify' },
  getConfig: { method: 'GET', url: '/api/apps/:app/config' },
  setConfig: { method: 'PATCH', url: '/api/apps/:app/config' },
  // CI deploys: upload an artifact by its sha256, then release it
  upload: { method: 'PUT', url: '/api/apps/:app/uploads/:sha256' },
  deploy: { method: 'POST', url: '/api/apps/:app/deploys' },
  // builds
  listBuilds: { method: 'GET', url: '/api/apps/:app/builds' },
  getBuild: { method: 'GET', url: '/api/apps/:app/builds/:version' },
  // instances and scale
  listInstances: { method: 'GET', url: '/api/apps/:app/instances' },
  scale: { method: 'POST', url: '/api/apps/:app/scale' },
  autoscale: { method: 'PUT', url: '/api/apps/:app/autoscale' },
  restart: { method: 'POST', url: '/api/apps/:app/restart' },
  // automatic certificates over ACME (certs:auto)
  acmeStatus: { method: 'GET', url: '/api/apps/:app/acme' },
  acmeOn: { method: 'POST', url: '/api/apps/:app/acme' },
  acmeOff: { method: 'DELETE', url: '/api/apps/:app/acme' },
  // logs, events, metrics
  logs: { method: 'GET', url: '/api/apps/:app/logs' },
  logStream: { method: 'GET', url: '/api/apps/:app/logs/stream' },
  appEvents: { method: 'GET', url: '/api/apps/:app/events' },
  eventStream: { method: 'GET', url: '/api/events/stream' },
  series: { method: 'GET', url: '/api/apps/:app/metrics' },
  // usage and rightsizing
  usage: { method: 'GET', url: '/api/usage' },
  advice: { method: 'GET', url: '/api/apps/:app/advice' },
  metrics: { method: 'GET', url: '/metrics' },
  // disk images
  liveImage: { method: 'GET', url: '/api/apps/:app/image' },
  releaseImage: { method: 'GET', url: '/api/apps/:app/releases/:version/image' },
  // webhooks and drains
  listWebhooks: { method: 'GET', url: '/api/apps/:app/webhooks' },
  addWebhook: { method: 'POST', url: '/api/apps/:app/webhooks' },
  removeWebhook: { method: 'DELETE', url: '/api/apps/:app/webhooks/:id' },
  webhookDeliveries: { method: 'GET', url: '/api/apps/:app/webhooks/deliveries' },
  listDrains: { method: 'GET', url: '/api/apps/:app/drains' },
  addDrain: { method: 'POST', url: '/api/apps/:app/drains' },
  removeDrain: { method: 'DELETE', url: '/api/apps/:app/drains/:id' },
  // custom domains and certificates
  listDomains: { method: 'GET', url: '/api/apps/:app/domains' },
  addDomain: { method: 'POST', url: '/api/apps/:app/domains' },
  removeDomain: { method: 'DELETE', url: '/api/apps/:app/domains/:host' },
  listCerts: { method: 'GET', url: '/api/apps/:app/certs' },
  addCert: { method: 'POST', url: '/api/apps/:app/certs' },
  removeCert: { method: 'DELETE', url: '/api/apps/:app/certs/:id' },
  // users, access, tokens, audit
  listUsers: { method: 'GET', url: '/api/users' },
  addUser: { method: 'POST', url: '/api/users' },
  removeUser: { method: 'DELETE', url: '/api/users/:email' },
  listAccess: { method: 'GET', url: '/api/apps/:app/access' },
  addAccess: { method: 'POST', url: '/api/apps/:app/access' },
  removeAccess: { method: 'DELETE', url: '/api/apps/:app/access/:email' },
  listTokens: { method: 'GET', url: '/api/tokens' },
  createToken: { method: 'POST', url: '/api/tokens' },
  revokeToken: { method: 'DELETE', url: '/api/tokens/:id' },
  audit: { method: 'GET', url: '/api/audit' },
  // hosts
  listHosts: { method: 'GET', url: '/api/hosts' },
  hostEvents: { method: 'GET', url: '/api/hosts/events' },
  hostCredential: { method: 'POST', url: '/api/hosts/:host/credential' },
  // control-plane nodes (several `summon up` on one PostgreSQL)
  cluster: { method: 'GET', url: '/api/cluster' },
  createJoinToken: { method: 'POST', url: '/api/hosts/join-tokens' },
  removeHost: { method: 'DELETE', url: '/api/hosts/:host' },
  drainHost: { method: 'POST', url: '/api/hosts/:host/drain' },
} as const satisfies Record<string, { method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string }>;

export type RouteName = keyof typeof ROUTES;

/** The path of route `name` with its `:params` filled in (each one URL-encoded). */
export function pathOf(name: RouteName, params: Record<string, string | number> = {}): string {
  return ROUTES[name].url.replace(/:([a-z][a-z0-9]*)/g, (_, k: string) => {
    const v = params[k];
    if (v === undefined) throw new Error(`${ROUTES[name].url}: no value for :${k}`);
    return encodeURIComponent(String(v));
  });
}
