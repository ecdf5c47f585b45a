// The typed API client. The CLI and the dashboard use only this. Each method names its route
// (sdk/routes.ts) and returns what that route's contract says it answers (api/contract.ts), so
// the client and the server cannot drift apart.
import type { App } from '../core/types.js';
import { SummonError, type ErrorCode } from '../core/errors.js';
import type { Answer, BodyOf } from '../api/contract.js';
import { pathOf, ROUTES, type RouteName } from './routes.js';
import type {
  AccessView, AcmeStatus, AdviceView, AppView, AuditEntry, BuildSummary, BuildView, CertView, ClusterView, CreatedJoinToken, CreatedToken, DomainView, DrainStatus, DrainView, HostView, Instance, LogLine, ReleaseView,
  SeriesPoint, SummonEvent, TokenView, UsageView, UserView, Webhook, WebhookDelivery, WebhookView, WhoAmI,
} from './types.js';
import type { Role, Scope } from '../core/access.js';

export type { AcmeStatus, BuildSummary, BuildView };
export type { AppView, ReleaseView, LogLine, Instance, SummonEvent, App, Webhook, WebhookDelivery, SeriesPoint, DrainView, DrainStatus, HostView, DomainView, CertView };
export type { AccessView, AuditEntry, CreatedToken, TokenView, UserView, WhoAmI, Role, Scope, WebhookView };

export interface StreamResult {
  ok: boolean;
  message?: string;
  error?: { code: ErrorCode; message: string };
  [k: string]: unknown;
}

export interface ImageDownload {
  /** Bytes in the body, when the server said. */
  size: number | null;
  /** "vN": the release the image was made from. */
  release: string | null;
  filename: string | null;
  body: AsyncIterable<Uint8Array>;
}

export class SummonClient {
  /** The API this client talks to. */
  get baseUrl(): string {
    return this.opts.api;
  }

  constructor(private readonly opts: { api: string; token: string; fetch?: typeof fetch }) {
    if (!opts.api) throw new SummonError('invalid_input', 'no Summon API URL: run `summon login --api URL` or set SUMMON_API');
  }

  /** Calls route `name` with its path parameters, query and body; answers what its contract says. */
  private async call<K extends RouteName>(name: K, params: Record<string, string | number> = {}, opts: { query?: Record<string, unknown>; body?: BodyOf<K> } = {}): Promise<Answer<K>> {
    const res = await this.raw(ROUTES[name].method, `${pathOf(name, params)}${qs(opts.query ?? {})}`, opts.body);
    const text = await res.text();
    const data = text ? JSON.parse(text) : undefined;
    if (!res.ok) throw toError(res.status, data);
    return data as Answer<K>;
  }

