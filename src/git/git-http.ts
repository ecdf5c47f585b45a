// Git smart HTTP, served by the system's `git http-backend` run as a CGI program.
// Authentication happens in the caller (the API checks HTTP Basic with the API token);
// by the time `handle` runs the request is allowed.
//
// Both directions are streamed: the request body is piped into the CGI, and the CGI's
// output is relayed as it is produced, so the build output that the pre-receive hook
// prints reaches the pusher ("remote: …") while the build runs, not when it ends.
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidInputError } from '../core/errors.js';
import { APP_NAME_RE } from '../core/names.js';
import { formatSize } from '../core/units.js';
import type { RepoManager } from './repos.js';

export interface GitHttpBackendOptions {
  repos: RepoManager;
  /** Extra environment for the hook: SUMMON_HOOK_URL, SUMMON_HOOK_TOKEN (one per request), SUMMON_APP. */
  hookEnv: (app: string, req: IncomingMessage) => Record<string, string>;
  /** The git binary; defaults to `git` on PATH. */
  gitPath?: string;
  /** Reported to git as REMOTE_USER (shows up in reflogs). */
  remoteUser?: string;
  /** Largest pack a push may send (default 500M, Heroku's slug limit): refused with 413 when
   *  the request says its length, and by git's own receive.maxInputSize when it streams. */
  maxPushBytes?: number;
}

export const DEFAULT_MAX_PUSH_BYTES = 500 * 1024 * 1024;

/** The smart-protocol endpoints; everything else (dumb HTTP, objects/…) is not served. */
const ROUTES: Record<string, string> = {
  '/info/refs': 'GET',
  '/git-upload-pack': 'POST',
  '/git-receive-pack': 'POST',
};

const MAX_CGI_HEADER = 64 * 1024;

export class GitHttpBackend {
  private readonly repos: RepoManager;
  private readonly hookEnv: (app: string, req: IncomingMessage) => Record<string, string>;
  private readonly gitPath: string;
  private readonly remoteUser: string;
  private readonly maxPushBytes: number;

  constructor(opts: GitHttpBackendOptions) {
    if (!opts?.repos) throw new InvalidInputError('GitHttpBackend: repos is required', { key: 'repos' });
    if (typeof opts.hookEnv !== 'function') throw new InvalidInputError('GitHttpBackend: hookEnv must be a function', { key: 'hookEnv' });
    this.repos = opts.repos;
    this.hookEnv = opts.hookEnv;
    this.gitPath = opts.gitPath ?? 'git';
    this.remoteUser = opts.remoteUser ?? 'summon';
    this.maxPushBytes = opts.maxPushBytes ?? DEFAULT_MAX_PUSH_BYTES;
    if (!Number.isSafeInteger(this.maxPushBytes) || this.maxPushBytes < 1024) {
      throw new InvalidInputError(`GitHttpBackend: maxPushBytes must be a whole number of bytes ≥ 1K, got ${String(opts.maxPushBytes)}`, { key: 'maxPushBytes' });
    }
  }

