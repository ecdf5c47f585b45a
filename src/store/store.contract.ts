// The behaviour every Store must have. Each backend's test file calls runStoreContract
// with a function that opens a fresh, empty store; every test gets its own.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConflictError, NotFoundError, SummonError } from '../core/errors.js';
import type { BuildManifest, Host, Instance, Manifest } from '../core/types.js';
import type { BuildRecord, Drain, StoredCert, NewRelease, SeriesRow, Store, Webhook, WebhookDelivery } from './store.js';

export interface StoreSubject {
  store: Store;
  /** Closes the store(s) and removes what open() created. */
  cleanup(): Promise<void>;
  /** Opens another Store on the same data (same file / same database), when possible. */
  reopen?(): Promise<Store>;
}

// A realistic epoch-ms time: past 2^31, so 32-bit columns or string bigints would show.
const T0 = 1_700_000_000_123;

const MANIFEST: Manifest = {
  build: { command: 'make', artifact: 'out/app.img', test: 'make test', timeoutMs: 600_000, toolchain: ['gcc --version'] },
  run: { target: 'qemu', args: ['--verbose'], port: 8080, memoryBytes: 64 * 1024 * 1024, cmdline: 'console=ttyS0' },
  health: { kind: 'http', path: '/health', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, graceMs: 60_000 },
  scale: { min: 1, max: 10, targetCpu: 0.7, idleTimeoutMs: 0 },
  deploy: { maxSurge: 1, maxUnavailable: 0, drainTimeoutMs: 30_000 },
};

const BUILD_MANIFEST: BuildManifest = {
  schema: 'summon.build/v1',
  app: 'web',
  commit: 'a'.repeat(40),
  tree: 'b'.repeat(40),
  ref: 'refs/heads/main',
  summonTomlSha256: 'c'.repeat(64),
  build: { command: 'make', test: 'make test', timeoutMs: 600_000 },
  platform: { os: 'linux', arch: 'x64', kernel: '6.1.0', node: 'v20.0.0', summon: '0.1.0' },
  toolchain: [{ command: 'gcc --version', output: 'gcc 12.2.0 "quoted" \u00e9', exitCode: 0 }],
  lockfiles: [{ path: 'package-lock.json', sha256: 'd'.repeat(64) }],
  artifact: { path: 'out/app.img', sha256: 'e'.repeat(64), size: 12_345_678, target: 'qemu', initrdSha256: 'f'.repeat(64) },
  steps: [{ name: 'build', startedAt: T0, durationMs: 1234, exitCode: 0 }],
  startedAt: T0,
  finishedAt: T0 + 5000,
};

function newRelease(over: Partial<NewRelease> = {}): NewRelease {
  return {
    status: 'building',
    description: 'Deploy aaaaaaa',
    reason: null,
    commit: null,
    artifactSha256: null,
    initrdSha256: null,
    manifest: null,
    buildManifest: null,
    configCipher: null,
    ...over,
  };
}

function instance(over: Partial<Instance> = {}): Instance {
  return {
    id: 'i-0000000001',
    app: 'web',
    version: 1,
    host: 'h1',
    state: 'pending',
    address: '127.0.0.1',
    port: null,
    pid: null,
    startedAt: null,
    healthyAt: null,
    restarts: 0,
    reason: null,
    nextRetryAt: null,
    cpu: null,
    memoryBytes: null,
    updatedAt: T0,
    ...over,
  };
}

function webhook(over: Partial<Webhook> = {}): Webhook {
  return { id: 'wh-1', app: 'web', url: 'http://127.0.0.1:9/hook', events: ['release.live'], secret: 's3cret', createdAt: T0, ...over };
}

function delivery(over: Partial<WebhookDelivery> = {}): WebhookDelivery {
  return { id: 'd-1', webhookId: 'wh-1', app: 'web', event: 'release.live', attempt: 1, status: 200, ok: true, error: null, at: T0, ...over };
}

function drain(over: Partial<Drain> = {}): Drain {
  return { id: 'drn-1', app: 'web', url: 'syslog+tls://logs.example.com:6514', createdAt: T0, ...over };
}

/** Asserts `p` rejects with `cls` and `code`; returns the error (both contracts use it). */
export async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => SummonError, code: string): Promise<SummonError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as SummonError).code, code);
    return e as SummonError;
  }
  assert.fail(`expected ${cls.name} to be thrown`);
}

