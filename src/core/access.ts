// Who may do what: users (admin or member), their per-app access (as Heroku collaborators),
// and the scope of each token. Pure: `may` decides from the principal and the route alone,
// so every decision is unit-tested (access.test.ts) and the API only asks it.
//
// A token's power is its scope, narrowed by its app (when it has one) and by its user's
// access (a member reaches only the apps granted to them; an admin reaches every app):
//
//   admin    everything (only an admin user holds one): users, tokens, hosts, access, apps
//   deploy   read its app(s), push, deploy, roll back, config, scale, restart, webhooks, drains,
//            domains, certificates
//   read     GET only, and not secrets (config values, drain URLs, disk images hold them)
//   metrics  GET /metrics and nothing else
//
// Routes not in the table below need an admin token: a new route is closed until it is listed.

export const SCOPES = ['admin', 'deploy', 'read', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];
export const ROLES = ['admin', 'member'] as const;
export type Role = (typeof ROLES)[number];

/** What a route needs. `self` is any valid token (whoami); `public` needs none. */
export type Need = 'public' | 'self' | 'metrics' | 'read' | 'secrets' | 'deploy' | 'admin';

export interface RouteRule {
  method: string;
  /** The route as fastify names it (`/api/apps/:app/config`), or a git route (`/git/:app.git/…`). */
  route: string;
  need: Need;
  /** A change's name in the audit log. Every rule that changes something has one. */
  action?: string;
}

const r = (method: string, route: string, need: Need, action?: string): RouteRule => ({ method, route, need, ...(action ? { action } : {}) });

