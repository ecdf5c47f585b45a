// ReleaseService over a real SQLite store, event bus and secrets, with the build pipeline, the
// controller's rollout and the hosts stood in: what each path stores, streams and refuses.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { ReleaseService } from './release-service.js';
import { EventBus } from './event-bus.js';
import { LogStore } from './log-store.js';
import { Secrets } from './secrets.js';
import { createSqliteStore } from '../store/sqlite.js';
import { parseManifest } from '../core/manifest.js';
import type { Store } from '../store/store.js';
import type { BuildOutcome, BuildPipeline } from '../builder/pipeline.js';
import type { PushRequest } from '../git/push-stream.js';
import type { Controller } from './controller.js';
import type { HostAgent } from '../agent/host-agent.js';
import type { Release, RuntimeCapability } from '../core/types.js';

const MANIFEST = `[build]\ncommand = "true"\nartifact = "out.bin"\n[run]\ntarget = "process"\n`;
const sha = (c: string) => c.repeat(64);

interface Rig {
  dir: string;
  store: Store;
  logs: LogStore;
  secrets: Secrets;
  events: EventBus;
  svc: ReleaseService;
  deployed: Release[];
  /** The next rollouts' outcomes, in order (default: live). */
  rollouts: Array<{ ok: true } | { ok: false; reason: string }>;
  /** What the next pipeline run does. */
  build: (req: PushRequest, out: (l: string) => void) => Promise<BuildOutcome>;
  caps: RuntimeCapability[];
  lines: string[];
  out: (l: string) => void;
}

let rig: Rig;

function git(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };
    const child = execFile('git', args, { cwd, env }, (err, stdout, stderr) => (err ? reject(new Error(`git ${args.join(' ')}: ${stderr}`)) : resolve(stdout.trim())));
    if (args[0] === 'mktree') child.stdin?.end();
  });
}

function outcome(artifact: string): BuildOutcome {
  const manifest = parseManifest(MANIFEST);
  return {
    manifest, artifactSha256: artifact, initrdSha256: null,
    buildManifest: {
      schema: 'summon.build/v1', app: 'web', commit: 'c'.repeat(40), tree: '', ref: 'refs/heads/main', summonTomlSha256: '',
      build: { command: 'true', test: null, timeoutMs: manifest.build.timeoutMs },
      platform: { os: '', arch: '', kernel: '', node: '', summon: '' }, toolchain: [], lockfiles: [],
      artifact: { path: 'out.bin', sha256: artifact, size: 1, target: 'process' }, steps: [], startedAt: 0, finishedAt: 0,
    },
  };
}

beforeEach(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-release-service-'));
  const store = await createSqliteStore(join(dir, 'summon.db'));
  const logs = new LogStore({ dir: join(dir, 'logs') });
  const secrets = await Secrets.open(dir, 'ab'.repeat(32));
  let t = 1_000_000;
  const now = () => (t += 1);
  const events = new EventBus({ store, logs, now });
  const r = { dir, store, logs, secrets, events, deployed: [] as Release[], rollouts: [], caps: [{ target: 'process', available: true, reason: '' }], lines: [] as string[] } as unknown as Rig;
  r.out = (l) => r.lines.push(l);
  r.build = async () => outcome(sha('a'));
  const controller = {
    deploy: async (rel: Release) => {
      r.deployed.push(rel);
      const res = r.rollouts.shift() ?? { ok: true };
      if (res.ok) {
        await store.updateRelease(rel.app, rel.version, { status: 'live' }, now());
        await store.updateApp(rel.app, { liveVersion: rel.version, targetVersion: rel.version });
      }
      else await store.updateRelease(rel.app, rel.version, { status: 'failed', reason: res.reason }, now());
      return res;
    },
  } as unknown as Controller;
  const pipeline = { run: (req: PushRequest, out: (l: string) => void) => r.build(req, out) } as unknown as BuildPipeline;
  const host = { hostId: 'h1', capabilities: async () => r.caps, link: () => ({ state: 'connected' }) } as unknown as HostAgent;
  r.svc = new ReleaseService({ store, controller, pipeline, events, secrets, agents: [host], appUrl: (a) => `http://${a}.localhost`, now });
  await store.createApp('web', now());
  rig = r;
});

