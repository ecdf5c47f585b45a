import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { client, json, table, type Io } from '../../context.js';

export function registerApps(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('apps').description('list apps').option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => run(async () => {
      const apps = await (await client(io)).apps();
      if (o.json) return json(io, apps);
      if (!apps.length) return io.out('No apps yet. Create one with `summon apps:create NAME`.');
      io.out(table(apps.map((a) => ({ name: a.name, state: a.state, release: a.liveVersion ? `v${a.liveVersion}` : '-', instances: `${a.instances.healthy}/${a.desiredCount}`, url: a.url })), ['name', 'state', 'release', 'instances', 'url']));
    }));

  program.command('apps:create <name>').description('create an app and print its git remote')
    .option('--json', 'machine-readable output')
    .action((name: string, o: { json?: boolean }) => run(async () => {
      const a = await (await client(io)).createApp(name);
      if (o.json) return json(io, a);
      io.out(`Created ${a.name}.`);
      io.out(`Git remote: ${a.gitUrl}`);
      io.out(`  git remote add summon ${a.gitUrl}`);
      io.out(`  git push summon main`);
      io.out(`Authenticate with any user name and your API token as the password (\`summon auth:token\`),`);
      io.out(`e.g. git -c credential.helper= -c http.extraHeader="Authorization: Bearer $(summon auth:token)" push summon main`);
      io.out(`App URL: ${a.url}`);
    }));

  program.command('apps:info').description('show an app').requiredOption('-a, --app <name>', 'app name').option('--json', 'machine-readable output')
    .action((o: { app: string; json?: boolean }) => run(async () => {
      const a = await (await client(io)).app(o.app);
      if (o.json) return json(io, a);
      const rows: [string, string][] = [
        ['Name', a.name], ['State', a.state], ['URL', a.url], ['Git', a.gitUrl],
        ['Live release', a.liveVersion ? `v${a.liveVersion}` : 'none (git push to deploy)'],
        ...(a.targetVersion ? [['Deploying', `v${a.targetVersion}`] as [string, string]] : []),
        ['Instances', `${a.instances.healthy} healthy of ${a.instances.total} (desired ${a.desiredCount})`],
        ['Scale', `min ${a.scale.min}, max ${a.scale.max}, target CPU ${Math.round(a.scale.targetCpu * 100)}%, idle timeout ${a.scale.idleTimeoutMs / 1000}s (${a.scalePolicySource})`],
        ['Usage today', `${a.usageSecondsToday} instance-seconds`],
        ['Created', new Date(a.createdAt).toISOString()],
      ];
      for (const [k, v] of rows) io.out(`${`${k}:`.padEnd(14)}${v}`);
    }));

  program.command('apps:destroy <name>').description('stop an app and remove all its data')
    .option('--confirm <name>', 'repeat the app name to confirm')
    .action((name: string, o: { confirm?: string }) => run(async () => {
      if (o.confirm !== name) throw new SummonError('invalid_input', `this removes ${name} and all its releases, config and logs: repeat the name with --confirm ${name}`);
      await (await client(io)).destroyApp(name);
      io.out(`Destroyed ${name}.`);
    }));
}
