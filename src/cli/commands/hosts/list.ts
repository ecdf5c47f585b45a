import type { Command } from 'commander';
import { client, json, table, type Io } from '../../context.js';
import { formatLabels } from '../../../core/labels.js';
import { formatSize } from '../../../core/units.js';

export function register(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('hosts').description('hosts: link, labels, memory, runtimes and capabilities').option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => run(async () => {
      const hosts = await (await client(io)).hosts();
      if (o.json) return json(io, hosts);
      const rows = hosts.flatMap((h): Record<string, unknown>[] => {
        const link = `${h.link === 'unreachable' ? `unreachable${h.error ? ` (${h.error})` : ''}` : h.link}${h.joined ? ' (joined)' : ''}${h.draining ? ', draining' : ''}`;
        const labels = formatLabels(h.labels ?? {});
        const memory = h.memoryBytes ? formatSize(h.memoryBytes) : null;
        const dataPlane = h.dataPlane ?? null;
        if (h.runtimes.length === 0) return [{ host: h.id, address: h.address, link, 'data plane': dataPlane, labels, memory, instances: h.instances, runtime: null, available: null, accel: null, arches: null, detail: null }];
        return h.runtimes.map((r) => ({
          host: h.id, address: h.address, link, 'data plane': dataPlane, labels, memory, instances: h.instances, runtime: r.target,
          available: r.available ? 'yes' : 'no', accel: r.accel ?? null,
          // e.g. "x86_64 (emulated), aarch64 (emulated)": what [run].arch may ask of this host.
          arches: r.arches?.length ? r.arches.map((a) => `${a.arch} (${a.native ? 'native' : 'emulated'})`).join(', ') : null,
          detail: r.reason,
        }));
      });
      io.out(table(rows, ['host', 'address', 'link', 'data plane', 'labels', 'memory', 'instances', 'runtime', 'available', 'accel', 'arches', 'detail']));
    }));
}
