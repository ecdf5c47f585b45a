// GET /api/apps/:app/image and /api/apps/:app/releases/:version/image?format=raw|gce: a
// release of the qemu target as a bootable disk to run elsewhere. The disk is built from the
// release's own kernel, initrd and command line (its config vars, SUMMON_* and a serial
// console), exactly what the qemu runtime boots, then streamed and deleted: it holds the
// config vars, so it is never kept on the server.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { route } from '../route.js';
import { releaseVersion } from '../params.js';
import { buildBootableDisk, exportGceImage } from '../../artifacts/disk-image.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../core/errors.js';
import { checkAppName } from '../../core/names.js';
import type { Release } from '../../core/types.js';
import type { Secrets } from '../../control/secrets.js';
import { detectImage } from '../../runtimes/qemu/image-kind.js';
import { buildKernelCmdline, MAX_CMDLINE } from '../../runtimes/qemu/kernel-cmdline.js';
import type { Store } from '../../store/store.js';

export type ImageFormat = 'raw' | 'gce';
export const IMAGE_FORMATS: readonly ImageFormat[] = ['raw', 'gce'];

export interface ImageRouteDeps {
  store: Store;
  secrets: Secrets;
  /** The blob store path of an artifact (kernel, initrd). */
  artifactPath: (sha256: string) => string;
  /** Where images are built before they are streamed (default: the system temp directory). */
  workDir?: string;
}

/** The kernel command line a disk of `release` boots with: what the qemu runtime would pass. */
export function imageCmdline(release: Release, config: Record<string, string>): string {
  const m = release.manifest!;
  const port = String(m.run.port);
  let line = buildKernelCmdline({
    base: ['console=ttyS0', 'panic=1'],
    ...(m.run.cmdline ? { extra: m.run.cmdline } : {}),
    env: { ...config, PORT: port, SUMMON_APP: release.app, SUMMON_RELEASE: `v${release.version}`, SUMMON_INSTANCE: `${release.app}-v${release.version}-disk` },
  });
  if (m.run.args.length > 0) {
    const words = m.run.args.map((a) => a.replaceAll('{port}', port));
    for (const w of words) {
      if (!/^[!#-&(-[\]-~]+$/.test(w)) {
        throw new InvalidInputError(`[run].args word ${JSON.stringify(w)} cannot be passed on a kernel command line: no spaces, quotes or backslashes`);
      }
    }
    line = `${line} -- ${words.join(' ')}`;
    if (line.length > MAX_CMDLINE) throw new InvalidInputError(`the kernel command line would be ${line.length} bytes, more than Linux accepts (${MAX_CMDLINE}): shorten [run].args`);
  }
  return line;
}

export function registerImageRoutes(fastify: FastifyInstance, d: ImageRouteDeps): void {
  const handler = async (req: { params: { app: string; version?: string }; query: { format?: string } }, reply: FastifyReply) => {
    const app = checkAppName(req.params.app);
    const format = parseFormat(req.query.format);
    const release = await pickRelease(d.store, app, req.params.version);
    const m = release.manifest;
    if (!m || !release.artifactSha256) {
      throw new ConflictError(`v${release.version} of ${app} never built an artifact (status ${release.status}); pick another release`);
    }
    if (m.run.target !== 'qemu') {
      throw new ConflictError(`images:export needs a VM release (target qemu with a kernel artifact); v${release.version} of ${app} runs target ${m.run.target}`);
    }
    const artifact = d.artifactPath(release.artifactSha256);
    const { kind, arch } = await detectImage(artifact);
    if (arch !== 'x86_64') throw new ConflictError(`images:export makes an x86 BIOS disk (syslinux); v${release.version} of ${app} is an ${arch} kernel, which it cannot boot`);
    const dir = await mkdtemp(join(d.workDir ?? tmpdir(), 'summon-image-'));
    const cleanup = () => void rm(dir, { recursive: true, force: true });
    let file: string;
    try {
      let raw = artifact; // a disk artifact already boots on its own
      if (kind === 'kernel') {
        raw = join(dir, 'disk.raw');
        await buildBootableDisk({
          kernel: artifact,
          ...(release.initrdSha256 ? { initrd: d.artifactPath(release.initrdSha256) } : {}),
          cmdline: imageCmdline(release, d.secrets.decrypt(release.configCipher)),
          out: raw,
        });
      }
      file = raw;
      if (format === 'gce') {
        file = join(dir, 'image.tar.gz');
        await exportGceImage(raw, file);
      }
    } catch (e) {
      cleanup();
      throw e;
    }
    const size = (await stat(file)).size;
    const name = `${app}-v${release.version}${format === 'gce' ? '.tar.gz' : '.raw'}`;
    const stream = createReadStream(file);
    stream.once('close', cleanup);
    reply.raw.once('close', () => stream.destroy());
    return reply
      .header('content-type', format === 'gce' ? 'application/gzip' : 'application/octet-stream')
      .header('content-length', String(size))
      .header('content-disposition', `attachment; filename="${name}"`)
      .header('x-summon-release', `v${release.version}`)
      .send(stream);
  };
  route(fastify, 'liveImage', handler);
  route(fastify, 'releaseImage', handler);
}

function parseFormat(v: string | undefined): ImageFormat {
  const f = v ?? 'raw';
  if (!(IMAGE_FORMATS as readonly string[]).includes(f)) {
    throw new InvalidInputError(`format must be one of ${IMAGE_FORMATS.join(', ')} (raw: a bootable disk; gce: a tar.gz for Google Compute Engine), got ${JSON.stringify(f)}`);
  }
  return f as ImageFormat;
}

async function pickRelease(store: Store, app: string, version: string | undefined): Promise<Release> {
  const a = await store.getApp(app);
  if (!a) throw new NotFoundError('app', app, 'see `summon apps`');
  let v: number;
  if (version === undefined) {
    if (a.liveVersion === null) throw new ConflictError(`${app} has no live release: git push first, or name a release (vN)`);
    v = a.liveVersion;
  } else {
    v = releaseVersion(version);
  }
  const r = await store.getRelease(app, v);
  if (!r) throw new NotFoundError('release', `v${v}`, `see \`summon releases -a ${app}\``);
  return r;
}
