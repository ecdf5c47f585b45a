import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { client, parseVersion, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

const FORMATS = ['raw', 'gce'];

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('images:export [version]')
    .description('download a qemu release (default: the live one) as a bootable disk: raw, or gce (tar.gz for Google Compute Engine)')
    .addOption(appOption())
    .option('--format <f>', 'raw | gce', 'raw')
    .requiredOption('-o, --output <file>', 'where to write the image')
    .action((version: string | undefined, o: { app?: string; format: string; output: string }) => run(async () => {
      const app = await appName(io, o);
      if (!FORMATS.includes(o.format)) {
        throw new SummonError('invalid_input', `--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(o.format)}`);
      }
      const v = version ? parseVersion(version) : null;
      io.err(`Building a ${o.format} image of ${app} ${v === null ? '(live release)' : `v${v}`}…`);
      const img = await (await client(io)).exportImage(app, v, o.format as 'raw' | 'gce');
      const tmp = `${o.output}.part`;
      const file = createWriteStream(tmp);
      let got = 0;
      let shown = 0;
      const progress = (final: boolean) => {
        const pct = img.size ? ` (${Math.floor((got / img.size) * 100)}%)` : '';
        io.err(`  ${mib(got)}${img.size ? ` of ${mib(img.size)}` : ''}${pct}${final ? ' done' : ''}`);
      };
      try {
        for await (const chunk of img.body) {
          got += chunk.length;
          if (!file.write(chunk)) await once(file, 'drain');
          if (got - shown >= 16 * 1024 * 1024) {
            shown = got;
            progress(false);
          }
        }
        file.end();
        await once(file, 'finish');
        if (img.size !== null && got !== img.size) {
          throw new SummonError('internal', `the download ended after ${got} of ${img.size} bytes; try again`);
        }
        await rename(tmp, o.output);
      } catch (e) {
        file.destroy();
        await rm(tmp, { force: true });
        throw e;
      }
      progress(true);
      io.out(`Wrote ${o.output} (${img.release ?? 'release'} of ${app}, ${o.format}, ${got} bytes)`);
    }));
}