afterEach(async () => {
  await rig.events.drained();
  await rig.logs.flush();
  await rig.store.close();
  await rm(rig.dir, { recursive: true, force: true });
});

/** A released version with artifact `artifact` (through a push), returning its number. */
async function pushed(artifact: string, rev = 'b', build: Rig['build'] = async () => outcome(artifact)): Promise<number> {
  rig.build = build;
  const before = (await rig.store.listReleases('web')).length;
  const r = await rig.svc.push({ app: 'web', oldRev: '0'.repeat(40), newRev: rev.repeat(40), ref: 'refs/heads/main', gitDir: rig.dir, gitEnv: {} }, rig.out, new AbortController().signal);
  assert.ok(r.ok, r.message);
  return before + 1;
}

test('a push builds, stores and rolls out a release, and keeps the build with what the pusher saw', async () => {
  const v = await pushed(sha('a'), 'b', async (_req, out) => { out('compiling'); return outcome(sha('a')); });
  const rel = await rig.store.getRelease('web', v);
  assert.equal(rel?.artifactSha256, sha('a'));
  assert.equal(rig.deployed.length, 1);
  assert.equal((await rig.store.getApp('web'))?.liveVersion, v);
  const build = await rig.store.getBuild('web', v);
  assert.equal(build?.status, 'succeeded');
  assert.match(build?.log ?? '', /compiling/);
  assert.ok(rig.lines.some((l) => l.includes(`Released v${v}`)), rig.lines.join('\n'));
});

test('a failed build fails its release, says the live one keeps serving, and rolls nothing out', async () => {
  const live = await pushed(sha('a'));
  rig.build = async () => { throw new Error('make: *** [all] Error 2'); };
  const r = await rig.svc.push({ app: 'web', oldRev: 'b'.repeat(40), newRev: 'c'.repeat(40), ref: 'refs/heads/main', gitDir: rig.dir, gitEnv: {} }, rig.out, new AbortController().signal);
  assert.equal(r.ok, false);
  assert.match(r.message ?? '', new RegExp(`v${live + 1} was not released: .*Error 2.*\\(v${live} keeps serving\\)`));
  assert.equal((await rig.store.getRelease('web', live + 1))?.status, 'failed');
  assert.equal((await rig.store.getBuild('web', live + 1))?.status, 'failed');
  assert.equal(rig.deployed.length, 1);
  assert.equal((await rig.store.getApp('web'))?.liveVersion, live);
});

test('a failed rollout is answered with the reason and the release still serving', async () => {
  const live = await pushed(sha('a'));
  rig.rollouts.push({ ok: false, reason: 'instance crashed 3 times' });
  rig.build = async () => outcome(sha('b'));
  const r = await rig.svc.push({ app: 'web', oldRev: 'b'.repeat(40), newRev: 'c'.repeat(40), ref: 'refs/heads/main', gitDir: rig.dir, gitEnv: {} }, rig.out, new AbortController().signal);
  assert.equal(r.ok, false);
  assert.equal(r.message, `v${live + 1} failed: instance crashed 3 times — v${live} keeps serving`);
});

test('a push for a target no host runs is refused before any rollout, naming the reason', async () => {
  rig.caps = [{ target: 'process', available: false, reason: 'bubblewrap is not installed' }];
  rig.build = async () => outcome(sha('a'));
  const r = await rig.svc.push({ app: 'web', oldRev: '0'.repeat(40), newRev: 'b'.repeat(40), ref: 'refs/heads/main', gitDir: rig.dir, gitEnv: {} }, rig.out, new AbortController().signal);
  assert.equal(r.ok, false);
  assert.match(r.message ?? '', /bubblewrap is not installed/);
  assert.equal(rig.deployed.length, 0);
  assert.equal((await rig.store.getRelease('web', 1))?.status, 'failed');
});

