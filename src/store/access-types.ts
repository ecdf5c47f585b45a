// What the store keeps about who may do what (core/access.ts decides): users, their grants on
// apps, API tokens (only as sha256 hashes), and the audit log of every change.
import type { Role, Scope } from '../core/access.js';

export interface User {
  id: string;
  /** Lower-case; unique. */
  email: string;
  role: Role;
  createdAt: number;
}

/** A member's access to one app (as a Heroku collaborator). */
export interface AccessGrant {
  app: string;
  userId: string;
  email: string;
  createdAt: number;
}

export interface ApiToken {
  /** Visible id (`tok-…`), for listing and revoking; not the secret. */
  id: string;
  userId: string;
  name: string;
  scope: Scope;
  /** The one app the token is for, or null for every app its user reaches. */
  app: string | null;
  /** sha256 of the token, hex: the token itself is never stored. */
  hash: string;
  /** The first characters of the token (`sk_AbCd`), to recognise it in a listing. */
  prefix: string;
  createdAt: number;
  /** Who made it (an email, or "summon" for the first admin token). */
  createdBy: string;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export interface AuditEntry {
  id: number;
  at: number;
  /** The user's email, or "summon" for what Summon did on its own (the first admin token). */
  actor: string;
  tokenId: string | null;
  tokenName: string | null;
  /** The client's address. */
  address: string | null;
  /** `POST`, `PATCH`…, or null for a named action outside a request. */
  method: string | null;
  route: string | null;
  app: string | null;
  /** `config.set`, `git.push`, `token.create`… */
  action: string;
  /** ok, denied (403) or failed (the change was tried and did not happen). */
  outcome: 'ok' | 'denied' | 'failed';
  /** The HTTP status answered, when there was a request. */
  status: number | null;
  /** What changed (keys, counts, ids; never secret values), or why it failed. */
  detail: Record<string, unknown>;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;
