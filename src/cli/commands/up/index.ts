import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseUidRange } from '../../../isolation/uids.js';
import { Option, type Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import { parseDuration, parseSize } from '../../../core/units.js';
import { checkPrice } from '../../../core/usage.js';
import { resolveClientLimits } from '../../../router/client-limits.js';
import { clientConnectionBudget, fdReserve, parseFdLimit } from '../../../core/fd-budget.js';
import { startSummon, type SummonOptions } from '../../../server.js';
import { checkEmailOptions } from '../../../notify/email.js';
import type { Io } from '../../context.js';
import { saveLogin } from '../../login-file.js';
import { installLastResort } from '../../last-resort.js';
import { drainFlags } from '../../../drains/drain-flags.js';
import { parseLogLevel, type Logger } from '../../../logging/logger.js';
import { vmRuntimes } from '../../../runtimes/vm-runtimes.js';
import type { Confiner } from '../../../isolation/confine.js';
import { parseSubnetBase } from '../../../runtimes/tap-net.js';
import { checkHostId } from '../../../core/names.js';
import { pinnedFingerprint } from '../../../agent/agent-tls.js';
import type { Runtime } from '../../../runtimes/runtime.js';
import { LETS_ENCRYPT_DIRECTORY } from '../../../acme/issuer.js';

function port(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new SummonError('invalid_input', `--${name} must be a port number 0-65535, got ${JSON.stringify(v)}`);
  return n;
}

function emailOptions(o: Record<string, string | boolean | undefined>): Pick<SummonOptions, 'email'> {
  if (!o.smtp && !o.mailFrom && !o.mailTo) {
    if (o.smtpCa) throw new SummonError('invalid_input', '--smtp-ca is the CA of the --smtp relay: give --smtp, --mail-from and --mail-to too');
    return {};
  }
  if (!o.smtp || !o.mailFrom || !o.mailTo) throw new SummonError('invalid_input', 'email notifications need all of --smtp, --mail-from and --mail-to');
  const email = {
    smtp: String(o.smtp), from: String(o.mailFrom), to: String(o.mailTo).split(',').map((s) => s.trim()).filter(Boolean),
    ...(o.smtpCa ? { caFile: String(o.smtpCa) } : {}),
  };
  checkEmailOptions(email); // a bad URL or CA file is refused here, before anything starts
  return { email };
}

/** `--agent edge1=http://10.0.0.7:7171` */
function parseAgentFlag(v: string): { id: string; url: string } {
  const m = /^([^=]+)=(https?:\/\/.+)$/.exec(v);
  if (!m) throw new SummonError('invalid_input', `--agent must be ID=https://HOST:PORT#sha256=FINGERPRINT (what \`summon agent\` prints) or ID=http://HOST:PORT, got ${JSON.stringify(v)}`);
  checkHostId(m[1]);
  if (m[2].startsWith('https:')) {
    try {
      pinnedFingerprint(new URL(m[2]));
    } catch (e) {
      throw new SummonError('invalid_input', `--agent ${m[1]}: ${(e as Error).message}`);
    }
  }
  return { id: m[1], url: m[2] };
}

function vmRuntimesFor(subnetBase: string, network: string): (stateDir: string, confiner?: Confiner, logger?: Logger) => Promise<Runtime[]> {
  if (network !== 'auto' && network !== 'tap' && network !== 'user') {
    throw new SummonError('invalid_input', `--vm-network must be auto, tap or user, got ${network}`);
  }
  try {
    parseSubnetBase(subnetBase);
  } catch {
    throw new SummonError('invalid_input', `--vm-subnet must be the first address of a /16 like 10.201.0.0, got ${JSON.stringify(subnetBase)}`);
  }
  return (stateDir, confiner, logger) => vmRuntimes(stateDir, {
    subnetBase, network, ...(confiner ? { confiner } : {}),
    ...(logger ? { onWarn: (msg: string, data?: Record<string, unknown>) => logger.warn(data ?? {}, msg) } : {}),
  });
}

const MAX_FLAG_DURATION_MS = 24 * 3_600_000;

export function registerUp(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('up').description('start Summon on this machine: API, git endpoint, router, control plane and a local agent')
    .option('--data <dir>', 'state directory', '.summon')
    .option('--api-port <n>', 'API and git port', '7070')
    .option('--router-port <n>', 'router (app traffic) port', '8080')
    .option('--https-port <n>', 'HTTPS (app traffic, certificates from certs:add and certs:auto) port; 443 in production', '8443')
    .option('--no-https', 'no HTTPS listener')
    .option('--acme-directory <url>', `ACME directory certs:auto orders from (default Let's Encrypt's production one, ${LETS_ENCRYPT_DIRECTORY})`)
    .option('--acme-email <addr>', "the operator's address given to the ACME CA with the account (expiry and policy notices)")
    .option('--acme-ca <file>', "PEM CA trusted beside the system CAs for the ACME server's own HTTPS (a private or test CA such as pebble's)")
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--domain <d>', 'also serve apps at NAME.<domain>')
    .option('--dns-port <n>', 'run the summoning DNS server on this port')
    .option('--store <url>', 'sqlite:PATH (default DATA/summon.db) or postgres://…')
    .option('--log-level <level>', "Summon's own log on stderr (JSON lines; readable on a terminal): trace, debug, info, warn, error, fatal or silent", 'info')
    .addOption(new Option('--data-plane <kind>', 'what carries app traffic: haproxy (Debian\'s, 2.6 or later, programmed at run time), node (the built-in router) or auto (haproxy when a usable one is installed)').choices(['auto', 'haproxy', 'node']).default('auto'))
    .option('--hold-max <n>', 'requests held per app while it wakes', '100')
    .option('--hold-timeout <d>', 'longest a request is held', '30s')
    .option('--max-connections <n>', 'client connections the router keeps open at once; past it a 503 (default 10000, less where the open-file limit is lower)')
    .option('--max-connections-per-ip <n>', 'of those, from one address (an IPv6 /64)', '1000')
    .option('--header-timeout <d>', 'a client sends its request headers within this, or gets a 408', '10s')
    .option('--keepalive-timeout <d>', 'an idle client connection is closed after this', '65s')
    .option('--scale-out-window <d>', 'CPU must stay above target this long before scaling out', '1s')
    .option('--scale-in-window <d>', 'CPU must stay low this long before scaling in', '60s')
    .option('--scale-cooldown <d>', 'least time between two scaling decisions', '3s')
    .option('--log-size <size>', 'log kept per app (memory and disk), oldest lines dropped first', '4M')
    .option('--max-push-size <size>', 'largest pack a git push may send', '500M')
    .option('--max-checkout-size <size>', 'largest sum of file sizes a pushed commit may check out to', '1G')
    .option('--max-build-disk <size>', 'most a build may write into its build directory', '2G')
    .option('--no-vm', 'do not probe or offer the qemu and solo5 runtimes')
    .option('--vm-subnet <a.b.0.0>', 'the /16 from which each VM instance on a tap device gets a /30', '10.201.0.0')
    .option('--vm-network <mode>', 'VM networking when [run].network does not say: auto (tap where possible), tap or user', 'auto')
    .option('--host-lost-after <d>', 'a host unreachable this long has its instances started on other hosts', '60s')
    .option('--advertise <addr>', 'with a postgres:// store: the address the other control-plane nodes reach this one\'s API, agent and instances at (default: --host, 127.0.0.1 for 0.0.0.0)')
    .option('--node-id <id>', 'this node\'s name among the control-plane nodes of one PostgreSQL store, and its host id (default: the host name)')
    .option('--agent <id=url>', 'an agent on another host, as `summon agent` prints it: edge1=https://10.0.0.7:7171#sha256=…; repeat for more', (v: string, all: string[] = []) => [...all, v])
    .addOption(new Option('--smtp <url>', 'email operators through this SMTP relay: smtp://[USER:PASSWORD@]HOST[:PORT] (port 25, STARTTLS when offered; ' +
      'add ?starttls=required to insist; always with a password) or smtps://[USER:PASSWORD@]HOST[:PORT] (TLS from the start, port 465)').env('SUMMON_SMTP'))
    .option('--smtp-ca <file>', "PEM CA certificate the relay's certificate is verified against instead of the system CAs (a private or self-signed relay)")
    .option('--mail-from <addr>', 'sender address of notification emails')
    .option('--mail-to <list>', 'comma-separated recipients of notification emails')
    .option('--webhooks-allow-private', 'let webhooks target loopback, private, link-local and cloud-metadata addresses (refused by default)')
    .option('--drains-allow-private', 'let log drains send to loopback, private, link-local and cloud-metadata addresses (refused by default)')
    .option('--drain-ca <file>', 'PEM CA certificate(s) trusted beside the system CAs for syslog+tls:// and https:// drains (a private CA)')
    .option('--unconfined', 'run builds and process instances as Summon\'s own user, without bubblewrap, seccomp or cgroups (development only: pushed code can read Summon\'s keys)')
    .option('--uid-range <first-last>', 'the uids given to apps, one each (their builds and instances run as it)', '520000-585535')
    .option('--price-per-instance-second <n>', 'price of one instance running one second (your currency): `summon usage` shows costs with it, e.g. 0.000012')
    .option('--stop-apps-on-exit', 'stop every app\'s instances when Summon stops (by default they keep running, and serving, and the next start adopts them)')
    .option('--build-ro <dir>', 'a host directory builds see read-only (beside /usr and /etc), e.g. a shared package cache; repeat for more', (v: string, all: string[] = []) => [...all, v])
    .action((o: Record<string, string | boolean | undefined>) => run(async () => {
      const logLevel = parseLogLevel(o.logLevel);
      const duration = (flag: string, v: unknown): number => {
        const ms = parseDuration(String(v));
        if (ms === undefined) throw new SummonError('invalid_input', `--${flag} must be a duration like 500ms, 30s or 5m, got ${String(v)}`);
        // Past ~24.8 days a Node timer fires at once; no setting here needs more than a day.
        if (ms > MAX_FLAG_DURATION_MS) throw new SummonError('invalid_input', `--${flag} must be at most 24h, got ${String(v)}`);
        return ms;
      };
      const price = o.pricePerInstanceSecond !== undefined ? checkPrice(o.pricePerInstanceSecond) : undefined;
      const holdWait = duration('hold-timeout', o.holdTimeout);
      const autoscale = {
        outMs: duration('scale-out-window', o.scaleOutWindow),
        inMs: duration('scale-in-window', o.scaleInWindow),
        cooldownMs: duration('scale-cooldown', o.scaleCooldown),
      };
      const logBytes = parseSize(String(o.logSize));
      if (logBytes === undefined || logBytes < 64 * 1024) throw new SummonError('invalid_input', `--log-size must be a size of at least 64K like 512K, 4M or 1G, got ${String(o.logSize)}`);
      const size = (flag: string, v: unknown, least: number, leastText: string): number => {
        const bytes = parseSize(String(v));
        if (bytes === undefined || bytes < least) throw new SummonError('invalid_input', `--${flag} must be a size of at least ${leastText} like 100M or 2G, got ${String(v)}`);
        return bytes;
      };
      const maxPushBytes = size('max-push-size', o.maxPushSize, 1024 * 1024, '1M');
      const maxCheckoutBytes = size('max-checkout-size', o.maxCheckoutSize, 1024 * 1024, '1M');
      const maxBuildDiskBytes = size('max-build-disk', o.maxBuildDisk, 1024 * 1024, '1M');
      const holdMax = Number(o.holdMax);
      if (!Number.isInteger(holdMax) || holdMax < 0) throw new SummonError('invalid_input', `--hold-max must be a whole number, got ${String(o.holdMax)}`);
      const count = (flag: string, v: unknown): number => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new SummonError('invalid_input', `--${flag} must be a whole number of at least 1, got ${String(v)}`);
        return n;
      };
      // Client connections must fit under the open-file limit with a reserve Summon keeps for
      // health checks, spawns, the store and the API (core/fd-budget.ts).
      const fd = parseFdLimit(readFileSync('/proc/self/limits', 'utf8'));
      const budget = fd ? clientConnectionBudget(fd.soft) : 10_000;
      const maxConnections = o.maxConnections === undefined ? Math.min(10_000, budget) : count('max-connections', o.maxConnections);
      if (fd && maxConnections > budget) {
        throw new SummonError('invalid_input', `--max-connections ${maxConnections} does not fit under this process's open-file limit of ${fd.soft} ` +
          `(at most ${budget}: each client may hold an upstream connection too, and ${fdReserve(fd.soft)} are kept for Summon itself); raise \`ulimit -n\` first`);
      }
      const routerClient = {
        maxConnections,
        maxConnectionsPerAddress: count('max-connections-per-ip', o.maxConnectionsPerIp),
        headerTimeoutMs: duration('header-timeout', o.headerTimeout),
        idleTimeoutMs: duration('keepalive-timeout', o.keepaliveTimeout),
      };
      try {
        resolveClientLimits(routerClient); // the router's own ranges, checked before anything starts
      } catch (e) {
        const flags: Record<string, string> = {
          maxConnectionsPerAddress: '--max-connections-per-ip', maxConnections: '--max-connections',
          headerTimeoutMs: '--header-timeout (in ms)', idleTimeoutMs: '--keepalive-timeout (in ms)',
        };
        const m = (e as Error).message.replace(/^router: /, '').replace(/client\.(\w+)/g, (k, key: string) => flags[key] ?? k);
        throw new SummonError('invalid_input', m);
      }
      const opts: SummonOptions = {
        dataDir: String(o.data),
        apiPort: port('api-port', o.apiPort as string),
        routerPort: port('router-port', o.routerPort as string),
        httpsPort: o.https === false ? null : port('https-port', o.httpsPort as string) ?? null,
        host: String(o.host),
        ...(o.domain ? { domain: String(o.domain) } : {}),
        ...(o.dnsPort !== undefined ? { dnsPort: port('dns-port', o.dnsPort as string) } : {}),
        ...(o.store ? { storeUrl: String(o.store) } : {}),
        hold: { maxRequests: holdMax, maxWaitMs: holdWait },
        routerClient,
        autoscale,
        logBytesPerApp: logBytes,
        maxPushBytes,
        maxCheckoutBytes,
        maxBuildDiskBytes,
        ...(o.vm !== false ? { extraRuntimes: vmRuntimesFor(String(o.vmSubnet), String(o.vmNetwork)) } : {}),
        ...emailOptions(o),
        acme: acmeFlags(o),
        ...(o.webhooksAllowPrivate ? { webhooks: { allowPrivate: true } } : {}),
        ...drainFlags(o),
        hostLostAfterMs: duration('host-lost-after', o.hostLostAfter),
        ...(o.nodeId ? { nodeId: String(o.nodeId) } : {}),
        ...(o.advertise ? { advertise: String(o.advertise) } : {}),
        ...(o.agent ? { remoteAgents: (o.agent as unknown as string[]).map(parseAgentFlag) } : {}),
        log: { level: logLevel },
        ...confinementFlags(o),
        ...(price !== undefined ? { pricePerInstanceSecond: price } : {}),
        keepInstances: o.stopAppsOnExit !== true,
        dataPlane: 'process',
        dataPlaneKind: o.dataPlane as 'auto' | 'haproxy' | 'node',
      };
      const s = await startSummon(opts);
      installLastResort(io, 'summon up', s.logger);
      const file = await saveLogin({ api: s.apiUrl, token: s.token, router: s.routerUrl }, io.env);
      io.out(`Summon is up.`);
      io.out(`  API:     ${s.apiUrl}   (dashboard at ${s.apiUrl}/)`);
      io.out(`  Router:  ${s.routerUrl}   (apps at http://NAME.localhost:${new URL(s.routerUrl).port})`);
      if (s.dnsPort !== null) io.out(`  DNS:     udp+tcp ${opts.host}:${s.dnsPort}`);
      io.out(`  Token:   ${s.token}`);
      io.out(s.routerHttpsUrl ? `  HTTPS:   ${s.routerHttpsUrl}   (for the domains that have a certificate)` : '  HTTPS:   off (--no-https)');
      io.out(`  Agents:  \`summon hosts:credential ID > ID.token\` here, \`summon agent --id ID --control ${s.apiUrl} --token-file ID.token …\` on the host, then --agent ID=URL here`);
      if (s.cluster) io.out(`  Cluster: node ${s.cluster.node} of the control plane on ${s.cluster.store}; ${s.cluster.leading() ? 'leading' : 'following'} (\`summon status\`)`);
      io.out(`  Data:    ${s.dataDir}`);
      io.out(`  Data plane: ${s.dataPlane.dataPlane === 'haproxy' ? `HAProxy ${s.dataPlane.haproxy ?? ''}`.trim() : 'the Node router'} (${s.dataPlane.reason})`);
      const r = s.recovered;
      if (r.buildProcesses + r.buildDirs + r.releases > 0) {
        io.out(`Recovered from a run that stopped mid-way: ${r.releases} interrupted release(s) marked failed, ` +
          `${r.buildProcesses} build process(es) killed, ${r.buildDirs} build directory(ies) removed.`);
      }
      io.out(`Logged in: \`summon\` commands in another shell use this instance (${file}).`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          io.out(`${sig}: stopping…`);
          void s.stop().then(() => {
            io.out(opts.keepInstances
              ? 'Stopped. Apps keep running; the next `summon up` on this data directory adopts them (`--stop-apps-on-exit` stops them too).'
              : 'Stopped. Every app\'s instances and the router were stopped too (--stop-apps-on-exit).');
            resolve();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    }));
}

/** --acme-directory, --acme-email and --acme-ca, checked before anything starts. */
function acmeFlags(o: Record<string, unknown>): NonNullable<SummonOptions['acme']> {
  const directoryUrl = o.acmeDirectory === undefined ? LETS_ENCRYPT_DIRECTORY : String(o.acmeDirectory);
  let u: URL | null = null;
  try {
    u = new URL(directoryUrl);
  } catch {
    u = null;
  }
  if (!u || u.protocol !== 'https:') throw new SummonError('invalid_input', `--acme-directory must be an https:// URL of an ACME directory like ${LETS_ENCRYPT_DIRECTORY}, got ${JSON.stringify(directoryUrl)}`);
  const email = o.acmeEmail === undefined ? undefined : String(o.acmeEmail);
  if (email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new SummonError('invalid_input', `--acme-email must be an address like ops@example.com, got ${JSON.stringify(email)}`);
  let ca: string | undefined;
  if (o.acmeCa !== undefined) {
    try {
      ca = readFileSync(String(o.acmeCa), 'utf8');
    } catch (e) {
      throw new SummonError('invalid_input', `--acme-ca ${String(o.acmeCa)} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give the PEM file of the CA`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new SummonError('invalid_input', `--acme-ca ${String(o.acmeCa)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return { directoryUrl, ...(email ? { email } : {}), ...(ca ? { ca } : {}) };
}

/** --unconfined, --uid-range and --build-ro, checked before anything starts. */
function confinementFlags(o: Record<string, unknown>): Pick<SummonOptions, 'unconfined' | 'uidRange' | 'buildReadOnly'> {
  const ro = (o.buildRo as string[] | undefined) ?? [];
  for (const d of ro) {
    if (!isAbsolute(d)) throw new SummonError('invalid_input', `--build-ro needs an absolute path, got ${JSON.stringify(d)}`);
  }
  return {
    ...(o.unconfined ? { unconfined: true } : {}),
    uidRange: parseUidRange(String(o.uidRange)),
    ...(ro.length ? { buildReadOnly: ro.map((d) => resolve(d)) } : {}),
  };
}