test('rollback without a version goes to the newest good release before the live one, skipping broken artifacts', async () => {
  await assert.rejects(rig.svc.rollback('web', null, rig.out), /no live release to roll back from/);
  const v1 = await pushed(sha('a'), 'b');
  const v2 = await pushed(sha('b'), 'c');
  const v3 = await pushed(sha('c'), 'd');
  // v2's artifact was found altered: neither v2 nor any release sharing its artifact is a target.
  await rig.store.updateRelease('web', v2, { brokenReason: 'artifact of v2 altered' }, 1);
  const r = await rig.svc.rollback('web', null, rig.out);
  assert.ok(r.ok, r.message);
  const rel = await rig.store.getRelease('web', r.version!);
  assert.equal(rel?.artifactSha256, sha('a'));
  assert.equal(rel?.description, `Rollback to v${v1}`);
  assert.equal((await rig.store.getApp('web'))?.liveVersion, r.version);
  assert.ok(v3 > v2);
});

test('rollback refuses what it cannot do, with what to do instead, and creates no release', async () => {
  await assert.rejects(rig.svc.rollback('nope', 1, rig.out), /app "nope" not found/);
  const v1 = await pushed(sha('a'));
  await assert.rejects(rig.svc.rollback('web', null, rig.out), new RegExp(`no release before v${v1} to roll back to`));
  await assert.rejects(rig.svc.rollback('web', 42, rig.out), /v42.*summon releases -a web/s);
  rig.build = async () => { throw new Error('no'); };
  await rig.svc.push({ app: 'web', oldRev: 'b'.repeat(40), newRev: 'c'.repeat(40), ref: 'refs/heads/main', gitDir: rig.dir, gitEnv: {} }, rig.out, new AbortController().signal);
  await assert.rejects(rig.svc.rollback('web', 2, rig.out), /v2 never built an artifact .*pick another release/);
  assert.equal((await rig.store.listReleases('web')).length, 2);
});

test('rollback carries the old release config vars, and they become the app config', async () => {
  await rig.svc.setConfig('web', { GREETING: 'one' }, [], rig.out);
  const v1 = await pushed(sha('a'));
  const changed = await rig.svc.setConfig('web', { GREETING: 'two' }, [], rig.out);
  assert.equal(changed.release, v1 + 1);
  const r = await rig.svc.rollback('web', v1, rig.out);
  assert.ok(r.ok);
  assert.deepEqual(rig.secrets.decrypt(await rig.store.getConfig('web')), { GREETING: 'one' });
  assert.deepEqual(rig.secrets.decrypt((await rig.store.getRelease('web', r.version!))?.configCipher ?? null), { GREETING: 'one' });
});

test('config changes: stored only before the first release, a new release after it; bad keys refused before anything is stored', async () => {
  const none = await rig.svc.setConfig('web', { A: '1', B: '2' }, [], rig.out);
  assert.equal(none.release, null);
  assert.equal(rig.deployed.length, 0);
  const v1 = await pushed(sha('a'));
  const r = await rig.svc.setConfig('web', {}, ['B'], rig.out);
  assert.equal(r.release, v1 + 1);
  assert.deepEqual(r.config, { A: '1' });
  const rel = await rig.store.getRelease('web', v1 + 1);
  assert.equal(rel?.description, 'Unset B');
  assert.equal(rel?.artifactSha256, sha('a'));
  await assert.rejects(rig.svc.setConfig('web', { 'bad key': 'x' }, [], rig.out), /bad key/);
  assert.deepEqual(rig.secrets.decrypt(await rig.store.getConfig('web')), { A: '1' });
  assert.equal((await rig.store.listReleases('web')).length, 2);
});

test('a second push to an app waits for the first, and is refused if the branch moved meanwhile', async () => {
  // A real bare repository: main at A; the first push moves it A → B (as git does after the
  // hook accepts), the second started from A too and must fetch, merge and push again.
  const gitDir = join(rig.dir, 'web.git');
  await git(rig.dir, 'init', '-q', '--bare', gitDir);
  const tree = await git(gitDir, 'mktree');
  const commit = (msg: string) => git(gitDir, 'commit-tree', tree, '-m', msg);
  const [a, b, c] = [await commit('a'), await commit('b'), await commit('c')];
  await git(gitDir, 'update-ref', 'refs/heads/main', a);
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  rig.build = async () => { await gate; return outcome(sha('a')); };
  const req = (oldRev: string, newRev: string): PushRequest => ({ app: 'web', oldRev, newRev, ref: 'refs/heads/main', gitDir, gitEnv: {} });
  const first = rig.svc.push(req(a, b), rig.out, new AbortController().signal);
  const secondLines: string[] = [];
  const second = rig.svc.push(req(a, c), (l) => secondLines.push(l), new AbortController().signal);
  assert.deepEqual(secondLines, ['-----> Waiting for the push before this one to finish']);
  release();
  assert.ok((await first).ok);
  await git(gitDir, 'update-ref', 'refs/heads/main', b);
  const r2 = await second;
  assert.equal(r2.ok, false);
  assert.equal(r2.message, `main moved to ${b.slice(0, 7)} while this push waited; fetch, merge and push again`);
  assert.equal(rig.deployed.length, 1, 'the second push was neither built nor rolled out');
  assert.equal(secondLines.length, 1);
});

