// Releases: a push builds one, a rollback or a config change copies one, and each is rolled
// out through the controller. Every step streams lines to the caller (the git push, or the
// CLI) and is recorded as an event. A failure at any step leaves the live release serving.
import { execFile } from 'node:child_process';
import type { BuildPipeline } from '../builder/pipeline.js';
import type { PushRequest, PushResult } from '../git/push-stream.js';
import { ConflictError, DeployError, InvalidInputError, NotFoundError, RuntimeUnavailableError, toSummonError } from '../core/errors.js';
import { configProblem, rulesFor } from '../core/config-vars.js';
import { checkConfigKey } from '../core/names.js';
import type { App, BuildManifest, Release, RuntimeCapability, SummonEvent, Target } from '../core/types.js';
import { isReachable, type HostAgent } from '../agent/host-agent.js';
import type { BuildRecord, Store, NewRelease, Verification } from '../store/store.js';
import { compareBuilds, firstDifference } from '../artifacts/rebuild-diff.js';
import type { BuildOutcome } from '../builder/pipeline.js';
import { parseManifest } from '../core/manifest.js';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { BuildLog } from './build-log.js';
import type { Controller } from './controller.js';
import type { EventBus } from './event-bus.js';
import type { Secrets } from './secrets.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { describeArches, runsArch } from '../core/arch.js';
import type { SmokeRunner } from './smoke.js';
import { archRefusal, releaseNeed, type PlacementNeed } from '../core/placement.js';

export interface ReleaseServiceOptions {
  store: Store;
  controller: Controller;
  pipeline: BuildPipeline;
  events: EventBus;
  secrets: Secrets;
  agents: HostAgent[];
  appUrl: (app: string) => string;
  now?: () => number;
  /** Summon's own log: hosts that did not say what they can run. */
  logger?: Logger;
  /** For `releases:verify`: the app's bare repository, and where a stored blob is. */
  gitDirOf?: (app: string) => string;
  artifactPath?: (sha256: string) => string;
  /** Several control-plane nodes: holds the app's row lock in the database for the whole push
   *  (build, release, rollout), so pushes to one app on two nodes are serialised. */
  lockApp?: (app: string) => Promise<() => Promise<void>>;
  /** [test].smoke: run by the controller's deploy gate before a release takes traffic. */
  smoke?: SmokeRunner;
}

type Out = (line: string) => void;
/** A push's repository and git's quarantine variables: during the pre-receive hook its commit
 *  is only there, so the smoke tests' checkout reads it from there. */
type SmokeSource = { gitDir: string; gitEnv: Record<string, string> };

const ZERO = '0000000000000000000000000000000000000000';
/** How often a running build's log is saved. */
const BUILD_LOG_CHECKPOINT_MS = 2000;

async function waitForRef(gitDir: string, ref: string, want: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && (await refValue(gitDir, ref)) !== want) await new Promise((r) => setTimeout(r, 20));
}

function refValue(gitDir: string, ref: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('git', ['--git-dir', gitDir, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], (err, stdout) => {
      resolve(err ? ZERO : stdout.trim());
    });
  });
}

const DEPLOY_EVENTS = new Set([
  'deploy.started', 'instance.started', 'instance.healthy', 'instance.crashed', 'instance.unhealthy',
  'instance.draining', 'instance.stopped', 'release.live', 'release.failed',
  'artifact.altered', 'artifact.missing', 'artifact.refetched', 'release.broken',
]);

export class ReleaseService {
  private readonly now: () => number;
  /** One build per app at a time: a second push waits for the first (its output says so). */
  private readonly building = new Map<string, Promise<{ ok: boolean; newRev: string }>>();
  private readonly log: Logger;
  constructor(private readonly o: ReleaseServiceOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger ?? silentLogger();
    if (o.smoke) {
      const smoke = o.smoke;
      o.controller.setDeployGate((release, instance, signal) => this.smokeGate(smoke, release, instance, signal));
    }
  }

  /** Where a rollout under way streams its lines (the push, or the CLI), by app@version. */
  private readonly rolloutOut = new Map<string, { out: Out; source?: SmokeSource }>();

