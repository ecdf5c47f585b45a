// The protocol between the pre-receive hook (hook.ts) and the API route that runs a build.
//
// The hook POSTs a PushRequest as JSON. The answer is a stream of newline-delimited JSON
// (application/x-ndjson), written as the build produces it:
//
//   {"line":"-----> Checking out 1a2b3c4"}      one output line, shown by git as "remote: …"
//   {"line":"       npm ci"}
//   {"done":true,"ok":false,"message":"…"}     the trailer: always last, exactly once
//
// A response that ends without a trailer means the server went away mid-build, and the
// hook refuses the push. JSON per line keeps output containing anything (even text that
// looks like a trailer) unambiguous.
import type { ServerResponse } from 'node:http';
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidInputError, toSummonError } from '../core/errors.js';

/** What the hook sends: the ref update to build, and where git keeps the pushed objects. */
export interface PushRequest {
  app: string;
  oldRev: string;
  newRev: string;
  ref: string;
  /** The bare repository (the hook's working directory). */
  gitDir: string;
  /** Quarantine variables git sets for pre-receive; needed to read objects not yet accepted. */
  gitEnv: Record<string, string>;
}

export interface PushResult {
  ok: boolean;
  message?: string;
}

export type PushStreamFrame = { line: string } | { done: true; ok: boolean; message?: string };

export const PUSH_STREAM_CONTENT_TYPE = 'application/x-ndjson';
const HEARTBEAT_MS = 15_000;

/** Variables the hook may forward from its environment; nothing else is accepted. */
export const QUARANTINE_VARS = ['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH'] as const;

const REV_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * Validates a hook request body. With `gitDirFor`, also checks that gitDir is the app's own
 * repository and every quarantine path lies inside it, so a caller holding the hook token
 * cannot point the build at another app's (or any) directory.
 */
export async function parsePushRequest(body: unknown, opts: { gitDirFor?: (app: string) => string } = {}): Promise<PushRequest> {
  if (typeof body !== 'object' || body === null) throw new InvalidInputError('push request must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const k of ['app', 'oldRev', 'newRev', 'ref', 'gitDir'] as const) {
    if (typeof b[k] !== 'string' || (b[k] as string).length === 0) {
      throw new InvalidInputError(`push request: ${k} must be a non-empty string`, { key: k });
    }
  }
  for (const k of ['oldRev', 'newRev'] as const) {
    if (!REV_RE.test(b[k] as string)) throw new InvalidInputError(`push request: ${k} must be a full hex object id`, { key: k });
  }
  const gitEnvIn = b.gitEnv ?? {};
  if (typeof gitEnvIn !== 'object' || gitEnvIn === null || Array.isArray(gitEnvIn)) {
    throw new InvalidInputError('push request: gitEnv must be an object', { key: 'gitEnv' });
  }
  const gitEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(gitEnvIn as Record<string, unknown>)) {
    if (!(QUARANTINE_VARS as readonly string[]).includes(k)) {
      throw new InvalidInputError(`push request: gitEnv.${k} is not a git quarantine variable`, { key: `gitEnv.${k}` });
    }
    if (typeof v !== 'string') throw new InvalidInputError(`push request: gitEnv.${k} must be a string`, { key: `gitEnv.${k}` });
    gitEnv[k] = v;
  }
  const req: PushRequest = {
    app: b.app as string,
    oldRev: b.oldRev as string,
    newRev: b.newRev as string,
    ref: b.ref as string,
    gitDir: b.gitDir as string,
    gitEnv,
  };
  if (opts.gitDirFor) {
    const want = await realOrSelf(opts.gitDirFor(req.app));
    const got = await realOrSelf(req.gitDir);
    if (got !== want) throw new InvalidInputError(`push request: gitDir is not the repository of app ${req.app}`, { key: 'gitDir' });
    for (const [k, v] of Object.entries(gitEnv)) {
      for (const p of v.split(':').filter(Boolean)) {
        const real = await realOrSelf(resolve(req.gitDir, p));
        if (real !== want && !real.startsWith(want + '/')) {
          throw new InvalidInputError(`push request: gitEnv.${k} points outside the repository`, { key: `gitEnv.${k}` });
        }
      }
    }
  }
  return req;
}

async function realOrSelf(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return resolve(p);
  }
}

/**
 * Serves the hook's request: streams every line `run` emits, then the trailer. Errors thrown
 * by `run` become a failed trailer with their message. `run` gets a signal that aborts when
 * the hook goes away (git client interrupted), so a build can be cancelled.
 */
export async function servePushStream(
  res: ServerResponse,
  run: (out: (line: string) => void, signal: AbortSignal) => Promise<PushResult>,
): Promise<void> {
  const ac = new AbortController();
  let finished = false;
  const onClose = () => {
    if (!finished) ac.abort(new Error('the git client went away'));
  };
  res.on('close', onClose);
  res.writeHead(200, {
    'content-type': PUSH_STREAM_CONTENT_TYPE,
    'cache-control': 'no-store',
    // Proxies (nginx) must pass lines through as they come, not at the end.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  const write = (frame: PushStreamFrame) => {
    if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(frame) + '\n');
  };
  const out = (line: string) => {
    // One frame per line, so the hook (and git) never see a partial or merged line.
    for (const l of String(line).split(/\r?\n/)) write({ line: l });
  };
  // A silent build step (a long compile) must not look like a dead connection to proxies
  // or load balancers in between: blank lines are ignored by the parser.
  const heartbeat = setInterval(() => {
    if (!res.writableEnded && !res.destroyed) res.write('\n');
  }, HEARTBEAT_MS);
  let result: PushResult;
  try {
    result = await run(out, ac.signal);
  } catch (e) {
    result = { ok: false, message: toSummonError(e).message };
  } finally {
    clearInterval(heartbeat);
  }
  finished = true;
  res.off('close', onClose);
  write({ done: true, ok: result.ok, ...(result.message !== undefined ? { message: result.message } : {}) });
  await new Promise<void>((done) => {
    if (res.writableEnded || res.destroyed) return done();
    res.end(done);
  });
}

/** Incremental parser for the hook side: feed chunks, get frames back. */
export class PushStreamParser {
  private buf = '';
  push(chunk: string): PushStreamFrame[] {
    this.buf += chunk;
    const frames: PushStreamFrame[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const raw = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (raw.trim() === '') continue;
      frames.push(parseFrame(raw));
    }
    return frames;
  }
}

function parseFrame(raw: string): PushStreamFrame {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    // A server that is not speaking this protocol: show what it said rather than hide it.
    return { line: raw };
  }
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if (o.done === true) {
      return { done: true, ok: o.ok === true, ...(typeof o.message === 'string' ? { message: o.message } : {}) };
    }
    if (typeof o.line === 'string') return { line: o.line };
  }
  return { line: raw };
}
