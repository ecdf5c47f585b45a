// When an app's certificate is obtained or renewed over ACME, and when a failed order is tried
// again: pure functions of the app's certificates, its domains and the clock.
//
// The rule: a certificate is renewed once less than a third of its lifetime remains (Let's
// Encrypt's 90 days: 30 days before expiry, as certbot and Caddy do), so a failing CA or a
// broken DNS record has weeks of daily retries before anything expires. A failed order is
// tried again after 1 min, doubling, at most every 6 h (`retryDelayMs`), and sooner if its
// certificate would otherwise expire first.

export const RETRY_BASE_MS = 60_000;
export const RETRY_MAX_MS = 6 * 3_600_000;

export interface CertSummary {
  hosts: string[];
  notBefore: number;
  notAfter: number;
}

/** Epoch ms from which `c` is due for renewal: a third of its lifetime before it expires. */
export function renewAt(c: Pick<CertSummary, 'notBefore' | 'notAfter'>): number {
  const lifetime = Math.max(0, c.notAfter - c.notBefore);
  return c.notAfter - Math.floor(lifetime / 3);
}

/** Whether `pattern` (a SAN, maybe `*.example.com`) covers `host`. */
export function covers(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === h) return true;
  if (!p.startsWith('*.')) return false;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}

/** The certificate that serves every one of `domains` and expires last, if any does. */
export function bestCert<T extends CertSummary>(certs: readonly T[], domains: readonly string[], now: number): T | undefined {
  let best: T | undefined;
  for (const c of certs) {
    if (c.notAfter <= now) continue;
    if (!domains.every((d) => c.hosts.some((h) => covers(h, d)))) continue;
    if (!best || c.notAfter > best.notAfter) best = c;
  }
  return best;
}

export type Due =
  | { kind: 'none'; reason: string }
  | { kind: 'order'; at: number; why: 'no-cert' | 'renew' | 'retry' };

/** When the next order for an app is due. `certs` are its ACME certificates; `failure`, the
 *  last failed order's count and time, cleared by a success. */
export function nextOrder(o: {
  domains: readonly string[];
  certs: readonly CertSummary[];
  failure: { failures: number; at: number } | null;
  now: number;
}): Due {
  if (o.domains.length === 0) return { kind: 'none', reason: 'the app has no custom domain' };
  const cert = bestCert(o.certs, o.domains, o.now);
  const due = cert ? renewAt(cert) : o.now;
  const why = cert ? 'renew' : 'no-cert';
  if (o.failure && o.failure.failures > 0) {
    const retry = o.failure.at + retryDelayMs(o.failure.failures);
    // Not before the backoff says, nor later than the certificate's renewal point would.
    return { kind: 'order', at: Math.max(due, Math.min(retry, cert ? cert.notAfter - 3_600_000 : retry)), why: 'retry' };
  }
  return { kind: 'order', at: due, why };
}

/** After `failures` failed orders in a row (1-based): 1 min, 2 min, 4 min … at most 6 h. */
export function retryDelayMs(failures: number, baseMs = RETRY_BASE_MS, maxMs = RETRY_MAX_MS): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(30, failures - 1));
}
