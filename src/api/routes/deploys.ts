// CI deploys (`summon deploy`): an artifact built elsewhere is uploaded by its sha256 (streamed
// to disk, size-limited before a byte is read, the digest checked before it is stored), then
// released with its summon.toml through the same checks and rollout as a push.
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ConflictError, InvalidInputError } from '../../core/errors.js';
import { formatSize } from '../../core/units.js';
import { principalOf } from '../guard.js';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';

/** The largest artifact (or initrd) an upload may be. */
export const MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;

export function registerDeployRoutes(fastify: FastifyInstance, c: ApiContext): void {
  const { d, appParam, requireApp, streamed } = c;
  // The body is the file itself, streamed: handed to the route unread.
  fastify.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  route(fastify, 'upload', async (req) => {
    const name = appParam(req);
    await requireApp(name);
    if (!d.blobs || !d.uploadDir) throw new ConflictError('this Summon takes no uploads');
    const max = d.maxUploadBytes ?? MAX_UPLOAD_BYTES;
    const length = Number(req.headers['content-length']);
    if (!Number.isInteger(length) || length < 0) throw new InvalidInputError('an upload needs its Content-Length (the file\'s size in bytes), sent before the file');
    if (length > max) throw new InvalidInputError(`the file is ${formatSize(length)}; an upload is at most ${formatSize(max)}`, { limit: max });
    if (req.headers['content-type'] !== 'application/octet-stream') throw new InvalidInputError('an upload is the file itself, sent as Content-Type: application/octet-stream');
    await mkdir(d.uploadDir, { recursive: true, mode: 0o700 });
    const tmp = join(d.uploadDir, `${name}-${randomBytes(6).toString('hex')}`);
    let seen = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, next) {
        seen += chunk.length;
        next(seen > length ? new InvalidInputError(`the body is longer than its Content-Length of ${length} bytes`) : null, chunk);
      },
    });
    try {
      await pipeline(req.body as NodeJS.ReadableStream, count, createWriteStream(tmp, { mode: 0o600 }));
      if (seen !== length) throw new InvalidInputError(`the upload ended after ${seen} of its ${length} bytes: send it again`);
      const stored = await d.blobs.put(tmp, { expect: req.params.sha256 });
      return { sha256: stored.sha256, size: stored.size };
    } finally {
      await rm(tmp, { force: true });
    }
  });

  route(fastify, 'deploy', async (req, reply) => {
    const name = appParam(req);
    await requireApp(name);
    const p = principalOf(req);
    return streamed(reply, async (out) => {
      const r = await d.releases.deployUpload(name, {
        manifest: req.body.manifest, artifact: req.body.artifact, ...(req.body.initrd ? { initrd: req.body.initrd } : {}),
        declared: req.body.declared ?? {}, by: p.user.email, tokenId: p.token.id,
      }, out);
      return { ok: r.ok, message: r.message, version: r.version };
    });
  });
}
