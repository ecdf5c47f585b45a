// The pre-receive hook's credential: one per git request, valid while that request is served.
// The hook (git/hook.ts) gets it as SUMMON_HOOK_TOKEN and presents it to /internal/push,
// which learns from it who pushed and from where (for the audit log), and accepts nothing
// else: a build that reads its environment finds no token that outlives its own push.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { sameSecret, type Principal } from './auth.js';

export interface PushContext {
  principal: Principal;
  address: string;
  app: string;
  /** Set once /internal/push has audited the push (with its outcome). */
  audited: boolean;
}

export class PushGrants {
  private readonly secret = randomBytes(24).toString('base64url');
  private readonly ids = new WeakMap<IncomingMessage, string>();
  private readonly contexts = new Map<string, PushContext>();

  /** Marks `req` (a git receive-pack) as a push by `ctx.principal`. */
  bind(req: IncomingMessage, ctx: Omit<PushContext, 'audited'>): PushContext {
    const id = randomBytes(12).toString('base64url');
    const full = { ...ctx, audited: false };
    this.ids.set(req, id);
    this.contexts.set(id, full);
    return full;
  }

  /** When the git request is over: its hook credential stops working. */
  release(req: IncomingMessage): void {
    const id = this.ids.get(req);
    if (id) this.contexts.delete(id);
    this.ids.delete(req);
  }

  /** SUMMON_HOOK_TOKEN for the hook that `req` runs (one that redeems to nothing when unbound). */
  hookToken(req: IncomingMessage): string {
    return `${this.secret}.${this.ids.get(req) ?? 'none'}`;
  }

  /** The push a hook credential belongs to; null when it is not one (compared in constant time). */
  redeem(given: string | null): PushContext | null {
    if (!given) return null;
    const dot = given.lastIndexOf('.');
    if (dot < 0 || !sameSecret(given.slice(0, dot), this.secret)) return null;
    return this.contexts.get(given.slice(dot + 1)) ?? null;
  }
}
