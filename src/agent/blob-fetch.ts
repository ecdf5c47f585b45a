// A remote agent's artifacts: fetched from the control plane's blob store by digest the first
// time an instance needs them, checked against that digest, and kept in the agent's own
// content-addressed store, so an agent whose control plane is away can still restart them.
// A local copy found altered before a start is fetched again once (refetch()).
import http from 'node:http';
import https from 'node:https';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../artifacts/blob-store.js';

export class BlobFetcher {
  private readonly inFlight = new Map<string, Promise<void>>();

  /** `tls`: the control plane's own certificate, trusted alone (a host that joined: https). */
  constructor(private readonly opts: { controlUrl: string; token: string; blobs: BlobStore; timeoutMs?: number; tls?: { cert: string; fingerprint: string } }) {
    const u = new URL(opts.controlUrl);
    if (u.protocol !== 'http:' && !(u.protocol === 'https:' && opts.tls)) throw new Error(`the control plane URL must be http://HOST:PORT, got ${opts.controlUrl}`);
  }

  /** Makes sure the blob is in the local store; one download per digest at a time. */
  ensure(sha256: string): Promise<void> {
    return this.once(sha256, false);
  }

  /** Downloads the blob again, replacing the local copy (found missing or altered). */
  refetch(sha256: string): Promise<void> {
    return this.once(sha256, true);
  }

  private once(sha256: string, force: boolean): Promise<void> {
    let p = this.inFlight.get(sha256);
    if (!p) {
      p = this.fetch(sha256, force).finally(() => this.inFlight.delete(sha256));
      this.inFlight.set(sha256, p);
    }
    return p;
  }

  private async fetch(sha256: string, force: boolean): Promise<void> {
    const { blobs } = this.opts;
    if (!force && await blobs.has(sha256)) return;
    const dir = join(blobs.dir, 'download');
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${sha256}-${randomBytes(4).toString('hex')}`);
    try {
      const url = new URL(`/internal/blobs/${sha256}`, this.opts.controlUrl);
      await new Promise<void>((resolve, reject) => {
        const tls = this.opts.tls;
        const get = tls ? https.get : http.get;
        const req = get(url, {
          headers: { authorization: `Bearer ${this.opts.token}` }, timeout: this.opts.timeoutMs ?? 60_000,
          ...(tls ? {
            ca: tls.cert,
            checkServerIdentity: (_h: string, c: { fingerprint256: string }) => (c.fingerprint256 === tls.fingerprint ? undefined : new Error(`the control plane's certificate is ${c.fingerprint256}, not the pinned ${tls.fingerprint}`)),
          } : {}),
        }, (res) => {
          if (res.statusCode !== 200) {
            // The control plane says why (e.g. its own copy is altered): keep its message.
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => { if (body.length < 4096) body += c; });
            res.on('end', () => {
              let why = '';
              try { why = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? ''; } catch { /* not JSON */ }
              reject(new Error(`fetching artifact ${sha256.slice(0, 12)} from ${url.origin}: ${res.statusCode}${why ? ` ${why}` : ''}`));
            });
            res.on('error', reject);
            return;
          }
          pipeline(res, createWriteStream(tmp, { mode: 0o600 })).then(resolve, reject);
        });
        req.on('timeout', () => req.destroy(new Error(`fetching artifact ${sha256.slice(0, 12)} from ${url.origin}: no answer`)));
        req.on('error', (e) => reject(new Error(`fetching artifact ${sha256.slice(0, 12)}: ${e.message} (is the control plane at ${url.origin} reachable?)`)));
      });
      await blobs.put(tmp, { expect: sha256 }).catch((e: Error) => {
        throw new Error(`artifact ${sha256.slice(0, 12)} from the control plane at ${url.origin}: ${e.message} (its blob store copy is altered too)`);
      });
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
