import type { Command } from 'commander';
import { client, json, table, type Io } from '../../context.js';

/** `summon status`: the control-plane nodes, which one leads and since when, and the store. */
export function registerStatus(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('status').description('the control plane: its nodes, which one leads and since when, and the store').option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => run(async () => {
      const c = await (await client(io)).cluster();
      if (o.json) return json(io, c);
      io.out(`Store:   ${c.store}`);
      if (c.lease === null) {
        io.out(`Leader:  ${c.node} (one node: SQLite is one machine; several nodes need --store postgres://…)`);
        return;
      }
      io.out(c.leader
        ? `Leader:  ${c.leader.node} since ${new Date(c.leader.since).toISOString()} (epoch ${c.leader.epoch}; lease ${c.lease.ttlMs / 1000}s, renewed every ${c.lease.renewMs / 1000}s)`
        : `Leader:  none right now (a failover is under way: another node takes the lease within ${c.lease.ttlMs / 1000}s)`);
      io.out(`Answered by: ${c.node}`);
      io.out(table(c.nodes.map((n) => ({
        node: n.id, role: n.leader ? 'leader' : 'follower', up: n.up ? 'yes' : 'no', api: n.api, router: n.router, version: n.version,
        started: new Date(n.startedAt).toISOString(), seen: new Date(n.seenAt).toISOString(),
      })), ['node', 'role', 'up', 'api', 'router', 'version', 'started', 'seen']));
    }));
}