export const ROUTE_RULES: readonly RouteRule[] = [
  r('GET', '/', 'public'), r('GET', '/assets/*', 'public'), r('GET', '/healthz', 'public'), r('GET', '/api/openapi.json', 'public'),
  r('GET', '/api/whoami', 'self'),
  r('GET', '/metrics', 'metrics'),
  // apps
  r('GET', '/api/apps', 'read'),
  r('POST', '/api/apps', 'admin', 'app.create'),
  r('GET', '/api/apps/:app', 'read'),
  r('DELETE', '/api/apps/:app', 'admin', 'app.destroy'),
  r('GET', '/api/apps/:app/releases', 'read'),
  r('GET', '/api/apps/:app/releases/:version', 'read'),
  r('POST', '/api/apps/:app/rollback', 'deploy', 'release.rollback'),
  r('GET', '/api/apps/:app/config', 'secrets'),
  r('PATCH', '/api/apps/:app/config', 'deploy', 'config.set'),
  r('POST', '/api/apps/:app/releases/:version/verify', 'deploy', 'release.verify'),
  r('PUT', '/api/apps/:app/uploads/:sha256', 'deploy', 'deploy.upload'),
  r('POST', '/api/apps/:app/deploys', 'deploy', 'deploy.upload'),
  r('GET', '/api/apps/:app/builds', 'read'),
  // A build's log can hold what its config vars are (builds see them).
  r('GET', '/api/apps/:app/builds/:version', 'secrets'),
  r('GET', '/api/apps/:app/instances', 'read'),
  r('POST', '/api/apps/:app/scale', 'deploy', 'ps.scale'),
  r('PUT', '/api/apps/:app/autoscale', 'deploy', 'ps.autoscale'),
  r('POST', '/api/apps/:app/restart', 'deploy', 'ps.restart'),
  r('GET', '/api/apps/:app/acme', 'read'),
  r('POST', '/api/apps/:app/acme', 'deploy', 'acme.enable'),
  r('DELETE', '/api/apps/:app/acme', 'deploy', 'acme.disable'),
  r('GET', '/api/apps/:app/logs', 'read'),
  r('GET', '/api/apps/:app/logs/stream', 'read'),
  r('GET', '/api/apps/:app/events', 'read'),
  r('GET', '/api/events/stream', 'read'),
  r('GET', '/api/apps/:app/metrics', 'read'),
  r('GET', '/api/apps/:app/advice', 'read'),
  // usage of every app the token reaches (or ?app=NAME)
  r('GET', '/api/usage', 'read'),
  r('GET', '/api/apps/:app/webhooks', 'read'),
  r('POST', '/api/apps/:app/webhooks', 'deploy', 'webhook.add'),
  r('DELETE', '/api/apps/:app/webhooks/:id', 'deploy', 'webhook.remove'),
  r('GET', '/api/apps/:app/webhooks/deliveries', 'read'),
  // A drain's URL may carry the receiver's token; a disk image holds the config vars.
  r('GET', '/api/apps/:app/drains', 'secrets'),
  r('POST', '/api/apps/:app/drains', 'deploy', 'drain.add'),
  r('DELETE', '/api/apps/:app/drains/:id', 'deploy', 'drain.remove'),
  // custom domains and certificates (a certificate is public; its key never leaves)
  r('GET', '/api/apps/:app/domains', 'read'),
  r('POST', '/api/apps/:app/domains', 'deploy', 'domain.add'),
  r('DELETE', '/api/apps/:app/domains/:host', 'deploy', 'domain.remove'),
  r('GET', '/api/apps/:app/certs', 'read'),
  r('POST', '/api/apps/:app/certs', 'deploy', 'cert.add'),
  r('DELETE', '/api/apps/:app/certs/:id', 'deploy', 'cert.remove'),
  r('GET', '/api/apps/:app/image', 'secrets'),
  r('GET', '/api/apps/:app/releases/:version/image', 'secrets'),
  // who may do what
  r('GET', '/api/apps/:app/access', 'admin'),
  r('POST', '/api/apps/:app/access', 'admin', 'access.add'),
  r('DELETE', '/api/apps/:app/access/:email', 'admin', 'access.remove'),
  r('GET', '/api/users', 'admin'),
  r('POST', '/api/users', 'admin', 'user.add'),
  r('DELETE', '/api/users/:email', 'admin', 'user.remove'),
  r('GET', '/api/tokens', 'admin'),
  r('POST', '/api/tokens', 'admin', 'token.create'),
  r('DELETE', '/api/tokens/:id', 'admin', 'token.revoke'),
  r('GET', '/api/audit', 'admin'),
  // hosts
  r('GET', '/api/hosts', 'admin'),
  r('GET', '/api/hosts/events', 'admin'),
  r('POST', '/api/hosts/:host/credential', 'admin', 'host.credential'),
  r('GET', '/api/cluster', 'admin'),
  r('POST', '/api/hosts/join-tokens', 'admin', 'host.jointoken'),
  r('DELETE', '/api/hosts/:host', 'admin', 'host.remove'),
  r('POST', '/api/hosts/:host/drain', 'admin', 'host.drain'),
  // git smart HTTP: fetching is reading, pushing is deploying
  r('GET', '/git/:app.git/info/refs?service=git-upload-pack', 'read'),
  r('POST', '/git/:app.git/git-upload-pack', 'read'),
  r('GET', '/git/:app.git/info/refs?service=git-receive-pack', 'deploy'),
  r('POST', '/git/:app.git/git-receive-pack', 'deploy', 'git.push'),
];

const BY_KEY = new Map(ROUTE_RULES.map((x) => [`${x.method} ${x.route}`, x]));

/** The rule of a route; HEAD is GET. Unknown routes need an admin token. */
export function ruleFor(method: string, route: string): RouteRule {
  const m = method === 'HEAD' ? 'GET' : method;
  return BY_KEY.get(`${m} ${route}`) ?? { method: m, route, need: 'admin', ...(m !== 'GET' ? { action: `${m} ${route}` } : {}) };
}

/** The token and user behind a request, as far as `may` needs them. */
export interface Grant {
  scope: Scope;
  role: Role;
  /** The one app a token is for, or null for all the apps its user reaches. */
  tokenApp: string | null;
  /** The apps the user was granted (members); admins reach every app. */
  apps: ReadonlySet<string> | 'all';
}

export type Decision = { ok: true } | { ok: false; message: string };

const ALLOW: Decision = { ok: true };
const deny = (message: string): Decision => ({ ok: false, message });

/**
 * Whether `g` may call `method route` (for `app`, when the route names one). Routes that list
 * across apps (GET /api/apps, the event stream) are allowed here and filtered by `reaches`.
 */
