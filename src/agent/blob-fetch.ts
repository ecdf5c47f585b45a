// A remote agent's artifacts: fetched from the control plane's blob store by digest the first
// time an instance needs them, checked against that digest, and kept in the agent's own
// content-addressed store, so an agent whose control plane is away can still restart them.
import http from 'node:http';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../artifacts/blob-store.js';

export class BlobFetcher {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly opts: { controlUrl: string; token: string; blobs: BlobStore; timeoutMs?: number }) {
    const u = new URL(opts.controlUrl);
    if (u.protocol !== 'http:') throw new Error(`the control plane URL must be http://HOST:PORT, got ${opts.controlUrl}`);
  }

  /** Makes sure the blob is in the local store; one download per digest at a time. */
  ensure(sha256: string): Promise<void> {
    let p = this.inFlight.get(sha256);
    if (!p) {
      p = this.fetch(sha256).finally(() => this.inFlight.delete(sha256));
      this.inFlight.set(sha256, p);
    }
    return p;
  }

  private async fetch(sha256: string): Promise<void> {
    const { blobs } = this.opts;
    if (await blobs.has(sha256)) return;
    const dir = join(blobs.dir, 'download');
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${sha256}-${randomBytes(4).toString('hex')}`);
    try {
      const url = new URL(`/internal/blobs/${sha256}`, this.opts.controlUrl);
      await new Promise<void>((resolve, reject) => {
        const req = http.get(url, { headers: { authorization: `Bearer ${this.opts.token}` }, timeout: this.opts.timeoutMs ?? 60_000 }, (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`fetching artifact ${sha256.slice(0, 12)} from ${url.origin}: ${res.statusCode}`));
            return;
          }
          pipeline(res, createWriteStream(tmp, { mode: 0o600 })).then(resolve, reject);
        });
        req.on('timeout', () => req.destroy(new Error(`fetching artifact ${sha256.slice(0, 12)} from ${url.origin}: no answer`)));
        req.on('error', (e) => reject(new Error(`fetching artifact ${sha256.slice(0, 12)}: ${e.message} (is the control plane at ${url.origin} reachable?)`)));
      });
      const stored = await blobs.put(tmp);
      if (stored.sha256 !== sha256) {
        throw new Error(`artifact ${sha256.slice(0, 12)} from the control plane has digest ${stored.sha256.slice(0, 12)}: refused`);
      }
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