  /** The deploy gate: the release's smoke commands against its instance that takes no traffic
   *  yet; the result is kept in its build manifest and said in an event. */
  private async smokeGate(smoke: SmokeRunner, release: Release, instance: { id: string; address: string; port: number }, signal: AbortSignal): Promise<{ ok: true } | { ok: false; reason: string }> {
    const { store, events } = this.o;
    const name = release.app;
    const v = release.version;
    const under = this.rolloutOut.get(`${name}@${v}`);
    const out = under?.out ?? (() => undefined);
    void events.emit(name, 'smoke.started', `smoke tests of v${v} started against ${instance.id}`, { version: v, instance: instance.id });
    const config = this.o.secrets.decrypt(release.configCipher);
    const record = await smoke.run({ release, config, instance, out, signal, ...(under?.source ? { source: under.source } : {}) });
    const current = await store.getRelease(name, v);
    if (current?.buildManifest) {
      await store.updateRelease(name, v, { buildManifest: { ...current.buildManifest, smoke: record } }, this.now())
        .catch((err: unknown) => this.log.warn({ err, app: name, version: v }, 'smoke test record not stored'));
    }
    const figures = { version: v, instance: instance.id, durationMs: record.durationMs, steps: record.steps.length };
    if (record.result === 'passed') {
      void events.emit(name, 'smoke.passed', `smoke tests of v${v} passed (${record.steps.length} in ${(record.durationMs / 1000).toFixed(1)}s)`, figures);
      return { ok: true };
    }
    const reason = record.reason ?? 'smoke tests failed';
    void events.emit(name, 'smoke.failed', `smoke tests of v${v} failed: ${reason.split('\n')[0]}`, { ...figures, reason });
    return { ok: false, reason };
  }

  /** At start, before the first push: a release that a crash (kill -9, power loss) left half
   *  made never stays so. Nothing builds or rolls out yet, so a release still building,
   *  testing or ready is failed with the reason, and so is one deploying that is not its app's
   *  target (the controller resumes the target's rollout). Returns how many were failed. */
  async failInterrupted(): Promise<number> {
    const { store, events } = this.o;
    let n = 0;
    for (const app of await store.listApps()) {
      for (const r of await store.listReleases(app.name)) {
        const building = r.status === 'building' || r.status === 'testing' || r.status === 'ready';
        if (!building && !(r.status === 'deploying' && app.targetVersion !== r.version)) continue;
        const reason = building
          ? 'interrupted: Summon stopped during the build; push again'
          : 'interrupted: Summon stopped during the rollout, and a later release took its place';
        await store.updateRelease(app.name, r.version, { status: 'failed', reason }, this.now());
        void events.emit(app.name, building ? 'build.failed' : 'release.failed', `v${r.version} ${reason}`, { version: r.version, code: 'interrupted' });
        n += 1;
      }
      // Its build record too, with what was logged until the last checkpoint.
      for (const b of await store.listBuilds(app.name, 20)) {
        if (b.status !== 'running') continue;
        const full = await store.getBuild(app.name, b.version);
        const at = this.now();
        await this.saveBuild({ ...(full ?? { ...b, log: '' }), status: 'failed', reason: 'interrupted: Summon stopped during the build; push again', finishedAt: at, durationMs: at - b.startedAt });
      }
    }
    return n;
  }

  /** Called by the pre-receive hook: build, test, store, release, roll out. */
  async push(req: PushRequest, out: Out, signal: AbortSignal): Promise<PushResult> {
    const before = this.building.get(req.app);
    if (before) out(`-----> Waiting for the push before this one to finish`);
    const run = (async (): Promise<PushResult> => {
      if (before) {
        const prev = await before.catch(() => null);
        // git moves the branch only after the previous hook returned: wait for that, then
        // refuse this push if the branch is no longer where it started (git would refuse the
        // ref update anyway, but only after this push had been built and released).
        if (prev?.ok) await waitForRef(req.gitDir, req.ref, prev.newRev, 10_000);
        const current = await refValue(req.gitDir, req.ref);
        if (current !== req.oldRev) {
          return { ok: false, message: `${req.ref.replace('refs/heads/', '')} moved to ${current.slice(0, 7)} while this push waited; fetch, merge and push again` };
        }
      }
      if (!this.o.lockApp) return this.pushNow(req, out, signal);
      const unlock = await this.o.lockApp(req.app);
      try {
        return await this.pushNow(req, out, signal);
      } finally {
        await unlock();
      }
    })();
    const entry = run.then((r) => ({ ok: r.ok, newRev: req.newRev }));
    this.building.set(req.app, entry);
    try {
      return await run;
    } finally {
      if (this.building.get(req.app) === entry) this.building.delete(req.app);
    }
  }

