import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MAX_CERT_PEM_BYTES, MAX_KEY_PEM_BYTES } from '../../../core/certs.js';
import { InvalidInputError } from '../../../core/errors.js';
import { actionOut, client, json, jsonOption, table, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

/** A PEM file, sized before it is read. */
async function pemFile(io: Io, flag: string, file: string | undefined, max: number): Promise<string> {
  if (!file) throw new InvalidInputError(`give ${flag} FILE (PEM)`);
  const path = resolve(io.cwd ?? process.cwd(), file);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new InvalidInputError(`${flag} ${file} is not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof InvalidInputError) throw e;
    throw new InvalidInputError(`cannot read ${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size > max) throw new InvalidInputError(`${flag} ${file} is ${size} bytes, more than the ${max / 1024}K it may be`);
  return readFile(path, 'utf8');
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** `certs`, `certs:add`, `certs:remove` (as `heroku certs`). */
export function registerCerts(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('certs').description("list an app's certificates: the domains each covers, its issuer, expiry and source")
    .addOption(appOption()).option('--json', 'machine-readable output')
    .action((o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const list = await (await client(io)).certs(app);
      if (o.json) return json(io, list);
      if (!list.length) {
        io.out(`${app} has no certificates. Add one: summon certs:add -a ${app} --cert cert.pem --key key.pem`);
        return;
      }
      const now = Date.now();
      io.out(table(list.map((c) => ({
        id: c.id.slice(0, 16), domains: c.domains.join(', ') || `none (names ${c.hosts.join(', ')})`, issuer: c.issuer,
        expires: `${day(c.notAfter)}${c.notAfter < now ? ' (expired)' : ''}`, source: c.source,
      })), ['id', 'domains', 'issuer', 'expires', 'source']));
    }));

  program.command('certs:add')
    .description('add a certificate (PEM, with its chain) and its private key; it must match the key, be valid now and cover a domain of the app')
    .addOption(appOption()).option('--cert <file>', 'the certificate, PEM (the leaf and its chain, in any order)').option('--key <file>', 'its private key, PEM (unencrypted; stored encrypted)')
    .option('--json', 'machine-readable output')
    .action((o: { app?: string; cert?: string; key?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const cert = await pemFile(io, '--cert', o.cert, MAX_CERT_PEM_BYTES);
      const key = await pemFile(io, '--key', o.key, MAX_KEY_PEM_BYTES);
      const c = await (await client(io)).addCert(app, cert, key);
      if (o.json) return json(io, c);
      io.out(`Added certificate ${c.id.slice(0, 16)} to ${app}: ${c.domains.join(', ')}, issued by ${c.issuer}, expires ${day(c.notAfter)}.`);
    }));

  program.command('certs:remove <id>').description('remove a certificate by its id (the first 8 characters or more, as `summon certs` shows)')
    .addOption(appOption()).addOption(jsonOption())
    .action((id: string, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o);
      await (await client(io)).removeCert(app, id);
      actionOut(io, o).done({ app, id, removed: true }, () => io.out(`Removed certificate ${id} from ${app}.`));
    }));
}