export function runStoreContract(name: string, open: () => Promise<StoreSubject>): void {
  async function withStore(fn: (store: Store, subject: StoreSubject) => Promise<void>): Promise<void> {
    const subject = await open();
    try {
      await fn(subject.store, subject);
    } finally {
      await subject.cleanup();
    }
  }

  describe(`Store contract: ${name}`, () => {
    test('migrate is idempotent and keeps data', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.migrate();
        await s.migrate();
        assert.equal((await s.getApp('web'))?.name, 'web');
        assert.ok(s.kind === 'sqlite' || s.kind === 'postgres');
      }));

    test('settings: missing is undefined, set overwrites', () =>
      withStore(async (s) => {
        assert.equal(await s.getSetting('secret.key'), undefined);
        await s.setSetting('secret.key', 'one');
        assert.equal(await s.getSetting('secret.key'), 'one');
        await s.setSetting('secret.key', 'two');
        assert.equal(await s.getSetting('secret.key'), 'two');
        await s.setSetting('other', '');
        assert.equal(await s.getSetting('other'), '');
        assert.equal(await s.getSetting('secret.key'), 'two');
      }));

    test('createApp returns the new app with defaults; getApp and listApps see it', () =>
      withStore(async (s) => {
        const app = await s.createApp('web', T0);
        assert.deepEqual(app, { name: 'web', createdAt: T0, desiredCount: 1, scalePolicy: null, liveVersion: null, targetVersion: null });
        assert.deepEqual(await s.getApp('web'), app);
        assert.equal(await s.getApp('nope'), undefined);
        await s.createApp('api', T0 + 1);
        assert.deepEqual((await s.listApps()).map((a) => a.name), ['api', 'web']);
      }));

    test('createApp of an existing name throws ConflictError that says to pick another name', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        const e = await rejectsWith(s.createApp('web', T0 + 5), ConflictError, 'conflict');
        assert.match(e.message, /web/);
        assert.match(e.message, /another name/);
        assert.equal((await s.getApp('web'))?.createdAt, T0, 'the existing app is untouched');
        assert.equal((await s.listApps()).length, 1);
      }));

    test('updateApp patches only the given fields; scalePolicy round-trips and clears', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        const policy = { min: 0, max: 5, targetCpu: 0.5, idleTimeoutMs: 300_000 };
        let app = await s.updateApp('web', { desiredCount: 3, scalePolicy: policy });
        assert.deepEqual(app, { name: 'web', createdAt: T0, desiredCount: 3, scalePolicy: policy, liveVersion: null, targetVersion: null });
        app = await s.updateApp('web', { liveVersion: 2, targetVersion: 3 });
        assert.equal(app.desiredCount, 3);
        assert.deepEqual(app.scalePolicy, policy);
        assert.equal(app.liveVersion, 2);
        assert.equal(app.targetVersion, 3);
        app = await s.updateApp('web', { scalePolicy: null, targetVersion: null });
        assert.equal(app.scalePolicy, null);
        assert.equal(app.targetVersion, null);
        assert.equal(app.liveVersion, 2);
        assert.deepEqual(await s.updateApp('web', {}), app);
        assert.deepEqual(await s.getApp('web'), app);
      }));

    test('updateApp of a missing app throws NotFoundError (also with an empty patch)', () =>
      withStore(async (s) => {
        await rejectsWith(s.updateApp('ghost', { desiredCount: 2 }), NotFoundError, 'not_found');
        await rejectsWith(s.updateApp('ghost', {}), NotFoundError, 'not_found');
        assert.equal(await s.getApp('ghost'), undefined, 'no app was created by the update');
      }));

    test('config: null until set, then the latest cipher; missing app is NotFoundError', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        assert.equal(await s.getConfig('web'), null);
        await s.setConfig('web', 'v1:abc');
        assert.equal(await s.getConfig('web'), 'v1:abc');
        await s.setConfig('web', 'v1:def');
        assert.equal(await s.getConfig('web'), 'v1:def');
        await rejectsWith(s.setConfig('ghost', 'x'), NotFoundError, 'not_found');
        assert.equal(await s.getConfig('ghost'), null);
      }));

    test('createRelease numbers versions from 1 per app and round-trips every field', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        const init = newRelease({
          status: 'ready',
          description: 'Deploy 1a2b3c4',
          reason: 'because',
          commit: 'a'.repeat(40),
          artifactSha256: 'e'.repeat(64),
          initrdSha256: 'f'.repeat(64),
          manifest: MANIFEST,
          buildManifest: BUILD_MANIFEST,
          configCipher: 'v1:cipher',
        });
        const r1 = await s.createRelease('web', init, T0 + 10);
        assert.deepEqual(r1, { ...init, app: 'web', version: 1, brokenReason: null, brokenAt: null, createdAt: T0 + 10, updatedAt: T0 + 10 });
        assert.deepEqual(await s.getRelease('web', 1), r1);
        const r2 = await s.createRelease('web', newRelease(), T0 + 20);
        assert.equal(r2.version, 2);
        assert.equal(r2.manifest, null);
        assert.equal(r2.buildManifest, null);
        assert.equal((await s.createRelease('api', newRelease(), T0)).version, 1, 'versions are per app');
        assert.equal(await s.getRelease('web', 3), undefined);
        assert.equal(await s.getRelease('ghost', 1), undefined);
        assert.equal(typeof r1.createdAt, 'number');
      }));

    test('a release marked broken keeps its status and says why; clearing it round-trips', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createRelease('web', newRelease({ status: 'live', artifactSha256: 'e'.repeat(64) }), T0);
        const why = `artifact of v1 altered: sha256 ${'a'.repeat(12)}…≠${'e'.repeat(12)}…`;
        const b = await s.updateRelease('web', 1, { brokenReason: why, brokenAt: T0 + 5 }, T0 + 5);
        assert.equal(b.status, 'live');
        assert.equal(b.brokenReason, why);
        assert.equal(b.brokenAt, T0 + 5);
        assert.equal(typeof b.brokenAt, 'number', 'bigint columns come back as numbers');
        assert.deepEqual((await s.listReleases('web'))[0], b);
        // A later status change leaves the mark alone.
        assert.equal((await s.updateRelease('web', 1, { status: 'superseded' }, T0 + 6)).brokenReason, why);
        const c = await s.updateRelease('web', 1, { brokenReason: null, brokenAt: null }, T0 + 7);
        assert.equal(c.brokenReason, null);
        assert.equal(c.brokenAt, null);
        assert.equal((await s.getRelease('web', 1))?.brokenAt, null);
      }));

    test('createRelease for a missing app throws NotFoundError', () =>
      withStore(async (s) => {
        await rejectsWith(s.createRelease('ghost', newRelease(), T0), NotFoundError, 'not_found');
        assert.deepEqual(await s.listReleases('ghost'), []);
      }));

    test('listReleases is newest first and only the app\'s own', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        for (let i = 0; i < 4; i++) await s.createRelease('web', newRelease({ description: `r${i + 1}` }), T0 + i);
        await s.createRelease('api', newRelease(), T0);
        const list = await s.listReleases('web');
        assert.deepEqual(list.map((r) => r.version), [4, 3, 2, 1]);
        assert.deepEqual(list.map((r) => r.description), ['r4', 'r3', 'r2', 'r1']);
        assert.deepEqual(await s.listReleases('nobody'), []);
      }));

    test('concurrent createRelease calls get distinct, consecutive versions', () =>
      withStore(async (s, subject) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        const n = 25;
        // Two apps interleaved: allocation for one must not disturb the other.
        const calls = Array.from({ length: n }, (_, i) => [
          s.createRelease('web', newRelease({ description: `web ${i}` }), T0 + i),
          s.createRelease('api', newRelease({ description: `api ${i}` }), T0 + i),
        ]).flat();
        const made = await Promise.all(calls);
        const webVersions = made.filter((r) => r.app === 'web').map((r) => r.version).sort((a, b) => a - b);
        assert.deepEqual(webVersions, Array.from({ length: n }, (_, i) => i + 1));
        assert.equal((await s.listReleases('api')).length, n);
        assert.deepEqual((await s.listReleases('web')).map((r) => r.version), [...webVersions].reverse());

        // Two store instances on the same data (two nodes) when the backend allows it.
        if (subject.reopen && s.kind === 'postgres') {
          const other = await subject.reopen();
          try {
            const both = await Promise.all(
              Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? s : other).createRelease('web', newRelease(), T0)),
            );
            const vs = both.map((r) => r.version).sort((a, b) => a - b);
            assert.deepEqual(vs, Array.from({ length: 20 }, (_, i) => n + i + 1));
          } finally {
            await other.close();
          }
        }
      }));

    test('updateRelease patches fields, sets updatedAt, keeps createdAt; missing is NotFoundError', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        const r = await s.createRelease('web', newRelease(), T0);
        const u = await s.updateRelease('web', 1, { status: 'failed', reason: 'test failed: exit 1', buildManifest: BUILD_MANIFEST }, T0 + 99);
        assert.deepEqual(u, { ...r, status: 'failed', reason: 'test failed: exit 1', buildManifest: BUILD_MANIFEST, updatedAt: T0 + 99 });
        assert.deepEqual(await s.getRelease('web', 1), u);
        const cleared = await s.updateRelease('web', 1, { reason: null, buildManifest: null }, T0 + 100);
        assert.equal(cleared.reason, null);
        assert.equal(cleared.buildManifest, null);
        assert.equal(cleared.status, 'failed');
        assert.equal(cleared.createdAt, T0);
        await rejectsWith(s.updateRelease('web', 2, { status: 'live' }, T0), NotFoundError, 'not_found');
        await rejectsWith(s.updateRelease('ghost', 1, { status: 'live' }, T0), NotFoundError, 'not_found');
      }));

    test('putInstance inserts, then upserts by id; deleteInstance removes', () =>
      withStore(async (s) => {
        const a = instance();
        await s.putInstance(a);
        assert.deepEqual(await s.listInstances(), [a]);
        const b: Instance = {
          ...a,
          state: 'healthy',
          port: 40001,
          pid: 4242,
          startedAt: T0 + 1,
          healthyAt: T0 + 2,
          restarts: 3,
          reason: 'HTTP 200',
          nextRetryAt: T0 + 3,
          cpu: 0.25,
          memoryBytes: 5_000_000_000,
          updatedAt: T0 + 4,
        };
        await s.putInstance(b);
        assert.deepEqual(await s.listInstances(), [b]);
        await s.deleteInstance(a.id);
        assert.deepEqual(await s.listInstances(), []);
        await s.deleteInstance('i-missing');
      }));

    test('listInstances filters by app, host, or both', () =>
      withStore(async (s) => {
        const all = [
          instance({ id: 'i-1', app: 'web', host: 'h1' }),
          instance({ id: 'i-2', app: 'web', host: 'h2' }),
          instance({ id: 'i-3', app: 'api', host: 'h1' }),
        ];
        for (const i of all) await s.putInstance(i);
        const ids = (l: Instance[]) => l.map((i) => i.id).sort();
        assert.deepEqual(ids(await s.listInstances()), ['i-1', 'i-2', 'i-3']);
        assert.deepEqual(ids(await s.listInstances({})), ['i-1', 'i-2', 'i-3']);
        assert.deepEqual(ids(await s.listInstances({ app: 'web' })), ['i-1', 'i-2']);
        assert.deepEqual(ids(await s.listInstances({ host: 'h1' })), ['i-1', 'i-3']);
        assert.deepEqual(ids(await s.listInstances({ app: 'web', host: 'h1' })), ['i-1']);
        assert.deepEqual(await s.listInstances({ app: 'none' }), []);
      }));

    test('appendEvent assigns growing ids; listEvents is oldest first and filters by app', () =>
      withStore(async (s) => {
        const e1 = await s.appendEvent({ app: 'web', type: 'release.created', message: 'v1', data: { version: 1, nested: { a: [1, 'b'] } }, at: T0 });
        const e2 = await s.appendEvent({ app: null, type: 'host.seen', message: 'h1', data: {}, at: T0 + 1 });
        const e3 = await s.appendEvent({ app: 'api', type: 'release.created', message: 'v1', data: { version: 1 }, at: T0 + 2 });
        assert.ok(e1.id < e2.id && e2.id < e3.id);
        assert.equal(typeof e1.id, 'number');
        assert.deepEqual(e1, { id: e1.id, app: 'web', type: 'release.created', message: 'v1', data: { version: 1, nested: { a: [1, 'b'] } }, at: T0 });
        assert.deepEqual(await s.listEvents({}), [e1, e2, e3]);
        assert.deepEqual(await s.listEvents({ app: 'web' }), [e1]);
        assert.deepEqual(await s.listEvents({ app: 'nobody' }), []);
      }));

    test('listEvents: afterId pages forward, limit keeps the newest N, types filters', () =>
      withStore(async (s) => {
        const evs = [];
        for (let i = 0; i < 10; i++) {
          evs.push(await s.appendEvent({ app: 'web', type: i % 3 === 0 ? 'instance.crashed' : 'instance.started', message: `m${i}`, data: { i }, at: T0 + i }));
        }
        const ids = (l: { id: number }[]) => l.map((e) => e.id);
        assert.deepEqual(ids(await s.listEvents({ afterId: evs[6].id })), ids(evs.slice(7)));
        assert.deepEqual(ids(await s.listEvents({ limit: 3 })), ids(evs.slice(7)), 'newest 3, oldest first');
        assert.deepEqual(ids(await s.listEvents({ afterId: evs[1].id, limit: 2 })), ids(evs.slice(8)));
        assert.deepEqual(await s.listEvents({ limit: 0 }), []);
        assert.deepEqual(ids(await s.listEvents({ limit: 100 })), ids(evs));
        const crashed = await s.listEvents({ types: ['instance.crashed'] });
        assert.deepEqual(crashed.map((e) => e.message), ['m0', 'm3', 'm6', 'm9']);
        assert.deepEqual((await s.listEvents({ types: ['instance.crashed'], limit: 2 })).map((e) => e.message), ['m6', 'm9']);
        assert.equal((await s.listEvents({ types: ['instance.crashed', 'instance.started'] })).length, 10);
        assert.equal((await s.listEvents({ types: [] })).length, 10, 'an empty type list does not filter');
        assert.deepEqual(await s.listEvents({ afterId: evs[9].id }), []);
        // Paging forward from the last id seen returns each event exactly once.
        const seen: number[] = [];
        let after = 0;
        for (;;) {
          const page = await s.listEvents({ afterId: after });
          if (page.length === 0) break;
          const first = page.slice(0, 4);
          seen.push(...ids(first));
          after = first[first.length - 1].id;
        }
        assert.deepEqual(seen, ids(evs));
      }));

    test('hosts: putHost upserts by id, runtimes round-trip', () =>
      withStore(async (s) => {
        const h: Host = {
          id: 'h1',
          address: '10.0.0.1',
          runtimes: [
            { target: 'process', available: true, reason: 'ok' },
            { target: 'qemu', available: true, accel: 'tcg', kvm: false, reason: 'nested KVM cannot boot guests' },
          ],
          lastSeenAt: T0,
        };
        await s.putHost(h);
        await s.putHost({ id: 'h0', address: '10.0.0.2', runtimes: [], lastSeenAt: T0 });
        assert.deepEqual(await s.listHosts(), [{ id: 'h0', address: '10.0.0.2', runtimes: [], lastSeenAt: T0 }, h]);
        const h2 = { ...h, address: '10.0.0.9', runtimes: [h.runtimes[0]], lastSeenAt: T0 + 5 };
        await s.putHost(h2);
        assert.deepEqual((await s.listHosts())[1], h2);
        assert.equal((await s.listHosts()).length, 2);
      }));

    test('join tokens: single use, expiring, refused with why; the joined host keeps labels, capacity, state and its credential\'s hash', () =>
      withStore(async (s) => {
        const tok = { id: 'jt-1', prefix: 'jt_abcd', labels: { region: 'eu' }, createdBy: 'admin@localhost', createdAt: T0, expiresAt: T0 + 3_600_000, usedAt: null, usedBy: null };
        await s.createJoinToken({ ...tok, hash: 'h'.repeat(64) });
        await s.createJoinToken({ ...tok, id: 'jt-2', hash: 'e'.repeat(64), expiresAt: T0 + 10 });
        const host = { id: 'edge1', address: '10.0.0.7', labels: { disk: 'ssd' }, memoryBytes: 2 ** 33, cpus: 4, arch: 'x86_64', runtimes: [{ target: 'process' as const, available: true, reason: 'ok' }], credentialHash: 'c'.repeat(64) };
        const joined = await s.redeemJoinToken('h'.repeat(64), host, T0 + 100);
        assert.deepEqual(joined, { id: 'edge1', address: '10.0.0.7', labels: { arch: 'x86_64', region: 'eu', disk: 'ssd' }, state: 'active', memoryBytes: 2 ** 33, cpus: 4, arch: 'x86_64', runtimes: host.runtimes, joinedAt: T0 + 100, lastSeenAt: T0 + 100 });
        assert.deepEqual(await s.listJoinedHosts(), [joined]);
        assert.equal(await s.joinedHostCredential('edge1'), 'c'.repeat(64));
        await assert.rejects(s.redeemJoinToken('h'.repeat(64), { ...host, id: 'edge2' }, T0 + 200), (e: SummonError) => e.code === 'unauthorized' && /used already \(by host edge1 at /.test(e.message));
        await assert.rejects(s.redeemJoinToken('e'.repeat(64), { ...host, id: 'edge2' }, T0 + 200), (e: SummonError) => e.code === 'unauthorized' && /expired at /.test(e.message));
        await assert.rejects(s.redeemJoinToken('x'.repeat(64), { ...host, id: 'edge2' }, T0 + 200), (e: SummonError) => e.code === 'unauthorized' && /not one of this control plane's/.test(e.message));
        // The same id twice: refused, and the second token is not used up by the refusal.
        await s.createJoinToken({ ...tok, id: 'jt-3', hash: 'f'.repeat(64) });
        await assert.rejects(s.redeemJoinToken('f'.repeat(64), host, T0 + 300), (e: SummonError) => e.code === 'conflict' && /host edge1 has joined already/.test(e.message));
        assert.equal((await s.listJoinTokens()).find((t) => t.id === 'jt-3')?.usedAt, null);
        assert.deepEqual((await s.listJoinTokens()).find((t) => t.id === 'jt-1'), { ...tok, usedAt: T0 + 100, usedBy: 'edge1' });
        assert.equal((await s.updateJoinedHost('edge1', { state: 'draining', lastSeenAt: T0 + 400 })).state, 'draining');
        assert.equal((await s.listJoinedHosts())[0].lastSeenAt, T0 + 400);
        assert.equal(await s.removeJoinedHost('edge1'), true);
        assert.equal(await s.removeJoinedHost('edge1'), false);
        assert.equal(await s.joinedHostCredential('edge1'), null);
        await assert.rejects(s.updateJoinedHost('edge1', { state: 'active' }), NotFoundError);
      }));

    test('usage adds up per (app, day)', () =>
      withStore(async (s) => {
        assert.equal(await s.getUsage('web', '2024-05-01'), 0);
        await s.addUsage('web', '2024-05-01', 10);
        await s.addUsage('web', '2024-05-01', 2.5);
        await s.addUsage('web', '2024-05-02', 7);
        await s.addUsage('api', '2024-05-01', 1);
        assert.equal(await s.getUsage('web', '2024-05-01'), 12.5);
        assert.equal(await s.getUsage('web', '2024-05-02'), 7);
        assert.equal(await s.getUsage('api', '2024-05-01'), 1);
        // Concurrent adds must not lose updates.
        await Promise.all(Array.from({ length: 20 }, () => s.addUsage('web', '2024-05-03', 1)));
        assert.equal(await s.getUsage('web', '2024-05-03'), 20);
      }));

    test('chart points: added in batches, listed by app and time from a moment, pruned by time, kept once per (app, at)', () =>
      withStore(async (s) => {
        const p = (app: string, at: number, extra: Partial<SeriesRow> = {}): SeriesRow => ({ app, at, instances: 1, total: 2, cpu: 0.25, rps: 12.5, p95Ms: 3.125, ...extra });
        assert.deepEqual(await s.listSeriesPoints(0), []);
        await s.addSeriesPoints([p('web', T0), p('api', T0, { cpu: null, rps: null, p95Ms: null }), p('web', T0 + 5000)]);
        await s.addSeriesPoints([]);
        // A point already stored (a sample written twice) stays as it was.
        await s.addSeriesPoints([p('web', T0, { instances: 9 }), p('web', T0 + 10_000, { instances: 0, total: 0 })]);
        assert.deepEqual(await s.listSeriesPoints(0), [
          p('api', T0, { cpu: null, rps: null, p95Ms: null }), p('web', T0), p('web', T0 + 5000), p('web', T0 + 10_000, { instances: 0, total: 0 }),
        ]);
        assert.deepEqual((await s.listSeriesPoints(T0 + 5000)).map((x) => x.at), [T0 + 5000, T0 + 10_000]);
        assert.equal(await s.pruneSeriesPoints(T0 + 5000), 2);
        assert.deepEqual((await s.listSeriesPoints(0)).map((x) => `${x.app}@${x.at - T0}`), ['web@5000', 'web@10000']);
        // A sample of a thousand apps is one call.
        await s.addSeriesPoints(Array.from({ length: 1000 }, (_, i) => p(`a${i}`, T0 + 20_000)));
        assert.equal((await s.listSeriesPoints(T0 + 20_000)).length, 1000);
      }));

    test('usage: memory-seconds add up beside instance-seconds, listed from a day on, per app or all', () =>
      withStore(async (s) => {
        await s.addUsage('web', '2024-04-30', 1, 64);
        await s.addUsage('web', '2024-05-01', 10, 640);
        await s.addUsage('web', '2024-05-01', 2.5, 160);
        await s.addUsage('web', '2024-05-02', 7); // memory-seconds default to 0
        await s.addUsage('api', '2024-05-01', 1, 128);
        assert.deepEqual(await s.listUsage({ fromDay: '2024-05-01' }), [
          { app: 'api', day: '2024-05-01', instanceSeconds: 1, memoryMibSeconds: 128 },
          { app: 'web', day: '2024-05-01', instanceSeconds: 12.5, memoryMibSeconds: 800 },
          { app: 'web', day: '2024-05-02', instanceSeconds: 7, memoryMibSeconds: 0 },
        ]);
        assert.deepEqual(await s.listUsage({ fromDay: '2024-04-01', app: 'web' }), [
          { app: 'web', day: '2024-04-30', instanceSeconds: 1, memoryMibSeconds: 64 },
          { app: 'web', day: '2024-05-01', instanceSeconds: 12.5, memoryMibSeconds: 800 },
          { app: 'web', day: '2024-05-02', instanceSeconds: 7, memoryMibSeconds: 0 },
        ]);
        assert.deepEqual(await s.listUsage({ fromDay: '2024-06-01' }), []);
        await Promise.all(Array.from({ length: 20 }, () => s.addUsage('web', '2024-05-03', 1, 2)));
        assert.deepEqual((await s.listUsage({ fromDay: '2024-05-03', app: 'web' }))[0], { app: 'web', day: '2024-05-03', instanceSeconds: 20, memoryMibSeconds: 40 });
        await assert.rejects(s.addUsage('web', '2024-05-03', 1, Number.NaN), /memoryMibSeconds must be a finite number/);
      }));

    test('webhooks: add, list per app, delete only within the app; missing app is NotFoundError', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        const w1 = webhook({ id: 'wh-1', events: ['release.live', 'release.failed'] });
        const w2 = webhook({ id: 'wh-2', createdAt: T0 + 1, events: [] });
        const w3 = webhook({ id: 'wh-3', app: 'api' });
        for (const w of [w1, w2, w3]) await s.addWebhook(w);
        assert.deepEqual(await s.listWebhooks('web'), [w1, w2]);
        assert.deepEqual(await s.listWebhooks('api'), [w3]);
        await s.deleteWebhook('api', 'wh-1');
        assert.equal((await s.listWebhooks('web')).length, 2, 'another app cannot delete the hook');
        await s.deleteWebhook('web', 'wh-1');
        assert.deepEqual(await s.listWebhooks('web'), [w2]);
        await rejectsWith(s.addWebhook(webhook({ id: 'wh-9', app: 'ghost' })), NotFoundError, 'not_found');
      }));

    test('drains: add, list per app oldest first, one URL once per app, delete only within the app', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        const d1 = drain({ id: 'drn-1' });
        const d2 = drain({ id: 'drn-2', url: 'https://logs.example.com/ingest?token=abc', createdAt: T0 + 1 });
        const d3 = drain({ id: 'drn-3', app: 'api' }); // the same URL for another app is fine
        for (const d of [d2, d1, d3]) await s.addDrain(d);
        assert.deepEqual(await s.listDrains('web'), [d1, d2]);
        assert.deepEqual(await s.listDrains('api'), [d3]);
        const dup = await rejectsWith(s.addDrain(drain({ id: 'drn-4' })), ConflictError, 'conflict');
        assert.match(dup.message, /already drains to syslog\+tls:\/\/logs\.example\.com:6514/);
        await rejectsWith(s.addDrain(drain({ id: 'drn-5', app: 'ghost' })), NotFoundError, 'not_found');
        await s.deleteDrain('api', 'drn-1');
        assert.equal((await s.listDrains('web')).length, 2, 'another app cannot delete the drain');
        await s.deleteDrain('web', 'drn-1');
        assert.deepEqual(await s.listDrains('web'), [d2]);
        await s.addDrain(drain({ id: 'drn-6' })); // the URL is free again (created at T0, before drn-2)
        assert.deepEqual((await s.listDrains('web')).map((d) => d.id), ['drn-6', 'drn-2']);
      }));

    test('domains: one owner per host across apps, listed by app then host, deleted only by the owner, gone with the app', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        await s.addDomain({ host: 'www.example.com', app: 'web', createdAt: T0 });
        await s.addDomain({ host: '*.example.com', app: 'web', createdAt: T0 + 1 });
        await s.addDomain({ host: 'api.example.com', app: 'api', createdAt: T0 + 2 });
        const taken = await rejectsWith(s.addDomain({ host: 'www.example.com', app: 'api', createdAt: T0 + 3 }), ConflictError, 'conflict');
        assert.equal(taken.details?.owner, 'web');
        const again = await rejectsWith(s.addDomain({ host: 'www.example.com', app: 'web', createdAt: T0 + 3 }), ConflictError, 'conflict');
        assert.match(again.message, /already a domain of web/);
        await rejectsWith(s.addDomain({ host: 'x.example.org', app: 'ghost', createdAt: T0 }), NotFoundError, 'not_found');
        assert.deepEqual(await s.listDomains('web'), [
          { host: '*.example.com', app: 'web', createdAt: T0 + 1 }, { host: 'www.example.com', app: 'web', createdAt: T0 },
        ]);
        assert.deepEqual((await s.listDomains()).map((d) => `${d.app} ${d.host}`), ['api api.example.com', 'web *.example.com', 'web www.example.com']);
        assert.deepEqual(await s.getDomain('api.example.com'), { host: 'api.example.com', app: 'api', createdAt: T0 + 2 });
        assert.equal(await s.getDomain('nope.example.com'), undefined);
        assert.equal(await s.deleteDomain('api', 'www.example.com'), false, 'another app cannot remove it');
        assert.equal(await s.deleteDomain('web', 'www.example.com'), true);
        await s.addDomain({ host: 'www.example.com', app: 'api', createdAt: T0 + 4 }); // free again
        await s.deleteApp('api');
        assert.deepEqual((await s.listDomains()).map((d) => d.host), ['*.example.com']);
        await s.createApp('api', T0 + 5);
        assert.deepEqual(await s.listDomains('api'), [], 'a new app of the same name inherits no domain');
      }));

    test('pipelines: stages in order, an app in one pipeline, names unique, a missing app refused, stages go with their app', () =>
      withStore(async (s) => {
        for (const a of ['stage1', 'prod1', 'stage2', 'prod2']) await s.createApp(a, T0);
        await s.createPipeline({ name: 'shop', stages: [{ stage: 'staging', app: 'stage1' }, { stage: 'production', app: 'prod1' }], createdAt: T0 });
        assert.deepEqual(await s.listPipelines(), [{ name: 'shop', stages: [{ stage: 'staging', app: 'stage1' }, { stage: 'production', app: 'prod1' }], createdAt: T0 }]);
        assert.equal((await s.pipelineOf('prod1'))?.name, 'shop');
        assert.equal(await s.pipelineOf('stage2'), undefined);
        const dup = await rejectsWith(s.createPipeline({ name: 'shop', stages: [{ stage: 'staging', app: 'stage2' }], createdAt: T0 }), ConflictError, 'conflict');
        assert.match(dup.message, /a pipeline named shop exists already/);
        const twice = await rejectsWith(s.createPipeline({ name: 'blog', stages: [{ stage: 'staging', app: 'stage2' }, { stage: 'production', app: 'prod1' }], createdAt: T0 }), ConflictError, 'conflict');
        assert.match(twice.message, /prod1 is in pipeline shop already/);
        assert.deepEqual((await s.listPipelines()).map((p) => p.name), ['shop'], 'a refused pipeline leaves nothing behind');
        await rejectsWith(s.createPipeline({ name: 'blog', stages: [{ stage: 'staging', app: 'stage2' }, { stage: 'production', app: 'ghost' }], createdAt: T0 }), NotFoundError, 'not_found');
        await s.createPipeline({ name: 'blog', stages: [{ stage: 'staging', app: 'stage2' }, { stage: 'production', app: 'prod2' }], createdAt: T0 + 1 });
        await s.deleteApp('prod2');
        assert.deepEqual((await s.pipelineOf('stage2'))?.stages, [{ stage: 'staging', app: 'stage2' }], 'the destroyed app left its stage');
        assert.equal(await s.deletePipeline('blog'), true);
        assert.equal(await s.deletePipeline('blog'), false);
        assert.deepEqual((await s.listPipelines()).map((p) => p.name), ['shop']);
      }));

    test('certificates: put (the same id replaces), listed oldest first per app, deleted per app, gone with the app', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        const cert = (over: Partial<StoredCert> = {}): StoredCert => ({
          app: 'web', id: 'a'.repeat(64), hosts: ['www.example.com', '*.example.com'], certPem: '-----BEGIN CERTIFICATE-----\nMII…\n-----END CERTIFICATE-----\n',
          keyCipher: 'v1:iv:tag:body', issuer: 'Test CA', subject: 'www.example.com', notBefore: T0 - 1000, notAfter: T0 + 86_400_000 * 90,
          source: 'upload', createdAt: T0, ...over,
        });
        const c1 = cert();
        const c2 = cert({ id: 'b'.repeat(64), source: 'acme', createdAt: T0 + 1, hosts: ['shop.example.com'] });
        await s.putCert(c2);
        await s.putCert(c1);
        await s.putCert(cert({ app: 'api' }));
        assert.deepEqual(await s.listCerts('web'), [c1, c2]);
        const renewed = cert({ keyCipher: 'v1:other', notAfter: T0 + 86_400_000 * 180 });
        await s.putCert(renewed);
        assert.deepEqual(await s.listCerts('web'), [renewed, c2]);
        assert.equal((await s.listCerts()).length, 3);
        await rejectsWith(s.putCert(cert({ app: 'ghost' })), NotFoundError, 'not_found');
        assert.equal(await s.deleteCert('api', c2.id), false);
        assert.equal(await s.deleteCert('web', c2.id), true);
        assert.deepEqual(await s.listCerts('web'), [renewed]);
        await s.deleteApp('web');
        assert.deepEqual((await s.listCerts()).map((c) => c.app), ['api']);
      }));

    test('builds: saved running then finished (replaced), listed newest first without logs, per app', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        await s.createApp('api', T0);
        const running: BuildRecord = {
          app: 'web', version: 1, source: 'push', commit: 'a'.repeat(40), status: 'running', reason: null,
          startedAt: T0, finishedAt: null, durationMs: null, log: '', logBytes: 0, truncated: false,
        };
        await s.saveBuild(running);
        assert.deepEqual(await s.getBuild('web', 1), running);
        const failed: BuildRecord = { ...running, status: 'failed', reason: 'make: *** [all] Error 2', finishedAt: T0 + 1500, durationMs: 1500, log: '-----> Building\nmake: *** [all] Error 2\n', logBytes: 9_000_000, truncated: true };
        await s.saveBuild(failed);
        assert.deepEqual(await s.getBuild('web', 1), failed);
        const second: BuildRecord = { ...running, version: 2, status: 'succeeded', finishedAt: T0 + 10, durationMs: 10, log: 'ok\n', logBytes: 3 };
        await s.saveBuild(second);
        await s.saveBuild({ ...running, app: 'api' });
        const { log: _l1, ...sum2 } = second;
        const { log: _l2, ...sum1 } = failed;
        assert.deepEqual(await s.listBuilds('web', 10), [sum2, sum1]);
        assert.deepEqual(await s.listBuilds('web', 1), [sum2]);
        assert.equal(await s.getBuild('web', 3), undefined);
        assert.deepEqual((await s.listBuilds('api', 10)).map((b) => b.app), ['api']);
        const v1 = { app: 'web', version: 1, result: 'differs' as const, differences: ['toolchain: cc --version: "gcc 12" then, "gcc 13" now', 'artifact a: first difference at byte 7'], rebuiltSha256: 'b'.repeat(64), checkedAt: T0 };
        await s.saveVerification(v1);
        await s.saveVerification({ ...v1, version: 2, result: 'reproducible', differences: [] });
        const again = { ...v1, result: 'reproducible' as const, differences: [], checkedAt: T0 + 5 };
        await s.saveVerification(again);
        assert.deepEqual(await s.listVerifications('web'), [again, { ...v1, version: 2, result: 'reproducible', differences: [] }]);
        assert.deepEqual(await s.listVerifications('api'), []);
      }));

    test('deliveries: newest first, limited, fields round-trip', () =>
      withStore(async (s) => {
        await s.createApp('web', T0);
        const ds = [
          delivery({ id: 'd-1', at: T0 }),
          delivery({ id: 'd-2', attempt: 2, status: null, ok: false, error: 'connect ECONNREFUSED', at: T0 }),
          delivery({ id: 'd-3', attempt: 3, status: 500, ok: false, error: 'HTTP 500', at: T0 + 1 }),
          delivery({ id: 'd-4', app: 'api', at: T0 + 2 }),
        ];
        for (const d of ds) await s.addDelivery(d);
        assert.deepEqual(await s.listDeliveries('web'), [ds[2], ds[1], ds[0]]);
        assert.deepEqual(await s.listDeliveries('web', 2), [ds[2], ds[1]]);
        assert.deepEqual(await s.listDeliveries('api'), [ds[3]]);
        assert.deepEqual(await s.listDeliveries('none'), []);
      }));

    test('deleteApp removes everything of the app and nothing of the others', () =>
      withStore(async (s) => {
        for (const app of ['web', 'api']) {
          await s.createApp(app, T0);
          await s.setConfig(app, `cipher-${app}`);
          await s.createRelease(app, newRelease({ manifest: MANIFEST }), T0);
          await s.createRelease(app, newRelease(), T0);
          await s.putInstance(instance({ id: `i-${app}`, app }));
          await s.appendEvent({ app, type: 'release.created', message: app, data: {}, at: T0 });
          await s.addWebhook(webhook({ id: `wh-${app}`, app }));
          await s.addDelivery(delivery({ id: `d-${app}`, webhookId: `wh-${app}`, app }));
          await s.addDrain(drain({ id: `drn-${app}`, app }));
          await s.saveVerification({ app, version: 1, result: 'reproducible', differences: [], rebuiltSha256: null, checkedAt: T0 });
          await s.saveBuild({ app, version: 1, source: 'push', commit: null, status: 'failed', reason: 'x', startedAt: T0, finishedAt: T0, durationMs: 0, log: app, logBytes: 3, truncated: false });
          await s.addUsage(app, '2024-05-01', 5);
          await s.addSeriesPoints([{ app, at: T0, instances: 1, total: 1, cpu: null, rps: null, p95Ms: null }]);
        }
        await s.appendEvent({ app: null, type: 'host.seen', message: 'h1', data: {}, at: T0 });
        await s.setSetting('k', 'v');

        await s.deleteApp('web');

        assert.equal(await s.getApp('web'), undefined);
        assert.equal(await s.getConfig('web'), null);
        assert.deepEqual(await s.listReleases('web'), []);
        assert.equal(await s.getRelease('web', 1), undefined);
        assert.deepEqual(await s.listInstances({ app: 'web' }), []);
        assert.deepEqual(await s.listEvents({ app: 'web' }), []);
        assert.deepEqual(await s.listWebhooks('web'), []);
        assert.deepEqual(await s.listDeliveries('web'), []);
        assert.deepEqual(await s.listDrains('web'), []);
        assert.deepEqual(await s.listBuilds('web', 10), []);
        assert.deepEqual(await s.listVerifications('web'), []);
        assert.equal((await s.getBuild('api', 1))?.log, 'api');
        assert.equal(await s.getUsage('web', '2024-05-01'), 0);
        assert.deepEqual((await s.listSeriesPoints(0)).map((x) => x.app), ['api']);

        assert.deepEqual((await s.listApps()).map((a) => a.name), ['api']);
        assert.equal(await s.getConfig('api'), 'cipher-api');
        assert.equal((await s.listReleases('api')).length, 2);
        assert.equal((await s.listInstances()).length, 1);
        assert.deepEqual((await s.listEvents({})).map((e) => e.app), ['api', null]);
        assert.equal((await s.listWebhooks('api')).length, 1);
        assert.equal((await s.listDeliveries('api')).length, 1);
        assert.equal((await s.listDrains('api')).length, 1);
        assert.equal(await s.getUsage('api', '2024-05-01'), 5);
        assert.equal(await s.getSetting('k'), 'v');

        // The name is free again and starts from scratch.
        await s.createApp('web', T0 + 1);
        assert.equal((await s.createRelease('web', newRelease(), T0)).version, 1);
        await s.deleteApp('never-existed');
      }));

    test('reopening the same data after close keeps everything', async (t) => {
      const subject = await open();
      try {
        if (!subject.reopen) {
          t.skip('this backend cannot reopen its data');
          return;
        }
        const s = subject.store;
        await s.createApp('web', T0);
        await s.updateApp('web', { desiredCount: 2, liveVersion: 1 });
        await s.setConfig('web', 'cipher');
        await s.createRelease('web', newRelease({ manifest: MANIFEST, buildManifest: BUILD_MANIFEST }), T0);
        await s.putInstance(instance({ cpu: 1.5 }));
        const ev = await s.appendEvent({ app: 'web', type: 'x', message: 'y', data: { z: true }, at: T0 });
        await s.putHost({ id: 'h1', address: 'a', runtimes: [], lastSeenAt: T0 });
        await s.addUsage('web', 'd', 3);
        await s.addWebhook(webhook());
        await s.addDelivery(delivery());
        await s.addDrain(drain());
        await s.setSetting('k', 'v');
        const before = {
          apps: await s.listApps(),
          config: await s.getConfig('web'),
          releases: await s.listReleases('web'),
          instances: await s.listInstances(),
          events: await s.listEvents({}),
          hosts: await s.listHosts(),
          usage: await s.getUsage('web', 'd'),
          hooks: await s.listWebhooks('web'),
          deliveries: await s.listDeliveries('web'),
          drains: await s.listDrains('web'),
          setting: await s.getSetting('k'),
        };
        await s.close();

        const r = await subject.reopen();
        try {
          const after = {
            apps: await r.listApps(),
            config: await r.getConfig('web'),
            releases: await r.listReleases('web'),
            instances: await r.listInstances(),
            events: await r.listEvents({}),
            hosts: await r.listHosts(),
            usage: await r.getUsage('web', 'd'),
            hooks: await r.listWebhooks('web'),
            deliveries: await r.listDeliveries('web'),
            drains: await r.listDrains('web'),
            setting: await r.getSetting('k'),
          };
          assert.deepEqual(after, before);
          assert.equal(before.releases.length, 1);
          // Counters continue where they were.
          assert.equal((await r.createRelease('web', newRelease(), T0)).version, 2);
          assert.ok((await r.appendEvent({ app: 'web', type: 'x', message: 'y', data: {}, at: T0 })).id > ev.id);
        } finally {
          await r.close();
        }
      } finally {
        await subject.cleanup();
      }
    });

    test('many instance writes stay fast', () =>
      withStore(async (s) => {
        const n = 1000;
        const start = performance.now();
        for (let i = 0; i < n; i++) {
          await s.putInstance(instance({ id: `i-${i % 50}`, state: i % 2 ? 'healthy' : 'unhealthy', cpu: i / n, updatedAt: T0 + i }));
        }
        const ms = performance.now() - start;
        const list = await s.listInstances();
        assert.equal(list.length, 50);
        assert.equal(list.find((x) => x.id === 'i-49')?.updatedAt, T0 + 999);
        // A loose bound that catches pathological slowness (e.g. an fsync per write on a
        // slow disk), not a benchmark.
        assert.ok(ms < 20_000, `1000 putInstance took ${ms.toFixed(0)} ms`);
        console.log(`# ${name}: ${n} sequential putInstance in ${ms.toFixed(0)} ms (${((n / ms) * 1000).toFixed(0)}/s)`);
      }));
  });
}
