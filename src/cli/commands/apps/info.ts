import type { Command } from 'commander';

import { client, json, type Io } from '../../context.js';
import { appName, appOption } from '../../app.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('apps:info [name]').description('show an app').addOption(appOption()).option('--json', 'machine-readable output')
    .action((name: string | undefined, o: { app?: string; json?: boolean }) => run(async () => {
      const app = await appName(io, o, name);
      const c = await client(io);
      // Advice is an extra: a Summon that cannot give it (an older one, or a node that does not
      // reconcile this app) still shows the app.
      const [a, advice] = await Promise.all([c.app(app), c.advice(app).catch(() => null)]);
      if (o.json) return json(io, { ...a, advice });
      const rows: [string, string][] = [
        ['Name', a.name], ['State', a.state], ['URL', a.url], ['Git', a.gitUrl],
        ['Live release', a.liveVersion ? `v${a.liveVersion}` : 'none (git push to deploy)'],
        ...(a.targetVersion ? [['Deploying', `v${a.targetVersion}`] as [string, string]] : []),
        ['Instances', `${a.instances.healthy} healthy of ${a.instances.total} (desired ${a.desiredCount})`],
        ['Scale', `min ${a.scale.min}, max ${a.scale.max}, target CPU ${Math.round(a.scale.targetCpu * 100)}%, idle timeout ${a.scale.idleTimeoutMs / 1000}s (${a.scalePolicySource})`],
        ['Usage today', `${a.usageSecondsToday} instance-seconds`],
        ['Created', new Date(a.createdAt).toISOString()],
      ];
      // Rightsizing, as GCE suggests a smaller machine: from what the instances used over the last day.
      if (advice) {
        rows.push(['Rightsizing', advice.items.length ? advice.items[0].reason : advice.note ?? '']);
        for (const i of advice.items.slice(1)) rows.push(['', i.reason]);
      }
      for (const [k, v] of rows) io.out(`${(k ? `${k}:` : '').padEnd(14)}${v}`);
    }));
}