  private async pushNow(req: PushRequest, pushOut: Out, signal: AbortSignal): Promise<PushResult> {
    const { store } = this.o;
    if (signal.aborted) return { ok: false, message: 'the git client went away' };
    const app = await store.getApp(req.app);
    if (!app) return { ok: false, message: `no app named ${req.app}` };
    const short = req.newRev.slice(0, 7);
    const release = await store.createRelease(req.app, this.blankRelease(`Deploy ${short}`, req.newRev, 'building'), this.now());
    // The build keeps what the pusher sees (summon builds:info), saved as it starts and ends.
    const log = new BuildLog();
    const out: Out = (l) => {
      log.add(l);
      pushOut(l);
    };
    const build: BuildRecord = {
      app: req.app, version: release.version, source: 'push', commit: req.newRev, status: 'running', reason: null,
      startedAt: this.now(), finishedAt: null, durationMs: null, log: '', logBytes: 0, truncated: false,
    };
    await this.saveBuild(build);
    // Saved again every few seconds while it runs, so a crash keeps what was logged until then.
    let saved = 0;
    let saving = Promise.resolve();
    const checkpoint = setInterval(() => {
      if (log.bytes === saved) return;
      saved = log.bytes;
      // One write at a time, and the last one (below) after them all.
      saving = saving.then(() => this.saveBuild({ ...build, log: log.text(), logBytes: log.bytes, truncated: log.truncated }));
    }, BUILD_LOG_CHECKPOINT_MS);
    checkpoint.unref();
    let result: PushResult = { ok: false, message: 'the build stopped without a result' };
    try {
      result = await this.buildAndRelease(req, app, release, out, signal);
      return result;
    } catch (e) {
      result = { ok: false, message: toSummonError(e).message };
      throw e;
    } finally {
      clearInterval(checkpoint);
      if (!result.ok && result.message) log.add(`error: ${result.message}`);
      const finishedAt = this.now();
      await saving;
      await this.saveBuild({
        ...build, status: result.ok ? 'succeeded' : 'failed', reason: result.ok ? null : result.message ?? 'failed',
        finishedAt, durationMs: finishedAt - build.startedAt, log: log.text(), logBytes: log.bytes, truncated: log.truncated,
      });
    }
  }

  /** A build record that cannot be written costs the record, never the push. */
  private async saveBuild(b: BuildRecord): Promise<void> {
    await this.o.store.saveBuild(b).catch((err: unknown) => this.log.warn({ err, app: b.app, version: b.version }, 'build record not stored'));
  }

  private async buildAndRelease(req: PushRequest, app: App, release: Release, out: Out, signal: AbortSignal): Promise<PushResult> {
    const { store, events } = this.o;
    const short = req.newRev.slice(0, 7);
    const config = this.o.secrets.decrypt(await store.getConfig(req.app));
    void events.emit(req.app, 'build.started', `build of ${short} started for v${release.version}`, { version: release.version, commit: req.newRev });
    out(`-----> Summon: building ${req.app} v${release.version} from ${short}`);
    const t0 = this.now();
    let outcome;
    try {
      outcome = await this.o.pipeline.run({ ...req, configEnv: config }, out, signal);
    } catch (e) {
      const err = toSummonError(e);
      await store.updateRelease(req.app, release.version, { status: 'failed', reason: err.message }, this.now());
      void events.emit(req.app, 'build.failed', `build of v${release.version} failed: ${err.message}`, { version: release.version, code: err.code, durationMs: this.now() - t0 });
      return { ok: false, message: `v${release.version} was not released: ${err.message}${app.liveVersion !== null ? ` (v${app.liveVersion} keeps serving)` : ''}` };
    }
    void events.emit(req.app, 'build.succeeded', `built v${release.version} in ${((this.now() - t0) / 1000).toFixed(1)}s (artifact ${outcome.artifactSha256.slice(0, 12)})`, { version: release.version, durationMs: this.now() - t0 });
    return this.releaseBuilt(app, release, outcome, config, out, { gitDir: req.gitDir, gitEnv: req.gitEnv ?? {} });
  }