test('after a crash, releases left building or rolling out behind another are failed with the reason', async () => {
  const v1 = await pushed(sha('a'));
  const half = await rig.store.createRelease('web', { status: 'building', description: 'Deploy x', reason: null, commit: null, artifactSha256: null, initrdSha256: null, manifest: null, buildManifest: null, configCipher: null }, 5);
  await rig.store.saveBuild({ app: 'web', version: half.version, source: 'push', commit: 'x'.repeat(40), status: 'running', reason: null, startedAt: 5, finishedAt: null, durationMs: null, log: 'step 1\n', logBytes: 7, truncated: false });
  const behind = await rig.store.createRelease('web', { status: 'deploying', description: 'Set A', reason: null, commit: null, artifactSha256: sha('a'), initrdSha256: null, manifest: null, buildManifest: null, configCipher: null }, 6);
  assert.equal(await rig.svc.failInterrupted(), 2);
  assert.match((await rig.store.getRelease('web', half.version))?.reason ?? '', /Summon stopped during the build; push again/);
  assert.match((await rig.store.getRelease('web', behind.version))?.reason ?? '', /during the rollout, and a later release took its place/);
  assert.equal((await rig.store.getApp('web'))?.liveVersion, v1, 'the live release is left as it was');
  const b = await rig.store.getBuild('web', half.version);
  assert.equal(b?.status, 'failed');
  assert.equal(b?.log, 'step 1\n');
  assert.equal(await rig.svc.failInterrupted(), 0, 'a second pass finds nothing left');
});

test('promotion releases the live artifact of one stage to the next with that app\'s own config vars, and refuses where there is no next stage', async () => {
  const live = await pushed(sha('a'));
  await rig.store.setConfig('web', rig.secrets.encrypt({ DB: 'staging-db' }));
  await rig.store.createApp('prod', 1);
  await rig.store.setConfig('prod', rig.secrets.encrypt({ DB: 'production-db' }));
  const none = await rig.svc.promote('web', 'admin@localhost', rig.out).catch((e: Error) => e);
  assert.match(String(none), /web is in no pipeline: pipelines have no command or API route yet/);
  await rig.store.createPipeline({ name: 'shop', stages: [{ stage: 'staging', app: 'web' }, { stage: 'production', app: 'prod' }], createdAt: 1 });
  const r = await rig.svc.promote('web', 'admin@localhost', rig.out);
  assert.ok(r.ok, r.message);
  assert.equal(r.target, 'prod');
  const rel = await rig.store.getRelease('prod', r.version!);
  const from = await rig.store.getRelease('web', live);
  assert.equal(rel?.artifactSha256, from?.artifactSha256, 'the same artifact');
  assert.equal(rig.deployed.length, 2, 'rolled out, not rebuilt (one push, one promotion)');
  assert.deepEqual(rig.secrets.decrypt(rel!.configCipher), { DB: 'production-db' }, 'the target app\'s own config vars');
  assert.deepEqual(rel?.buildManifest?.promotedFrom, { app: 'web', version: live, pipeline: 'shop', by: 'admin@localhost' });
  assert.equal(rel?.description, `Promote web v${live}`);
  assert.ok(rig.lines.some((l) => /Promoting web v\d+ \(staging\) to prod \(production\) as v1: artifact sha256 aaaaaaaaaaaa…, not rebuilt/.test(l)), rig.lines.join('\n'));
  const last = await rig.svc.promote('prod', 'admin@localhost', rig.out).catch((e: Error) => e);
  assert.match(String(last), /prod is the last stage \(production\) of pipeline shop: there is nothing to promote it to/);
});
