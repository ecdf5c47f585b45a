// Each host's own credential: `ah_<host id>.<HMAC-SHA256 of the id under the control plane's
// agent secret (DATA/agent.token)>`. The control plane derives it whenever it needs it (to
// command that host's agent, to check the host's artifact downloads), so nothing per host is
// stored; the agent holds only its own. One that leaks lets its holder act as that host only:
// command that agent, and fetch only the artifacts of releases placed on that host.
//
// An agent still given the shared secret itself (`--token-file DATA/agent.token`, as before
// per-host credentials) derives its own credential from it and sends only that; it accepts
// the secret too, from a control plane of the same secret.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { APP_NAME_RE } from '../core/names.js';

export const HOST_CREDENTIAL_PREFIX = 'ah_';
const CREDENTIAL_RE = /^ah_([a-z](?:[a-z0-9-]{0,28}[a-z0-9])?)\.([A-Za-z0-9_-]{43})$/;

export function hostCredential(secret: string, hostId: string): string {
  if (!APP_NAME_RE.test(hostId)) throw new Error(`not a host id: ${JSON.stringify(hostId)}`);
  const mac = createHmac('sha256', secret).update(`summon host credential v1\0${hostId}`).digest('base64url');
  return `${HOST_CREDENTIAL_PREFIX}${hostId}.${mac}`;
}

/** The host a credential names (not checked: see verifyHostCredential), or null. */
export function credentialHost(credential: string): string | null {
  return CREDENTIAL_RE.exec(credential)?.[1] ?? null;
}

/** The host `given` is the credential of under `secret`, or null; compared in constant time. */
export function verifyHostCredential(secret: string, given: string | null): string | null {
  if (!given) return null;
  const host = credentialHost(given);
  if (!host) return null;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(hostCredential(secret, host)).digest();
  return timingSafeEqual(a, b) ? host : null;
}

/**
 * What the agent of `hostId` sends (to the control plane) and accepts (from it), given the
 * token it was started with: its own credential, or the shared secret it derives one from.
 */
export function agentCredentials(token: string, hostId: string): { send: string; accept: string[]; shared: boolean } {
  if (token.startsWith(HOST_CREDENTIAL_PREFIX)) {
    const host = credentialHost(token);
    if (!host) throw new Error('this is not a host credential (ah_ID.…): print it again with `summon hosts:credential ID` on the control plane');
    if (host !== hostId) throw new Error(`this credential is host ${host}'s, not ${hostId}'s: run the agent with --id ${host}, or print ${hostId}'s with \`summon hosts:credential ${hostId}\``);
    return { send: token, accept: [token], shared: false };
  }
  const own = hostCredential(token, hostId);
  return { send: own, accept: [own, token], shared: true };
}
