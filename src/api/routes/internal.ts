// Routes for Summon's own parts, outside the API (and its document): the artifacts remote agents
// fetch, and the pre-receive hook. Each checks its own credential, not an API token.
import type { FastifyInstance } from 'fastify';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { verifyHostCredential } from '../../agent/host-credential.js';
import { ArtifactVerifier } from '../../artifacts/verify.js';
import { parsePushRequest, servePushStream } from '../../git/push-stream.js';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError, UnauthorizedError, toSummonError } from '../../core/errors.js';
import { bearerOf } from '../auth.js';
import { auditPush } from '../guard.js';
import type { ApiContext } from '../context.js';

export function registerInternalRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d, now, gate } = c;
  // ---- artifacts for remote agents ----
  const blobVerifier = new ArtifactVerifier();
  fastify.get('/internal/blobs/:sha', { schema: { hide: true } }, async (req, reply) => {
    // Each host presents its own credential and gets only the artifacts placed on it.
    d.auth.checkAddress(req.raw);
    const given = bearerOf(req.raw);
    const host = (d.agentToken ? verifyHostCredential(d.agentToken, given) : null) ?? (await d.joined?.authenticate(given) ?? null);
    const agent = host === null ? undefined : d.agents.find((a) => a.hostId === host && a.link().state !== 'local');
    if (!agent || !d.artifactPath) {
      d.auth.failed(req.raw);
      throw new UnauthorizedError(host ? `host ${host} is not one of this control plane's agents (summon up --agent ${host}=URL)` : 'not a host credential: give the agent its own (`summon hosts:credential ID`)');
    }
    const sha = (req.params as { sha: string }).sha;
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new InvalidInputError(`not a sha256 digest: ${JSON.stringify(sha)}`);
    if (!agent.desiredSet().some((x) => x.artifactSha256 === sha || x.initrdSha256 === sha)) {
      throw new ForbiddenError(`host ${host} runs no release with artifact ${sha.slice(0, 12)}: a host fetches only the artifacts of instances placed on it`);
    }
    const path = d.artifactPath(sha);
    // Never serve a copy that is not what its digest says: the agent would refuse it anyway,
    // and this says where the damage is.
    const v = await blobVerifier.verify(path, sha);
    if (!v.ok && v.kind === 'altered') {
      throw new ConflictError(`artifact ${sha.slice(0, 12)}… is altered in the control plane's blob store (sha256 ${v.actual.slice(0, 12)}…≠${sha.slice(0, 12)}…): not served; roll the app back to an intact release or push again`, { expected: sha, actual: v.actual });
    }
    const size = await stat(path).then((s) => s.size, () => null);
    if (size === null) throw new NotFoundError('artifact', sha.slice(0, 12), 'it is not in this control plane\'s blob store');
    return reply.type('application/octet-stream').header('content-length', size).send(createReadStream(path));
  });

  // ---- hosts that join by dialing out (control/joined-hosts.ts) ----
  fastify.post('/internal/hosts/join', { schema: { hide: true } }, async (req, reply) => {
    d.auth.checkAddress(req.raw);
    if (!d.joined) throw new NotFoundError('route', 'join', 'this Summon takes no joining hosts');
    // The token goes only over the TLS the join command pins.
    if (!(req.raw.socket as { encrypted?: boolean }).encrypted) {
      throw new InvalidInputError('join over https://, with the fingerprint the join command gives (summon hosts:join-token prints it)');
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      const r = await d.joined.join(body as never);
      reply.code(201);
      return r;
    } catch (e) {
      if (e instanceof UnauthorizedError) d.auth.failed(req.raw);
      throw e;
    }
  });

  // ---- the pre-receive hook ----
  fastify.post('/internal/push', { schema: { hide: true } }, async (req, reply) => {
    d.auth.checkAddress(req.raw);
    // One credential per git request, valid while it is served (push-grants.ts): who pushed.
    const ctx = d.pushes.redeem(bearerOf(req.raw));
    if (!ctx) {
      d.auth.failed(req.raw);
      throw new UnauthorizedError('the push hook token is not valid');
    }
    const push = await parsePushRequest(req.body, { gitDirFor: (app) => d.repos.path(app) });
    if (push.app !== ctx.app) throw new ForbiddenError(`this push was authorized for ${ctx.app}, not ${push.app}`);
    reply.hijack();
    await servePushStream(reply.raw, async (out, signal) => {
      const result = await d.releases.push(push, out, signal).catch((e: unknown) => {
        void auditPush(gate, ctx, { ok: false, message: toSummonError(e).message }, now());
        throw e;
      });
      await auditPush(gate, ctx, result, now());
      return result;
    });
  });
}