  /** A built (or uploaded) artifact: checked against the hosts and the config vars, then rolled out. */
  private async releaseBuilt(app: App, release: Release, outcome: BuildOutcome, config: Record<string, string>, out: Out, source?: SmokeSource): Promise<PushResult> {
    const { store } = this.o;
    const target = outcome.manifest.run.target;
    const capability = await this.capabilityOf(target, releaseNeed(outcome));
    if (!capability.available) {
      const err = new RuntimeUnavailableError(target, capability.reason);
      await store.updateRelease(app.name, release.version, { status: 'failed', reason: err.message }, this.now());
      return { ok: false, message: err.message };
    }
    // A new release may change the target: the stored config vars must suit the new one too.
    const rules = rulesFor(target);
    const unfit = configProblem(config, rules, { names: rules === 'vm' });
    if (unfit) {
      const err = new InvalidInputError(`the config vars do not suit target ${target}: ${unfit.message}; change them with summon config:set / config:unset and push again (or summon deploy)`);
      await store.updateRelease(app.name, release.version, { status: 'failed', reason: err.message }, this.now());
      return { ok: false, message: `v${release.version} was not released: ${err.message}${app.liveVersion !== null ? ` (v${app.liveVersion} keeps serving)` : ''}` };
    }
    const ready = await store.updateRelease(app.name, release.version, {
      status: 'ready', manifest: outcome.manifest, buildManifest: outcome.buildManifest,
      artifactSha256: outcome.artifactSha256, initrdSha256: outcome.initrdSha256,
      configCipher: this.o.secrets.encrypt(config),
    }, this.now());
    return this.rollOut(ready, out, source);
  }

  /**
   * `summon deploy`: an artifact built elsewhere (by a CI) and uploaded to the blob store, released
   * with its summon.toml through the same checks and rollout as a push. The build manifest says
   * it was uploaded, by whom, and what the uploader declared; Summon ran no build or [test] of it.
   */
  async deployUpload(appName: string, u: { manifest: string; artifact: string; initrd?: string; declared: Record<string, string>; by: string; tokenId: string | null }, out: Out): Promise<PushResult & { version?: number }> {
    const { store, artifactPath } = this.o;
    const app = await this.requireApp(appName);
    if (!artifactPath) throw new ConflictError('this Summon takes no uploads (no blob store given to the release service)');
    const manifest = parseManifest(u.manifest, 'summon.toml', { maxMemoryBytes: totalmem() });
    const blob = async (sha: string, what: string) => {
      const size = await stat(artifactPath(sha)).then((s) => s.size, () => null);
      if (size === null) throw new NotFoundError(what, `sha256 ${sha.slice(0, 12)}…`, `upload it first: PUT /api/apps/${appName}/uploads/${sha} (summon deploy does)`);
      return size;
    };
    const size = await blob(u.artifact, 'uploaded artifact');
    if (manifest.run.initrd && !u.initrd) throw new InvalidInputError(`summon.toml names [run].initrd = ${JSON.stringify(manifest.run.initrd)}: upload it too (summon deploy --initrd FILE)`);
    if (u.initrd) await blob(u.initrd, 'uploaded initrd');
    const commit = u.declared.commit ?? null;
    const release = await store.createRelease(appName, this.blankRelease(`Deploy upload ${u.artifact.slice(0, 7)}${commit ? ` (${commit.slice(0, 7)})` : ''}`, commit, 'building'), this.now());
    const at = this.now();
    out(`-----> Summon: releasing ${appName} v${release.version} from an upload by ${u.by} (artifact sha256 ${u.artifact.slice(0, 12)}…, ${size} bytes)`);
    const buildManifest: BuildManifest = {
      schema: 'summon.build/v1', app: appName, commit: commit ?? '', tree: '', ref: u.declared.ref ?? '',
      summonTomlSha256: createHash('sha256').update(u.manifest).digest('hex'),
      build: { command: manifest.build.command ?? null, test: manifest.build.test ?? null, timeoutMs: manifest.build.timeoutMs },
      platform: { os: u.declared.os ?? '', arch: u.declared.arch ?? '', kernel: '', node: '', summon: '' },
      toolchain: [], lockfiles: [],
      artifact: { path: manifest.build.artifact, sha256: u.artifact, size, target: manifest.run.target, ...(u.initrd ? { initrdSha256: u.initrd } : {}) },
      steps: [], startedAt: at, finishedAt: at,
      origin: { kind: 'upload', by: u.by, tokenId: u.tokenId, declared: u.declared },
    };
    void this.o.events.emit(appName, 'release.created', `v${release.version}: an upload by ${u.by}`, { version: release.version, artifact: u.artifact, by: u.by });
    const config = this.o.secrets.decrypt(await store.getConfig(appName));
    const r = await this.releaseBuilt(app, release, { manifest, buildManifest, artifactSha256: u.artifact, initrdSha256: u.initrd ?? null }, config, out);
    return { ...r, version: release.version };
  }

