import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import type { Io } from '../../context.js';
import { SummonError } from '../../../core/errors.js';
import { startAgentNode } from '../../../agent-node.js';
import { installLastResort } from '../../last-resort.js';
import { parseLogLevel } from '../../../logging/logger.js';
import { parseUidRange } from '../../../isolation/uids.js';

/** `summon agent`: this host's agent, for a control plane on another host (`summon up --agent`). */
export function registerAgent(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('agent').description('run this host\'s agent for a control plane elsewhere: `--join URL --token JOIN` dials out to it (from `summon hosts:join-token`); or, dialed into, `--control URL --advertise ADDR` (then `summon up --agent ID=URL` there)')
    .option('--join <url>', 'join the control plane at https://HOST:PORT#sha256=FINGERPRINT by dialing out (what `summon hosts:join-token` prints); no port is opened on this host')
    .option('--control <url>', 'dialed into: the control plane\'s API URL (artifacts come from there)')
    .option('--advertise <addr>', 'dialed into: the address the control plane\'s router reaches this host at')
    .option('--id <id>', 'this host\'s id (default: the host name)')
    .option('--listen <host:port>', 'where the agent protocol listens', '0.0.0.0:7171')
    .option('--token <t>', 'with --join: the join token (needed the first time only); dialed into: this host\'s credential, from `summon hosts:credential ID` (or SUMMON_AGENT_TOKEN)')
    .option('--token-file <file>', 'read this host\'s credential from a file (`summon hosts:credential ID > FILE` on the control plane)')
    .option('--data <dir>', 'state directory: desired set, artifacts, instance files', '.summon-agent')
    .option('--no-vm', 'do not probe or offer the qemu runtime')
    .option('--unconfined', 'run process instances as this agent\'s own user, without bubblewrap, seccomp or cgroups (development only)')
    .option('--uid-range <first-last>', 'the uids given to apps on this host, one each', '520000-585535')
    .option('--no-tls', 'serve the agent protocol over plain HTTP (default: TLS with a self-signed certificate the control plane pins)')
    .option('--log-level <level>', "this host's own log on stderr (JSON lines; readable on a terminal): trace, debug, info, warn, error, fatal or silent", 'info')
    .action((o: Record<string, string | boolean | undefined>) => run(async () => {
      const logLevel = parseLogLevel(o.logLevel);
      if (o.join) {
        let revokedWhy: string | null = null;
        let wake: () => void = () => undefined;
        const node = await startAgentNode({
          ...(o.id ? { id: String(o.id) } : {}), dataDir: String(o.data), listenHost: '127.0.0.1', listenPort: 0,
          advertise: o.advertise ? String(o.advertise) : '', controlUrl: '', token: '',
          join: { url: String(o.join), ...(o.token ? { token: String(o.token) } : io.env.SUMMON_JOIN_TOKEN ? { token: io.env.SUMMON_JOIN_TOKEN } : {}) },
          vm: o.vm !== false, ...(o.unconfined ? { unconfined: true } : {}), uidRange: parseUidRange(String(o.uidRange)),
          log: { level: logLevel },
          onRevoked: (why) => {
            revokedWhy = why;
            wake();
          },
        });
        installLastResort(io, 'summon agent', node.logger);
        io.out(`Agent ${node.hostId} joined ${node.url}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          const stop = (sig: string) => {
            io.out(`${sig}: stopping its instances (the desired set stays on disk: the next start resumes it)…`);
            resolve();
          };
          process.once('SIGINT', () => stop('SIGINT'));
          process.once('SIGTERM', () => stop('SIGTERM'));
        });
        await node.stop();
        if (revokedWhy !== null) throw new SummonError('unauthorized', `this host was removed from the control plane (${revokedWhy}); its instances are stopped. To join again: a new \`summon hosts:join-token\` there, and another --data here`);
        return;
      }
      if (!o.control || !o.advertise) throw new SummonError('invalid_input', 'give --join URL --token JOIN (from `summon hosts:join-token` on the control plane: this host dials out), or --control URL and --advertise ADDR (the control plane dials in, with `summon up --agent ID=URL`)');
      const token = (o.token as string | undefined) ?? (o.tokenFile ? (await readFile(String(o.tokenFile), 'utf8')).trim() : io.env.SUMMON_AGENT_TOKEN);
      if (!token) throw new SummonError('invalid_input', 'the agent needs this host\'s credential (`summon hosts:credential ID` on the control plane): --token-file, --token or SUMMON_AGENT_TOKEN');
      const m = /^(.+):(\d+)$/.exec(String(o.listen));
      if (!m || Number(m[2]) > 65535) throw new SummonError('invalid_input', `--listen must be HOST:PORT, got ${JSON.stringify(o.listen)}`);
      const node = await startAgentNode({
        ...(o.id ? { id: String(o.id) } : {}), dataDir: String(o.data), listenHost: m[1], listenPort: Number(m[2]),
        advertise: String(o.advertise), controlUrl: String(o.control), token, vm: o.vm !== false, tls: o.tls !== false,
        ...(o.unconfined ? { unconfined: true } : {}), uidRange: parseUidRange(String(o.uidRange)),
        log: { level: logLevel },
      });
      installLastResort(io, 'summon agent', node.logger);
      io.out(`Agent ${node.hostId} is up at ${node.url}`);
      io.out(`  On the control plane: summon up … --agent ${node.hostId}=${node.url}`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          io.out(`${sig}: stopping its instances (the desired set stays on disk: the next start resumes it)…`);
          void node.stop().then(() => resolve());
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    }));
}