export function may(g: Grant, method: string, route: string, app: string | null): Decision {
  const rule = ruleFor(method, route);
  const what = `${rule.method} ${route.replace(/\?service=.*$/, '')}`;
  if (rule.need === 'public' || rule.need === 'self') return ALLOW;
  if (g.scope === 'metrics') {
    return rule.need === 'metrics' ? ALLOW : deny(`a metrics token can only scrape GET /metrics, not ${what}: use a read or deploy token`);
  }
  if (rule.need === 'metrics') {
    return g.scope === 'admin' && g.role === 'admin' ? ALLOW : deny('GET /metrics needs a metrics or admin token: create one with `summon tokens:create --scope metrics`');
  }
  if (rule.need === 'admin') {
    if (g.scope === 'admin' && g.role === 'admin') return ALLOW;
    return deny(`${what} needs an admin token: only admins manage users, tokens, hosts, access and apps`);
  }
  if (app !== null) {
    if (g.tokenApp !== null && g.tokenApp !== app) return deny(`this token is for app ${g.tokenApp} only, not ${app}`);
    if (g.apps !== 'all' && !g.apps.has(app)) return deny(`you have no access to app ${app}: an admin can grant it with \`summon access:add -a ${app} EMAIL\``);
  }
  if (g.scope === 'read') {
    if (rule.need === 'read') return ALLOW;
    if (rule.need === 'secrets') return deny(`a read token does not see secrets (config values, drain URLs, disk images): ${what} needs a deploy token`);
    return deny(`a read token can only read: ${what} needs a deploy token`);
  }
  return ALLOW; // deploy and admin: read, secrets and deploy within the apps reached
}

/** Whether `g` sees `app` in listings (apps, events); `null` is Summon-wide (hosts, destroyed apps). */
export function reaches(g: Grant, app: string | null): boolean {
  if (g.scope === 'metrics') return false;
  if (app === null) return g.tokenApp === null && g.apps === 'all';
  if (g.tokenApp !== null && g.tokenApp !== app) return false;
  return g.apps === 'all' || g.apps.has(app);
}

/** Whether a token of `scope` (for `app`, or all apps) may be given to a user of `role`. */
export function checkTokenGrant(role: Role, scope: Scope, app: string | null): string | null {
  if (scope === 'admin' && role !== 'admin') return 'only an admin user can hold an admin token: give a member a deploy or read token';
  if (scope === 'admin' && app !== null) return 'an admin token is for all of Summon: for one app, use --scope deploy (or read) with --app';
  if (scope === 'metrics' && app !== null) return '/metrics covers every app: a metrics token has no --app';
  if (scope === 'metrics' && role !== 'admin') return '/metrics covers every app: only an admin user can hold a metrics token';
  return null;
}

export const EMAIL_RE = /^[^\s@<>()",;:]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Lower-cased; refused unless it looks like user@host (no spaces, quotes, angle brackets). */
export function checkEmail(v: unknown): string | { error: string } {
  if (typeof v !== 'string') return { error: 'an email must be a string like dev@example.com' };
  const e = v.trim().toLowerCase();
  if (e.length > 254 || !EMAIL_RE.test(e)) return { error: `${JSON.stringify(v)} is not an email address like dev@example.com` };
  return e;
}

export const TOKEN_NAME_RE = /^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$/;

const EXPIRY_RE = /^(\d{1,5})(s|m|h|d)$/;
const EXPIRY_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const MAX_EXPIRY_MS = 3650 * 86_400_000;

/** `--expires`: "90d", "12h", "30m", "45s", or "never" (null); at most 3650d. */
export function parseExpiry(text: string): number | null | { error: string } {
  if (text === 'never') return null;
  const m = EXPIRY_RE.exec(text.trim());
  const ms = m ? Number(m[1]) * EXPIRY_MS[m[2]] : NaN;
  if (!m || ms < 1000 || ms > MAX_EXPIRY_MS) return { error: `--expires must be a duration from 1s to 3650d like 90d, 12h or 30m (or "never"), got ${JSON.stringify(text)}` };
  return ms;
}
