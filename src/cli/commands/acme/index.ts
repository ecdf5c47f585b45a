import type { Command } from 'commander';
import { actionOut, client, jsonOption, streamedResult, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';
import type { AcmeStatus } from '../../../sdk/client.js';

function describe(s: AcmeStatus): string[] {
  const when = (ms: number) => new Date(ms).toISOString();
  const lines = [`certs:auto is ${s.enabled ? 'on' : 'off'} for ${s.app} (ACME directory ${s.directoryUrl})`];
  lines.push(`  domains:     ${s.domains.join(', ') || '(none: summon domains:add)'}`);
  if (s.cert) lines.push(`  certificate: ${s.cert.id.slice(0, 12)}, valid until ${when(s.cert.notAfter)}, renewed from ${when(s.cert.renewAt)}`);
  if (s.nextOrderAt !== null) lines.push(`  next order:  ${when(s.nextOrderAt)}`);
  if (s.failures > 0) lines.push(`  failed:      ${s.failures} time(s) in a row; last: ${s.lastError ?? '?'}`);
  return lines;
}

/** `summon certs:auto -a APP [--off | --status]`: certificates for the app's custom domains over ACME. */
export function registerAcme(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('certs:auto').description("obtain and renew certificates for the app's custom domains over ACME (HTTP-01), or --off")
    .addOption(appOption()).addOption(jsonOption())
    .option('--off', 'stop obtaining and renewing (certificates already obtained keep serving until removed or expired)')
    .option('--status', 'say whether it is on, the certificate and the next order, and change nothing')
    .action((o: { app?: string; json?: boolean; off?: boolean; status?: boolean }) => run(async () => {
      const app = await appName(io, o);
      const out = actionOut(io, o);
      const sdk = await client(io);
      if (o.status || o.off) {
        const s = o.off ? await sdk.acmeOff(app) : await sdk.acmeStatus(app);
        out.done(s, () => {
          if (o.off) io.out(`certs:auto is off for ${app}: no more orders or renewals; its certificates keep serving until they expire or \`summon certs:remove\`.`);
          else for (const l of describe(s)) io.out(l);
        });
        return;
      }
      const r = await sdk.acmeOn(app, (l) => out.line(`-----> ${l}`));
      out.done({ app, ...streamedResult(r) }, () => {
        io.out(String(r.message ?? `certs:auto is on for ${app}.`));
        const s = r.status as AcmeStatus | undefined;
        if (s?.nextOrderAt != null) io.out(`Renewal from ${new Date(s.nextOrderAt).toISOString()}, by Summon (nothing to schedule).`);
      });
    }));
}
