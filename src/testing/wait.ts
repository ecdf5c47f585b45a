// Helpers for tests and benchmarks: wait on conditions with deadlines, never fixed sleeps.
import http from 'node:http';

/** One factor for every deadline a test sets: how much slower this machine is than the one
 *  the deadlines were written on. `scripts/run-tests.mjs` measures it once at start (a fixed
 *  workload on both cores) and passes it down as SUMMON_TEST_SLOWDOWN; set that variable to
 *  override the measurement. Outside the runner it is 1. */
export const slowdown = parseSlowdown(process.env.SUMMON_TEST_SLOWDOWN);

export function parseSlowdown(text: string | undefined): number {
  if (text === undefined || text === '') return 1;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 1 || n > 100) {
    throw new Error(`SUMMON_TEST_SLOWDOWN must be a number from 1 to 100 (how much slower this machine is), got ${JSON.stringify(text)}`);
  }
  return n;
}

/** A deadline of `ms` on the machine the test was written on, on this one. */
export function scaled(ms: number): number {
  return Math.round(ms * slowdown);
}

export async function waitFor<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const timeoutMs = scaled(opts.timeoutMs);
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const factor = slowdown === 1 ? '' : ` (${opts.timeoutMs} ms × slowdown ${slowdown})`;
      throw new Error(`timed out after ${timeoutMs} ms${factor} waiting for ${opts.what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}

export { freePort } from '../agent/ports.js';

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function httpGet(url: string, opts: { headers?: Record<string, string>; method?: string; timeoutMs?: number; body?: string } = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(scaled(opts.timeoutMs ?? 10_000), () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}