  /**
   * Pipelines: the live release of `appName` released to the next stage's app: the same
   * artifact (the same sha256, no rebuild) and summon.toml, with the target app's own config
   * vars, through the same checks, smoke tests and rollout as any release of it.
   */
  async promote(appName: string, by: string, out: Out): Promise<PushResult & { version?: number; target: string }> {
    const { store } = this.o;
    const pipeline = await store.pipelineOf(appName);
    if (!pipeline) throw new ConflictError(`${appName} is in no pipeline: pipelines have no command or API route yet, so none can be made (see docs/design.md, "Where the code stands")`);
    const i = pipeline.stages.findIndex((s) => s.app === appName);
    const next = pipeline.stages[i + 1];
    if (!next) throw new ConflictError(`${appName} is the last stage (${pipeline.stages[i].stage}) of pipeline ${pipeline.name}: there is nothing to promote it to`);
    const app = await this.requireApp(appName);
    if (app.liveVersion === null) throw new ConflictError(`${appName} has no live release to promote`);
    const from = await store.getRelease(appName, app.liveVersion);
    if (!from?.artifactSha256 || !from.manifest || !from.buildManifest) throw new ConflictError(`v${app.liveVersion} of ${appName} has no artifact to promote`);
    const target = await this.requireApp(next.app);
    const release = await store.createRelease(next.app, this.blankRelease(`Promote ${appName} v${from.version}`, from.commit, 'building'), this.now());
    out(`-----> Promoting ${appName} v${from.version} (${pipeline.stages[i].stage}) to ${next.app} (${next.stage}) as v${release.version}: artifact sha256 ${from.artifactSha256.slice(0, 12)}…, not rebuilt`);
    const { smoke: _smoke, ...built } = from.buildManifest;
    const buildManifest: BuildManifest = { ...built, promotedFrom: { app: appName, version: from.version, pipeline: pipeline.name, by } };
    void this.o.events.emit(next.app, 'release.created', `v${release.version}: promoted from ${appName} v${from.version} by ${by}`, { version: release.version, from: appName, fromVersion: from.version, artifact: from.artifactSha256 });
    const config = this.o.secrets.decrypt(await store.getConfig(next.app));
    const r = await this.releaseBuilt(target, release, { manifest: from.manifest, buildManifest, artifactSha256: from.artifactSha256, initrdSha256: from.initrdSha256 }, config, out);
    return { ...r, version: release.version, target: next.app };
  }

