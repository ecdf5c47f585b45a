// Server-sent events for the log and event streams: batched per tick, pinged every 15 s, and a
// client that stops reading is dropped (core/sse-writer.ts) and told so last.
import type { FastifyReply } from 'fastify';
import { SseWriter, type SseDrop } from '../core/sse-writer.js';

export type SseSend = (event: string, data: unknown, json?: string) => void;
/** Resolves true when the client has room for more, false once its stream is gone. */
export type SseRoom = () => Promise<boolean>;

/** What a dropped client is sent last, when it fits: `summon logs --tail` says it and reconnects. */
const dropFrame = (drop: SseDrop): string => `event: dropped\ndata: ${JSON.stringify({ reason: drop.reason, message: drop.message })}\n\n`;

export function sseStream(
  reply: FastifyReply,
  bounds: { maxBufferedBytes: number; drainTimeoutMs: number },
  start: (send: SseSend, room: SseRoom) => () => void,
  onDrop: (drop: SseDrop) => void,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.socket?.setNoDelay(true);
  // The writer corks each tick (a burst of log lines goes out in one write) and drops a
  // client that stops reading instead of buffering for it (core/sse-writer.ts).
  const out = new SseWriter(res, { ...bounds, dropFrame, onDrop });
  out.write(': connected\n\n');
  const send: SseSend = (event, data, json) => {
    out.write(`event: ${event}\ndata: ${json ?? JSON.stringify(data)}\n\n`);
  };
  const stop = start(send, () => out.room());
  const ping = setInterval(() => out.write(': ping\n\n'), 15_000);
  res.on('close', () => {
    clearInterval(ping);
    stop();
  });
}

