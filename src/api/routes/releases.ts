// API routes for releases and config vars: list and show releases, roll back, read and change config (a new release).
import type { FastifyInstance } from 'fastify';
import { checkConfigChange } from '../../core/config-vars.js';
import { InvalidInputError, NotFoundError } from '../../core/errors.js';
import type { Release } from '../../core/types.js';
import type { Verification } from '../../store/store.js';
import type { ReleaseView } from '../views.js';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';
import { releaseVersion } from '../params.js';

export function registerReleaseRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d, appParam, requireApp, streamed } = c;
  // ---- releases ----
  const releaseView = (r: Release, checks: Verification[]): ReleaseView => {
    const { configCipher, ...rest } = r;
    return { ...rest, configKeys: Object.keys(d.secrets.decrypt(configCipher)).sort(), verification: checks.find((v) => v.version === r.version) ?? null };
  };
  route(fastify, 'listReleases', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    const checks = await d.store.listVerifications(name);
    return (await d.store.listReleases(name)).map((r) => releaseView(r, checks));
  });
  route(fastify, 'getRelease', async (req) => {
    const name = appParam(req);
    const v = releaseVersion(req.params.version);
    const r = await d.store.getRelease(name, v);
    if (!r) throw new NotFoundError('release', `v${v}`, `see \`summon releases -a ${name}\``);
    return releaseView(r, await d.store.listVerifications(name));
  });
  route(fastify, 'verifyRelease', async (req, reply) => {
    const name = appParam(req);
    await requireApp(name);
    const v = releaseVersion(req.params.version);
    return streamed(reply, async (out) => {
      const check = await d.releases.verify(name, v, out);
      if (check.result === 'reproducible') return { ok: true, message: `v${v} is reproducible: the rebuild made the same bytes (sha256 ${check.rebuiltSha256?.slice(0, 12)}…)`, verification: check };
      const message = `v${v} differs from its rebuild:\n${check.differences.map((x) => `  - ${x}`).join('\n')}`;
      return { ok: false, message, error: { code: 'conflict', message }, verification: check };
    });
  });
  route(fastify, 'rollback', async (req, reply) => {
    const name = appParam(req);
    const body = req.body ?? {};
    const version = body.version === undefined || body.version === null ? null : Number(String(body.version).replace(/^v/, ''));
    await requireApp(name);
    return streamed(reply, async (out) => {
      const r = await d.releases.rollback(name, version, out);
      return { ok: r.ok, message: r.message, version: r.version };
    });
  });

  // ---- config ----
  route(fastify, 'getConfig', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.secrets.decrypt(await d.store.getConfig(name));
  });
  route(fastify, 'setConfig', async (req, reply) => {
    const name = appParam(req);
    const body = req.body;
    const set = body.set ?? {};
    const unset = body.unset ?? [];
    if (!Object.keys(set).length && !unset.length) throw new InvalidInputError('nothing to change: give KEY=VALUE pairs to set or KEYs to unset');
    await requireApp(name);
    // Names and values meet the rules of the live release's target before anything is stored.
    const app = await d.store.getApp(name);
    const live = app?.liveVersion != null ? await d.store.getRelease(name, app.liveVersion) : undefined;
    const resulting = { ...d.secrets.decrypt(await d.store.getConfig(name)), ...set };
    for (const k of unset) delete resulting[k];
    checkConfigChange(set, resulting, live?.manifest?.run.target);
    return streamed(reply, async (out) => {
      const r = await d.releases.setConfig(name, set, unset, out);
      return { ok: r.result.ok, message: r.result.message, release: r.release, keys: Object.keys(r.config).sort() };
    });
  });
}