  /**
   * Rebuilds release `version` from its build manifest (the same commit in a clean checkout, the
   * same commands and config vars) and compares what went in and the artifact's bytes. The
   * verdict is stored on the release; nothing is stored or deployed from the rebuild.
   */
  async verify(appName: string, version: number, out: Out): Promise<Verification> {
    const { store, gitDirOf, artifactPath } = this.o;
    await this.requireApp(appName);
    if (!gitDirOf || !artifactPath) throw new ConflictError('this Summon cannot rebuild releases (no repositories or blob store given to the release service)');
    const r = await store.getRelease(appName, version);
    if (!r) throw new NotFoundError('release', `v${version}`, `see \`summon releases -a ${appName}\``);
    const was = r.buildManifest;
    if (!was || !r.artifactSha256) throw new ConflictError(`v${version} has no build manifest to rebuild from (status ${r.status}): verify a release that was built`);
    out(`-----> Rebuilding v${version} of ${appName} from ${was.commit.slice(0, 7)} (${was.ref}) to check it is what its manifest says`);
    const bytes: { artifact: string | null; initrd: string | null } = { artifact: null, initrd: null };
    let differences: string[];
    let rebuiltSha256: string | null = null;
    let result: Verification['result'];
    try {
      const outcome = await this.o.pipeline.run({
        app: appName, oldRev: ZERO, newRev: was.commit, ref: was.ref, gitDir: gitDirOf(appName), gitEnv: {},
        configEnv: this.o.secrets.decrypt(r.configCipher),
        rebuild: {
          inspect: async (artifact, initrd) => {
            bytes.artifact = await firstDifference(artifactPath(r.artifactSha256!), artifact);
            if (initrd && r.initrdSha256) bytes.initrd = await firstDifference(artifactPath(r.initrdSha256), initrd);
          },
        },
      }, out);
      rebuiltSha256 = outcome.artifactSha256;
      ({ result, differences } = compareBuilds(was, outcome.buildManifest, bytes));
    } catch (e) {
      result = 'differs';
      differences = [`the rebuild failed: ${toSummonError(e).message}`];
    }
    const check: Verification = { app: appName, version, result, differences, rebuiltSha256, checkedAt: this.now() };
    await store.saveVerification(check);
    out(result === 'reproducible' ? `-----> v${version} is reproducible` : `-----> v${version} differs from its rebuild (${differences.length} difference${differences.length === 1 ? '' : 's'})`);
    void this.o.events.emit(appName, 'release.verified', `v${version} ${result === 'reproducible' ? 'is reproducible' : `differs from its rebuild: ${differences[0]}`}`, { version, result, differences });
    return check;
  }

  async rollback(appName: string, version: number | null, out: Out): Promise<PushResult & { version?: number }> {
    const { store } = this.o;
    const app = await this.requireApp(appName);
    const releases = await store.listReleases(appName);
    let from: Release | undefined;
    if (version === null) {
      if (app.liveVersion === null) throw new ConflictError(`${appName} has no live release to roll back from`);
      // Not to a release whose artifact was found missing or altered (nor one sharing it).
      const bad = new Set(releases.filter((r) => r.brokenReason).flatMap((r) => [r.artifactSha256, r.initrdSha256]));
      from = releases.find((r) => r.version < app.liveVersion! && r.artifactSha256 && r.status !== 'failed' && !r.brokenReason && !bad.has(r.artifactSha256) && !(r.initrdSha256 && bad.has(r.initrdSha256)));
      if (!from) throw new ConflictError(`${appName} has no release before v${app.liveVersion} to roll back to`);
    } else {
      from = releases.find((r) => r.version === version);
      if (!from) throw new NotFoundError('release', `v${version}`, `see \`summon releases -a ${appName}\``);
      if (!from.artifactSha256 || !from.manifest) throw new ConflictError(`v${version} never built an artifact (status ${from.status}); pick another release`);
    }
    const rel = await store.createRelease(appName, {
      ...this.blankRelease(`Rollback to v${from.version}`, from.commit, 'ready'),
      manifest: from.manifest, buildManifest: from.buildManifest, artifactSha256: from.artifactSha256,
      initrdSha256: from.initrdSha256, configCipher: from.configCipher,
    }, this.now());
    // The app's current config becomes the rolled-back one, so a later config:set starts from it.
    if (from.configCipher) await store.setConfig(appName, from.configCipher);
    void this.o.events.emit(appName, 'release.created', `v${rel.version}: rollback to v${from.version}`, { version: rel.version, from: from.version });
    out(`-----> Rolling back ${appName} to v${from.version} as v${rel.version}`);
    return { ...(await this.rollOut(rel, out)), version: rel.version };
  }

