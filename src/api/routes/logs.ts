// API routes for logs, events and the charts' series: queries and SSE streams.
import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { sees } from '../guard.js';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';

export function registerLogRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d, now, appParam, requireApp, sse } = c;
  // ---- logs and events ----
  route(fastify, 'logs', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.logs.query(name, logQuery(req.query, now));
  });
  route(fastify, 'logStream', async (req, reply) => {
    const name = appParam(req);
    await requireApp(name);
    const q = logQuery(req.query, now);
    sse(reply, (send, room) => {
      // Lines that arrive in one tick go out as one `logs` event holding a JSON array: one
      // SSE frame (and one parse on the client) per burst instead of one per line.
      // A batch goes out early past 64K, so no one frame is larger than the client's bound.
      let batch: string[] = [];
      let batchBytes = 0;
      const flush = () => {
        const lines = batch;
        batch = [];
        batchBytes = 0;
        if (lines.length === 1) send('log', null, lines[0]);
        else if (lines.length > 1) send('logs', null, `[${lines.join(',')}]`);
      };
      let unsubscribe = (): void => {};
      let closed = false;
      // The history (up to the app's whole log) goes out at the client's pace, then what came
      // meanwhile (by seq), and only then live lines: between the last catch-up and subscribe
      // nothing awaits, so no line is missed or sent twice.
      void (async () => {
        let lines = d.logs.query(name, { ...q, limit: q.limit ?? 100 });
        let last = 0;
        while (lines.length > 0) {
          for (const l of lines) {
            if (!(await room()) || closed) return;
            send('log', l);
            last = l.seq;
          }
          lines = d.logs.query(name, { instance: q.instance, source: q.source }).filter((l) => l.seq > last);
        }
        if (closed) return;
        unsubscribe = d.logs.subscribe(name, (l, json) => {
          if (!d.logs.matches(l, q)) return;
          if (batch.length === 0) process.nextTick(flush);
          batch.push(json);
          batchBytes += json.length;
          if (batchBytes > 64 * 1024) flush();
        });
      })();
      return () => {
        closed = true;
        unsubscribe();
      };
    });
  });
  route(fastify, 'appEvents', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    const q = req.query;
    return d.store.listEvents({ app: name, limit: q.limit ?? 200, ...(q.after !== undefined ? { afterId: q.after } : {}) });
  });
  route(fastify, 'eventStream', async (req, reply) => {
    const app = req.query.app;
    sse(reply, (send) => d.events.subscribe((e) => {
      if ((!app || e.app === app) && sees(req, e.app)) send('event', e);
    }));
  });
  route(fastify, 'series', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.series(name);
  });
}

function logQuery(q: { since?: string; instance?: string; source?: 'app' | 'summon'; limit?: number }, now: () => number) {
  const out: { since?: number; instance?: string; source?: 'app' | 'summon'; limit?: number } = {};
  if (q.since) {
    const ms = parseDuration(q.since);
    if (ms === undefined) throw new InvalidInputError(`--since must be a duration like "10m", got ${q.since}`);
    out.since = now() - ms;
  }
  if (q.instance) out.instance = q.instance;
  if (q.source) out.source = q.source;
  if (q.limit !== undefined) out.limit = q.limit;
  return out;
}