  /**
   * Serves one request for `app`. `subPath` is what follows the repository in the URL
   * ("/info/refs", "/git-upload-pack" or "/git-receive-pack"); the query string is taken
   * from req.url.
   */
  async handle(app: string, subPath: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = ROUTES[subPath];
    if (!method || !APP_NAME_RE.test(app) || !(await this.repos.exists(app))) {
      return plain(res, 404, 'Not Found\n');
    }
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('allow', method);
      return plain(res, 405, 'Method Not Allowed\n');
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = url.search.startsWith('?') ? url.search.slice(1) : '';
    if (subPath === '/info/refs') {
      // Only the smart protocol: without ?service= http-backend would answer dumb clients,
      // which then ask for object files we do not serve.
      const service = url.searchParams.get('service');
      if (service !== 'git-upload-pack' && service !== 'git-receive-pack') {
        return plain(res, 403, 'Summon serves only the smart git protocol: use git 1.6.6 or newer\n');
      }
    }

    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    const length = Number(header('content-length') ?? 0);
    if (subPath === '/git-receive-pack' && length > this.maxPushBytes) {
      req.resume();
      res.setHeader('connection', 'close');
      return plain(res, 413, `this push is ${formatSize(length)}; the limit is ${formatSize(this.maxPushBytes)} (summon up --max-push-size). Keep build outputs and large data out of the repository.\n`);
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_PROJECT_ROOT: this.repos.dir,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: `/${app}.git${subPath}`,
      QUERY_STRING: query,
      REMOTE_USER: this.remoteUser,
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      // git's own bound on a pack that arrives without a length (chunked): receive-pack stops
      // reading past it and the pusher sees "pack exceeds maximum allowed size".
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'receive.maxInputSize',
      GIT_CONFIG_VALUE_0: String(this.maxPushBytes),
      ...this.hookEnv(app, req),
    };
    const opt = (k: string, v: string | undefined) => {
      if (v !== undefined && v !== '') env[k] = v;
    };
    opt('CONTENT_TYPE', header('content-type'));
    // Chunked uploads (large pushes) have no length; http-backend then reads to EOF.
    opt('CONTENT_LENGTH', header('content-length'));
    // http-backend inflates gzip request bodies itself when told the encoding.
    opt('HTTP_CONTENT_ENCODING', header('content-encoding'));
    // Carries "version=2" for protocol v2 fetches.
    opt('HTTP_GIT_PROTOCOL', header('git-protocol'));

    const child = spawn(this.gitPath, ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      if (stderr.length < 8192) stderr += c;
    });
    child.stdin.on('error', () => {
      // http-backend may exit before reading the whole body (e.g. on a bad request); the
      // error then shows up in its response or exit status, not here.
    });
    req.pipe(child.stdin);

    // If the client goes away, stop the backend (and receive-pack with it).
    const onClose = () => {
      if (!res.writableEnded && child.exitCode === null) child.kill('SIGTERM');
    };
    res.on('close', onClose);

    const exited = new Promise<number | null>((done) => {
      child.on('error', (e) => {
        stderr += `\n${e.message}`;
        done(null);
      });
      child.on('close', (code) => done(code));
    });

    await relayCgi(child.stdout, res);
    const code = await exited;
    res.off('close', onClose);
    if (!res.headersSent) {
      plain(res, 500, `git http-backend failed (exit ${code}): ${stderr.trim() || 'no output'}\n`);
    } else if (!res.writableEnded) {
      res.end();
    }
  }
}

/**
 * Reads the CGI header block (Status, Content-Type, …) and then streams the rest of the
 * output as the response body, writing each chunk as soon as it arrives.
 */
function relayCgi(out: NodeJS.ReadableStream, res: ServerResponse): Promise<void> {
  return new Promise((done) => {
    let head: Buffer | null = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      if (head === null) {
        if (!res.destroyed) res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const split = findHeaderEnd(head);
      if (!split) {
        if (head.length > MAX_CGI_HEADER) {
          plain(res, 502, 'git http-backend sent an oversized header\n');
          head = null;
          out.removeListener('data', onData);
          out.resume();
        }
        return;
      }
      const headerText = head.subarray(0, split.at).toString('latin1');
      const rest = head.subarray(split.at + split.len);
      head = null;
      writeCgiHead(res, headerText);
      if (rest.length > 0) res.write(rest);
    };
    out.on('data', onData);
    out.on('end', () => done());
    out.on('error', () => done());
  });
}

function findHeaderEnd(buf: Buffer): { at: number; len: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, len: 4 };
  if (lf >= 0) return { at: lf, len: 2 };
  return null;
}

function writeCgiHead(res: ServerResponse, text: string): void {
  let status = 200;
  let reason: string | undefined;
  const headers: [string, string][] = [];
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') {
      const m = /^(\d{3})\s*(.*)$/.exec(value);
      if (m) {
        status = Number(m[1]);
        reason = m[2] || undefined;
      }
    } else {
      headers.push([name, value]);
    }
  }
  for (const [k, v] of headers) res.appendHeader(k, v);
  res.writeHead(status, reason);
  // Flush headers now: receive-pack may be silent for a long time while the build runs.
  res.flushHeaders();
  res.socket?.setNoDelay(true);
}

function plain(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
