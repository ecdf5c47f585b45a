// `summon deploy`: releases an artifact built elsewhere (a CI job), with its summon.toml, through
// the same checks and rollout as a push. The files are hashed here, uploaded by their sha256
// (the server checks it before storing), and the release streams its progress.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import type { Command } from 'commander';
import { sha256File } from '../../../artifacts/verify.js';
import { SummonError } from '../../../core/errors.js';
import { MAX_MANIFEST_BYTES } from '../../../core/manifest.js';
import { actionOut, client, jsonOption, streamedResult, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerDeploy(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('deploy').description('release an artifact built elsewhere (a CI job): upload it and roll it out like a push')
    .addOption(appOption())
    .requiredOption('--artifact <file>', 'the artifact, as [build].artifact names it')
    .option('--initrd <file>', 'the initrd, when summon.toml has [run].initrd')
    .option('--manifest <file>', 'the summon.toml to release it with', 'summon.toml')
    .option('--commit <sha>', 'the commit it was built from (recorded as declared)')
    .option('--declare <key=value>', 'anything else to record about the build (repeatable), e.g. ci.run=1234', collect, [])
    .addOption(jsonOption())
    .action((o: { app?: string; artifact: string; initrd?: string; manifest: string; commit?: string; declare: string[]; json?: boolean }) => run(async () => {
      const out = actionOut(io, o);
      const app = await appName(io, o);
      const declared: Record<string, string> = {};
      for (const kv of o.declare) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new SummonError('invalid_input', `--declare takes key=value, got ${JSON.stringify(kv)}`);
        declared[kv.slice(0, i)] = kv.slice(i + 1);
      }
      if (o.commit) {
        if (!/^[0-9a-f]{7,64}$/.test(o.commit)) throw new SummonError('invalid_input', `--commit must be a hex commit id, got ${JSON.stringify(o.commit)}`);
        declared.commit = o.commit;
      }
      const size = async (f: string, what: string) => {
        const s = await stat(f).catch(() => null);
        if (!s?.isFile()) throw new SummonError('invalid_input', `${what} ${f} is not a file`);
        return s.size;
      };
      const manifestBytes = await size(o.manifest, '--manifest');
      if (manifestBytes > MAX_MANIFEST_BYTES) throw new SummonError('invalid_manifest', `${o.manifest} is ${manifestBytes} bytes; a summon.toml is at most ${MAX_MANIFEST_BYTES}`);
      const manifest = await readFile(o.manifest, 'utf8');
      const c = await client(io);
      const send = async (file: string, what: string): Promise<string> => {
        const bytes = await size(file, what);
        const sha256 = await sha256File(file);
        out.line(`-----> Uploading ${what.replace(/^--/, '')} ${file} (${bytes} bytes, sha256 ${sha256.slice(0, 12)}…)`);
        let sent = 0;
        let shown = 0;
        const progress = new Transform({
          transform(chunk: Buffer, _e, next) {
            sent += chunk.length;
            // A line per quarter on big files; nothing more on small ones.
            if (bytes > 8 * 1024 * 1024 && sent - shown >= bytes / 4) {
              shown = sent;
              out.line(`       ${Math.round((100 * sent) / bytes)}%`);
            }
            next(null, chunk);
          },
        });
        const body = Readable.toWeb(createReadStream(file).pipe(progress)) as ReadableStream<Uint8Array>;
        const r = await c.upload(app, sha256, bytes, body);
        return r.sha256;
      };
      const artifact = await send(o.artifact, '--artifact');
      const initrd = o.initrd ? await send(o.initrd, '--initrd') : undefined;
      const r = await c.deploy(app, { manifest, artifact, ...(initrd ? { initrd } : {}), declared }, out.line);
      out.done({ app, artifact, ...(initrd ? { initrd } : {}), ...streamedResult(r) }, () => {});
    }));
}