  /** Sets and unsets config vars; with a live release, rolls out a new release carrying them. */
  async setConfig(appName: string, set: Record<string, string>, unset: string[], out: Out): Promise<{ config: Record<string, string>; release: number | null; result: PushResult }> {
    const { store } = this.o;
    const app = await this.requireApp(appName);
    for (const k of [...Object.keys(set), ...unset]) checkConfigKey(k);
    const config = { ...this.o.secrets.decrypt(await store.getConfig(appName)), ...set };
    for (const k of unset) delete config[k];
    const cipher = this.o.secrets.encrypt(config);
    await store.setConfig(appName, cipher);
    const what = [...Object.keys(set).map((k) => `set ${k}`), ...unset.map((k) => `unset ${k}`)].join(', ');
    if (app.liveVersion === null) {
      void this.o.events.emit(appName, 'config.changed', `config: ${what} (no release yet)`, { set: Object.keys(set), unset });
      return { config, release: null, result: { ok: true } };
    }
    const live = await store.getRelease(appName, app.liveVersion);
    const rel = await store.createRelease(appName, {
      ...this.blankRelease(what.charAt(0).toUpperCase() + what.slice(1), live!.commit, 'ready'),
      manifest: live!.manifest, buildManifest: live!.buildManifest, artifactSha256: live!.artifactSha256,
      initrdSha256: live!.initrdSha256, configCipher: cipher,
    }, this.now());
    void this.o.events.emit(appName, 'config.changed', `config: ${what} → v${rel.version}`, { set: Object.keys(set), unset, version: rel.version });
    return { config, release: rel.version, result: await this.rollOut(rel, out) };
  }

  private async rollOut(release: Release, out: Out, source?: SmokeSource): Promise<PushResult> {
    const name = release.app;
    const unsubscribe = this.o.events.subscribe((e: SummonEvent) => {
      if (e.app === name && DEPLOY_EVENTS.has(e.type)) out(`       ${e.message}`);
    });
    out(`-----> Releasing v${release.version}`);
    const key = `${name}@${release.version}`;
    this.rolloutOut.set(key, { out, ...(source ? { source } : {}) });
    try {
      const r = await this.o.controller.deploy(release);
      await this.o.events.drained();
      if (!r.ok) {
        const app = await this.o.store.getApp(name);
        throw new DeployError(`v${release.version} failed: ${r.reason}${app?.liveVersion != null ? ` — v${app.liveVersion} keeps serving` : ''}`);
      }
      out(`-----> Released v${release.version} … ${this.o.appUrl(name)}`);
      return { ok: true, message: `Released v${release.version} … ${this.o.appUrl(name)}` };
    } catch (e) {
      return { ok: false, message: toSummonError(e).message };
    } finally {
      this.rolloutOut.delete(key);
      unsubscribe();
    }
  }

  /** An available capability for target (that runs need's arch), else why there is none. */
  private async capabilityOf(target: Target, need?: PlacementNeed): Promise<RuntimeCapability> {
    const all = await Promise.all(this.o.agents.map((a) => a.capabilities().catch((err: unknown) => {
      // Counted as offering nothing: the push is refused only if no other host has the target.
      this.log.warn({ err, host: a.hostId, target }, 'host did not say which runtimes it has');
      return [] as RuntimeCapability[];
    })));
    const found = all.flat().filter((c) => c.target === target);
    const down = this.o.agents.filter((a) => !isReachable(a)).map((a) => a.hostId);
    const also = down.length ? ` (unreachable now, so not asked: ${down.join(', ')})` : '';
    const available = found.filter((c) => c.available);
    if (available.length && need?.arch && !available.some((c) => runsArch(c.arches, need.arch))) {
      const hosts = all.map((caps, i) => {
        const c = caps.find((x) => x.target === target && x.available);
        return c ? `${this.o.agents[i].hostId}: ${c.arches ? describeArches(c.arches) : 'not said'}` : null;
      }).filter((x) => x !== null).join('; ');
      return { target, available: false, reason: `${archRefusal(target, need.arch, need.archFrom)} (${target} runs ${hosts})${also}` };
    }
    return available.find((c) => runsArch(c.arches, need?.arch)) ??
      { target, available: false, reason: `${found.find((c) => c.reason)?.reason ?? `no host has a ${target} runtime`}${also}` };
  }

  private blankRelease(description: string, commit: string | null, status: Release['status']): NewRelease {
    return {
      status, description, reason: null, commit, artifactSha256: null, initrdSha256: null,
      manifest: null, buildManifest: null, configCipher: null,
    };
  }

  private async requireApp(name: string) {
    const app = await this.o.store.getApp(name);
    if (!app) throw new NotFoundError('app', name, 'see `summon apps`');
    return app;
  }
}
