// API routes for build history: every build of a push, failed or not, and one with its log.
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../core/errors.js';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';
import { releaseVersion } from '../params.js';

export function registerBuildRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d, appParam, requireApp } = c;
  route(fastify, 'listBuilds', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    return d.store.listBuilds(name, req.query.limit ?? 50);
  });
  route(fastify, 'getBuild', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    const v = releaseVersion(req.params.version, 'a build is named by the release it made: vN or N, e.g. v3');
    const b = await d.store.getBuild(name, v);
    if (!b) throw new NotFoundError('build', `v${v}`, `see \`summon builds -a ${name}\` (a rollback or a config change makes a release without a build)`);
    const release = await d.store.getRelease(name, v);
    return { ...b, buildManifest: release?.buildManifest ?? null };
  });
}