  private async raw(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const f = this.opts.fetch ?? fetch;
    try {
      return await f(`${this.opts.api}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.opts.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new SummonError('internal', `cannot reach the Summon API at ${this.opts.api}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message} — is \`summon up\` running?`);
    }
  }

  /** Long operations answer NDJSON progress lines, then a result frame. */
  private async streamed<K extends RouteName>(name: K, params: Record<string, string>, body: BodyOf<K>, onLine: (l: string) => void): Promise<StreamResult> {
    const res = await this.raw(ROUTES[name].method, pathOf(name, params), body);
    if (!res.ok) throw toError(res.status, await res.json().catch(() => undefined));
    let result: StreamResult = { ok: false, message: 'the stream ended without a result' };
    await readLines(res, (line) => {
      if (!line) return;
      const f = JSON.parse(line) as { line?: string; done?: boolean } & StreamResult;
      if (f.done) result = f;
      else if (f.line !== undefined) onLine(f.line);
    });
    // A failure's last frame carries the one error shape (deploy_failed when the rollout did not
    // happen): thrown, so every caller maps its code the same way (the CLI to its exit code).
    if (!result.ok) throw result.error ? new SummonError(result.error.code, result.error.message) : new SummonError('internal', result.message ?? 'the operation failed');
    return result;
  }

  apps(): Promise<AppView[]> { return this.call('listApps'); }
  createApp(name: string): Promise<AppView> { return this.call('createApp', {}, { body: { name } }); }
  app(name: string): Promise<AppView> { return this.call('getApp', { app: name }); }
  destroyApp(name: string): Promise<{ ok: boolean }> { return this.call('destroyApp', { app: name }); }
  releases(app: string): Promise<ReleaseView[]> { return this.call('listReleases', { app }); }
  release(app: string, version: number): Promise<ReleaseView> { return this.call('getRelease', { app, version }); }
  rollback(app: string, version: number | null, onLine: (l: string) => void = () => {}): Promise<StreamResult> {
    return this.streamed('rollback', { app }, { version }, onLine);
  }
  /** Uploads a file built elsewhere by its sha256 (checked by the server before it is stored). */
  async upload(app: string, sha256: string, size: number, body: ReadableStream<Uint8Array>): Promise<{ sha256: string; size: number }> {
    const f = this.opts.fetch ?? fetch;
    let res: Response;
    try {
      res = await f(`${this.opts.api}${pathOf('upload', { app, sha256 })}`, {
        method: ROUTES.upload.method,
        headers: { authorization: `Bearer ${this.opts.token}`, 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body, duplex: 'half',
      } as RequestInit);
    } catch (e) {
      throw new SummonError('internal', `cannot reach the Summon API at ${this.opts.api}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`);
    }
    const data = await res.json().catch(() => undefined) as { sha256: string; size: number } | undefined;
    if (!res.ok) throw toError(res.status, data);
    return data!;
  }
  /** Releases uploaded files with their summon.toml, streaming the rollout. */
  deploy(app: string, d: BodyOf<'deploy'>, onLine: (l: string) => void = () => {}): Promise<StreamResult> {
    return this.streamed('deploy', { app }, d, onLine);
  }
  /** Builds of pushes, newest first, failed or not (without their logs). */
  builds(app: string, q: { limit?: number } = {}): Promise<BuildSummary[]> { return this.call('listBuilds', { app }, { query: q }); }
  /** One build with its log and, when it got that far, its build manifest. */
  build(app: string, version: number): Promise<BuildView> { return this.call('getBuild', { app, version }); }
  /** Rebuilds release `version` from its manifest and compares the artifact; throws (conflict) when it differs. */
  verifyRelease(app: string, version: number, onLine: (l: string) => void = () => {}): Promise<StreamResult> {
    return this.streamed('verifyRelease', { app, version: String(version) }, {}, onLine);
  }
  config(app: string): Promise<Record<string, string>> { return this.call('getConfig', { app }); }
  setConfig(app: string, set: Record<string, string>, unset: string[] = [], onLine: (l: string) => void = () => {}): Promise<StreamResult> {
    return this.streamed('setConfig', { app }, { set, unset }, onLine);
  }
  instances(app: string): Promise<Instance[]> { return this.call('listInstances', { app }); }
  scale(app: string, count: number): Promise<AppView> { return this.call('scale', { app }, { body: { count } }); }
  autoscale(app: string, p: { min?: number; max?: number; targetCpu?: number; idleTimeout?: string }): Promise<AppView> {
    return this.call('autoscale', { app }, { body: p });
  }
  restart(app: string, onLine: (l: string) => void = () => {}): Promise<StreamResult> {
    return this.streamed('restart', { app }, {}, onLine);
  }
  /** certs:auto: where the app's ACME certificate stands. */
  acmeStatus(app: string): Promise<AcmeStatus> { return this.call('acmeStatus', { app }); }
  /** certs:auto on: an order now if no valid certificate serves the domains, its steps as lines. */
  acmeOn(app: string, onLine: (l: string) => void = () => {}): Promise<StreamResult> {
    return this.streamed('acmeOn', { app }, {}, onLine);
  }
  acmeOff(app: string): Promise<AcmeStatus> { return this.call('acmeOff', { app }); }
  logs(app: string, q: { since?: string; instance?: string; source?: string; limit?: number } = {}): Promise<LogLine[]> {
    return this.call('logs', { app }, { query: q });
  }
  /** The newest `limit` (default 200) events, oldest first; with `after`, only events with a greater id. */
  events(app: string, q: { limit?: number; after?: number } = {}): Promise<SummonEvent[]> {
    return this.call('appEvents', { app }, { query: q });
  }
  hosts(): Promise<HostView[]> { return this.call('listHosts'); }
  cluster(): Promise<ClusterView> { return this.call('cluster'); }
  createJoinToken(b: { expires?: string; labels?: Record<string, string>; url?: string } = {}): Promise<CreatedJoinToken> { return this.call('createJoinToken', {}, { body: b }); }
  removeHost(host: string): Promise<{ host: string; removed: boolean }> { return this.call('removeHost', { host }); }
  drainHost(host: string, onLine: (l: string) => void = () => {}): Promise<StreamResult> { return this.streamed('drainHost', { host }, {}, onLine); }
  /** host.unreachable / host.connected, newest last. */
  hostEvents(q: { limit?: number } = {}): Promise<SummonEvent[]> { return this.call('hostEvents', {}, { query: q }); }
  /**
   * A qemu release as a bootable disk: `raw`, or `gce` (a tar.gz holding disk.raw). The
   * server builds it first (seconds), then the body streams; `version` null is the live release.
   */
  async exportImage(app: string, version: number | null, format: 'raw' | 'gce'): Promise<ImageDownload> {
    const path = version === null ? pathOf('liveImage', { app }) : pathOf('releaseImage', { app, version });
    const res = await this.raw('GET', `${path}${qs({ format })}`);
    if (!res.ok) throw toError(res.status, await res.json().catch(() => undefined));
    const len = res.headers.get('content-length');
    return {
      size: len === null ? null : Number(len),
      release: res.headers.get('x-summon-release'),
      filename: /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? null,
      body: res.body as unknown as AsyncIterable<Uint8Array>,
    };
  }
  series(app: string): Promise<SeriesPoint[]> { return this.call('series', { app }); }
  webhooks(app: string): Promise<WebhookView[]> { return this.call('listWebhooks', { app }); }
  /** The answer carries the signing secret; it is not shown again. */
  addWebhook(app: string, url: string, events?: string[]): Promise<Webhook> {
    return this.call('addWebhook', { app }, { body: { url, ...(events ? { events } : {}) } });
  }
  removeWebhook(app: string, id: string): Promise<{ ok: boolean }> { return this.call('removeWebhook', { app, id }); }
  webhookDeliveries(app: string, q: { limit?: number } = {}): Promise<WebhookDelivery[]> {
    return this.call('webhookDeliveries', { app }, { query: q });
  }
  /** Instance-seconds and memory-seconds per app and day (all apps the token reaches, or one), with costs when a price is set. */
  usage(o: { app?: string; since?: string } = {}): Promise<UsageView> {
    return this.call('usage', {}, { query: o });
  }

  /** Rightsizing advice for the app from the last day's observations. */
  advice(app: string): Promise<AdviceView> { return this.call('advice', { app }); }

  /** The app's custom domains. */
  domains(app: string): Promise<DomainView[]> { return this.call('listDomains', { app }); }
  addDomain(app: string, host: string): Promise<DomainView> { return this.call('addDomain', { app }, { body: { host } }); }
  removeDomain(app: string, host: string): Promise<{ ok: boolean }> { return this.call('removeDomain', { app, host }); }
  /** The app's certificates (never their keys). */
  certs(app: string): Promise<CertView[]> { return this.call('listCerts', { app }); }
  addCert(app: string, cert: string, key: string): Promise<CertView> { return this.call('addCert', { app }, { body: { cert, key } }); }
  removeCert(app: string, id: string): Promise<{ ok: boolean }> { return this.call('removeCert', { app, id }); }

  /** The app's log drains, each with its delivery status (buffered, delivered, dropped, last error). */
  drains(app: string): Promise<DrainView[]> { return this.call('listDrains', { app }); }
  /** syslog+tls://HOST:PORT, syslog://HOST:PORT or https://HOST/PATH; lines logged from now on are sent. */
  addDrain(app: string, url: string): Promise<DrainView> { return this.call('addDrain', { app }, { body: { url } }); }
  removeDrain(app: string, id: string): Promise<{ ok: boolean }> { return this.call('removeDrain', { app, id }); }
  /** The caller: user, token (scope, app, expiry) and the apps it reaches. */
  whoami(): Promise<WhoAmI> { return this.call('whoami'); }
  users(): Promise<UserView[]> { return this.call('listUsers'); }
  addUser(email: string, role?: Role): Promise<UserView> { return this.call('addUser', {}, { body: { email, ...(role ? { role } : {}) } }); }
  removeUser(email: string): Promise<{ ok: boolean; email: string }> { return this.call('removeUser', { email }); }
  /** Who reaches the app: admins (every app) and the members granted it. */
  access(app: string): Promise<AccessView[]> { return this.call('listAccess', { app }); }
  addAccess(app: string, email: string): Promise<AccessView> { return this.call('addAccess', { app }, { body: { email } }); }
  removeAccess(app: string, email: string): Promise<{ ok: boolean }> { return this.call('removeAccess', { app, email }); }
  tokens(q: { user?: string } = {}): Promise<TokenView[]> { return this.call('listTokens', {}, { query: q }); }
  /** The answer holds the token itself, shown this once (only its hash is kept). */
  createToken(t: { scope: Scope; app?: string | null; expires?: string; name?: string; user?: string }): Promise<CreatedToken> {
    return this.call('createToken', {}, { body: t });
  }
  revokeToken(id: string): Promise<TokenView> { return this.call('revokeToken', { id }); }
  /** Changes through the API and git, oldest first (the newest `limit`). */
  audit(q: { app?: string; limit?: number; after?: number } = {}): Promise<AuditEntry[]> { return this.call('audit', {}, { query: q }); }
  /** The credential a remote host's agent runs with (`summon agent --token-file`). */
  hostCredential(host: string): Promise<{ host: string; credential: string }> { return this.call('hostCredential', { host }, { body: {} }); }
  metricsText(): Promise<string> { return this.raw('GET', pathOf('metrics')).then(async (r) => (r.ok ? r.text() : Promise.reject(toError(r.status, await r.json().catch(() => undefined))))); }
  /** The API's OpenAPI 3 document. */
  openapi(): Promise<Record<string, unknown>> { return this.call('openapi'); }

  /**
   * Follows the app's log; resolves when `signal` aborts or the server ends the stream.
   * `onOpen` runs once the server accepted the stream, before any line is read.
   */
  async tailLogs(app: string, q: { since?: string; instance?: string; source?: string; limit?: number }, onLine: (l: LogLine) => void, signal: AbortSignal, onOpen?: () => void | Promise<void>): Promise<void> {
    await this.sse(`${pathOf('logStream', { app })}${qs(q)}`, (ev, data) => {
      if (ev === 'log') onLine(data as LogLine);
      else if (ev === 'logs') for (const l of data as LogLine[]) onLine(l);
    }, signal, onOpen);
  }

  /** Events from now on (none of the past: `events(app, { after })` fills a gap); `onOpen` as for tailLogs. */
  async tailEvents(app: string | null, onEvent: (e: SummonEvent) => void, signal: AbortSignal, onOpen?: () => void | Promise<void>): Promise<void> {
    await this.sse(`${pathOf('eventStream')}${app ? qs({ app }) : ''}`, (ev, data) => { if (ev === 'event') onEvent(data as SummonEvent); }, signal, onOpen);
  }

  private async sse(path: string, on: (event: string, data: unknown) => void, signal: AbortSignal, onOpen?: () => void | Promise<void>): Promise<void> {
    let res: Response;
    try {
      res = await this.raw('GET', path, undefined, signal);
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    if (!res.ok) throw toError(res.status, await res.json().catch(() => undefined));
    let event = 'message';
    try {
      if (onOpen) await onOpen();
      await readLines(res, (line) => {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) {
          const data: unknown = JSON.parse(line.slice(6));
          // The server ends a stream that its client reads too slowly, and says so last.
          if (event === 'dropped') throw new Error((data as { message?: string }).message ?? 'the server dropped this stream');
          on(event, data);
          event = 'message';
        }
      });
    } catch (e) {
      await res.body?.cancel().catch(() => {});
      if (!signal.aborted) throw e;
    }
  }
}

async function readLines(res: Response, onLine: (line: string) => void): Promise<void> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    // Walk the chunk with an index and cut the remainder once, not once per line.
    let start = 0;
    let i: number;
    while ((i = buf.indexOf('\n', start)) >= 0) {
      onLine(buf.slice(start, i));
      start = i + 1;
    }
    buf = buf.slice(start);
  }
  if (buf) onLine(buf);
}

function qs(q: Record<string, unknown>): string {
  const p = Object.entries(q).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return p.length ? `?${p.map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&')}` : '';
}

function toError(status: number, body: unknown): SummonError {
  const e = (body as { error?: { code?: ErrorCode; message?: string } } | undefined)?.error;
  if (e?.code && e.message) return new SummonError(e.code, e.message);
  return new SummonError(status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 429 ? 'rate_limited' : status === 404 ? 'not_found' : 'internal', `the API answered ${status}`);
}
