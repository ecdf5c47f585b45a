// The API's one gate: every request but the public ones (dashboard files, /healthz) and the
// internal ones (checked by their own credential) is authenticated (auth.ts), decided by
// core/access.ts `may` on its route, and, when it is a change, audited (audit-log.ts). Git's
// smart HTTP goes through the same gate with HTTP Basic allowed (authorizeGit).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { may, reaches, ROUTE_RULES, ruleFor, type Grant } from '../core/access.js';
import { APP_NAME_RE } from '../core/names.js';
import { ForbiddenError, RateLimitedError, toSummonError } from '../core/errors.js';
import { auditDetail, type AuditLog } from './audit-log.js';
import { clientAddress, type Authenticator, type Principal } from './auth.js';
import type { PushGrants } from './push-grants.js';

export interface GuardDeps {
  auth: Authenticator;
  audit: AuditLog;
  pushes: PushGrants;
}

const principals = new WeakMap<IncomingMessage, Principal>();

/** The principal the gate found for this request (every route behind it has one). */
export function principalOf(req: FastifyRequest | IncomingMessage): Principal {
  const raw = 'raw' in req ? req.raw : req;
  const p = principals.get(raw);
  if (!p) throw new Error('principalOf: this request did not pass the API gate');
  return p;
}

/** Whether the request's token sees `app` in listings (null: Summon-wide, like host events). */
export function sees(req: FastifyRequest, app: string | null): boolean {
  return reaches(principalOf(req).grant, app);
}

export function grantOf(req: FastifyRequest): Grant {
  return principalOf(req).grant;
}

/** The routes anyone may call (core/access.ts): answered without looking for a token. */
const PUBLIC = new Set(ROUTE_RULES.filter((r) => r.need === 'public' && !r.route.includes('*')).map((r) => r.route));

export function installGuard(fastify: FastifyInstance, d: GuardDeps): void {
  fastify.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (PUBLIC.has(path) || path.startsWith('/assets/')) return;
    // Their own credentials, checked by their routes: the push hook's and the agents'.
    if (path === '/internal/push' || path === '/internal/hosts/join' || path.startsWith('/internal/blobs/')) return;
    const principal = await d.auth.authenticate(req.raw);
    principals.set(req.raw, principal);
    // A route fastify does not know is answered 404 by it, once the caller is known.
    const route = req.routeOptions.url;
    if (route === undefined) return;
    const params = (req.params ?? {}) as Record<string, string>;
    const app = typeof params.app === 'string' ? params.app : null;
    const rule = ruleFor(req.method, route);
    if (rule.action) {
      d.audit.onFinish(req.raw, reply.raw, {
        principal, address: clientAddress(req.raw), method: rule.method, route, app, action: rule.action, detail: {},
      });
    }
    const decision = may(principal.grant, req.method, route, app);
    if (!decision.ok) throw new ForbiddenError(decision.message);
  });
  // The body is parsed after onRequest: what a change asked for is added to its entry here.
  fastify.addHook('preHandler', async (req) => {
    const route = req.routeOptions.url;
    if (route === undefined || !principals.has(req.raw)) return;
    const rule = ruleFor(req.method, route);
    if (!rule.action) return;
    const params = (req.params ?? {}) as Record<string, string>;
    const detail = auditDetail(rule.action, req.body, params);
    const body = (req.body ?? {}) as { name?: unknown; app?: unknown };
    const app = rule.action === 'app.create' ? body.name : rule.action === 'token.create' ? body.app : undefined;
    d.audit.note(req.raw, { detail, ...(typeof app === 'string' && APP_NAME_RE.test(app) ? { app } : {}) });
  });
}

/** Which rule a git smart-HTTP request falls under. */
function gitRoute(subPath: string, url: string): string {
  if (subPath === '/info/refs') {
    const service = new URL(url, 'http://x').searchParams.get('service');
    return `/git/:app.git/info/refs?service=${service === 'git-receive-pack' ? 'git-receive-pack' : 'git-upload-pack'}`;
  }
  return subPath === '/git-receive-pack' ? '/git/:app.git/git-receive-pack' : '/git/:app.git/git-upload-pack';
}

/**
 * Authenticates and authorizes one git request (HTTP Basic: any user name, the token as the
 * password; or Bearer). Answers it itself (401, 403, 429) and returns false when refused; for
 * a push, binds the hook's credential to the pusher and audits the push if the hook did not.
 */
export async function authorizeGit(d: GuardDeps, app: string, subPath: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const route = gitRoute(subPath, req.url ?? '/');
  let principal: Principal;
  try {
    principal = await d.auth.authenticate(req, { basic: true });
  } catch (e) {
    const err = toSummonError(e);
    const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8' };
    if (err.code === 'unauthorized') headers['www-authenticate'] = 'Basic realm="summon"';
    if (err instanceof RateLimitedError) headers['retry-after'] = err.retryAfterS;
    res.writeHead(err.httpStatus, headers);
    res.end(err.code === 'unauthorized' && !req.headers.authorization
      ? 'Authentication required: use any user name and your Summon API token as the password (summon auth:token).\n'
      : `${err.message}\n`);
    return false;
  }
  principals.set(req, principal);
  const rule = ruleFor(req.method ?? 'GET', route);
  const address = clientAddress(req);
  if (rule.action) {
    const ctx = d.pushes.bind(req, { principal, address, app });
    res.once('close', () => {
      d.pushes.release(req);
      // The hook audits the pushes it hands to Summon; this is one it refused (a branch other
      // than main) or that never reached it (a denied token, a client that went away).
      if (ctx.audited) return;
      const status = res.statusCode;
      void d.audit.record({
        at: Date.now(), actor: principal.user.email, tokenId: principal.token.id, tokenName: principal.token.name, address,
        method: rule.method, route, app, action: rule.action!, status,
        outcome: status === 403 ? 'denied' : 'failed', detail: { reason: status === 403 ? 'forbidden' : 'nothing was built (refused by the hook, or the client left)' },
      });
    });
  }
  const decision = may(principal.grant, req.method ?? 'GET', route, app);
  if (!decision.ok && !rule.action && rule.need === 'deploy') {
    // A push refused at its first request (the ref advertisement): audited as a denied push.
    void d.audit.record({
      at: Date.now(), actor: principal.user.email, tokenId: principal.token.id, tokenName: principal.token.name, address,
      method: rule.method, route, app, action: 'git.push', status: 403, outcome: 'denied', detail: { reason: decision.message },
    });
  }
  if (!decision.ok) {
    res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${decision.message}\n`);
    return false;
  }
  return true;
}

/** The audit entry of a push, with its outcome, written by /internal/push. */
export async function auditPush(d: GuardDeps, ctx: NonNullable<ReturnType<PushGrants['redeem']>>, result: { ok: boolean; message?: string }, now: number): Promise<void> {
  ctx.audited = true;
  await d.audit.record({
    at: now, actor: ctx.principal.user.email, tokenId: ctx.principal.token.id, tokenName: ctx.principal.token.name, address: ctx.address,
    method: 'POST', route: '/git/:app.git/git-receive-pack', app: ctx.app, action: 'git.push', status: 200,
    outcome: result.ok ? 'ok' : 'failed', detail: { ...(result.message ? { message: result.message.slice(0, 500) } : {}) },
  });
}
