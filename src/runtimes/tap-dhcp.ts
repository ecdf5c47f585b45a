// DHCP for guests on tap devices: a guest whose image takes its address by DHCP (a MirageOS
// unikernel built with --dhcp=true, a cloud image) works on its tap with no change, and gets
// the same /30 address and gateway a static guest reads from SUMMON_ADDR or {ip}/{gateway}.
//
// One dnsmasq (Debian's dnsmasq-base) per tap, started when the tap is made and stopped before
// it is deleted: with a single --interface and --bind-interfaces, dnsmasq binds its DHCP
// socket to that device (SO_BINDTODEVICE), as libvirt runs one per network, so the servers
// of several taps, and of several Summons on one host, never answer for each other. Each
// serves one static lease (the slot's fixed MAC → its guest address, never expiring) and no
// DNS (--port=0). It runs supervised: restarted with backoff if it dies, stopped by its own
// pid when the tap goes or Summon exits, and its pid file in DATA lets the next start stop
// one that a SIGKILLed Summon left behind. Its log (stderr, one line per packet) is what
// Summon saw of the guest's DHCP: the diagnosis of a guest that never answers reads it.
//
//   serve(tap) ─► spawn ─► "sockets bound" (ready) ─► DHCPDISCOVER/OFFER/REQUEST/ACK seen
//                   ▲            └── exits on its own ─► [backoff] ─┘
//   stop(tap) ─► SIGTERM (SIGKILL after 2 s) ─► pid file removed
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { forEachLine } from './line-splitter.js';
import type { TapNetwork } from './tap-net.js';

/** The DHCP packets dnsmasq logs, by the words it uses. */
export type DhcpPacket = 'discover' | 'offer' | 'request' | 'ack' | 'nak' | 'decline' | 'release' | 'inform';

/** What the tap's DHCP server saw: when each packet type was last logged (ms since the epoch). */
export interface DhcpSeen {
  /** Whether a DHCP server runs for this tap; why not when it does not. */
  served: boolean;
  reason?: string;
  packets: Partial<Record<DhcpPacket, number>>;
  /** The address of the last OFFER or ACK. */
  address?: string;
  /** dnsmasq's own last words when it failed (bind errors, bad options). */
  error?: string;
}

export interface TapDhcpOptions {
  /** DATA/dhcp: each tap's pid file and lease file. */
  dir: string;
  binary?: string;
  /** First restart delay after dnsmasq dies on its own (doubles, capped at 10 s). */
  restartDelayMs?: number;
  /** Summon's log: a server that died and was restarted, one that cannot start. */
  onWarn?: (msg: string, data?: Record<string, unknown>) => void;
}

const PACKET_RE = /\bDHCP(DISCOVER|OFFER|REQUEST|ACK|NAK|DECLINE|RELEASE|INFORM)\(([^)]+)\)(?:\s+(\d+\.\d+\.\d+\.\d+))?(?:\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5}))?/i;

/** One line of dnsmasq's log, when it reports a DHCP packet: `DHCPACK(smn0005) 10.201.0.22 02:53:4d:00:00:05`. */
export function parseDhcpLine(line: string): { packet: DhcpPacket; iface: string; address?: string; mac?: string } | undefined {
  const m = PACKET_RE.exec(line);
  if (!m) return undefined;
  return {
    packet: m[1].toLowerCase() as DhcpPacket, iface: m[2],
    ...(m[3] ? { address: m[3] } : {}), ...(m[4] ? { mac: m[4].toLowerCase() } : {}),
  };
}

/** dnsmasq's argv for one tap: DHCP only, one static never-expiring lease, scoped to the tap. */
export function dnsmasqArgs(net: Pick<TapNetwork, 'tap' | 'hostAddress' | 'guestAddress' | 'mac' | 'prefix'>, dir: string): string[] {
  const mask = prefixMask(net.prefix);
  return [
    '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
    '--bind-interfaces', `--interface=${net.tap}`,
    `--dhcp-range=${net.guestAddress},static,${mask}`,
    `--dhcp-host=${net.mac},${net.guestAddress},infinite`,
    `--dhcp-option=option:router,${net.hostAddress}`,
    // Answers a guest that asks for an address it remembers from another boot at once.
    '--dhcp-authoritative',
    `--dhcp-leasefile=${join(dir, `${net.tap}.leases`)}`,
    `--pid-file=${pidFile(dir, net.tap)}`,
    '--log-facility=-',
  ];
}

function prefixMask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

function pidFile(dir: string, tap: string): string {
  return join(dir, `${tap}.pid`);
}

interface Served {
  net: TapNetwork;
  child: ChildProcess | null;
  seen: DhcpSeen;
  stopping: boolean;
  restarts: number;
  startedAt: number;
  timer: NodeJS.Timeout | null;
  ready: Promise<void>;
  markReady: () => void;
  exited: Promise<void>;
}

export class TapDhcp {
  private readonly dir: string;
  private readonly binary: string;
  private readonly restartDelayMs: number;
  private readonly onWarn: (msg: string, data?: Record<string, unknown>) => void;
  private readonly served = new Map<string, Served>();
  private cap: Promise<{ ok: boolean; reason: string }> | undefined;
  private exitHook: (() => void) | undefined;

  constructor(opts: TapDhcpOptions) {
    if (!opts?.dir) throw new Error('TapDhcp: dir is required');
    this.dir = opts.dir;
    this.binary = opts.binary ?? 'dnsmasq';
    this.restartDelayMs = opts.restartDelayMs ?? 250;
    this.onWarn = opts.onWarn ?? (() => {});
  }

  /** Whether dnsmasq runs here (checked once). */
  capability(): Promise<{ ok: boolean; reason: string }> {
    this.cap ??= new Promise((resolve) => {
      execFile(this.binary, ['--version'], { timeout: 10_000 }, (err, stdout) => {
        if (err) resolve({ ok: false, reason: `no DHCP for DHCP guests: ${this.binary} not found (apt-get install dnsmasq-base)` });
        else resolve({ ok: true, reason: `DHCP served by dnsmasq ${/version (\S+)/.exec(stdout)?.[1] ?? ''}`.trim() });
      });
    });
    return this.cap;
  }

  /** Starts the tap's DHCP server (not awaited by the caller: a guest asks long after). */
  async serve(net: TapNetwork): Promise<void> {
    if (this.served.has(net.tap)) return this.served.get(net.tap)!.ready;
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    const s: Served = {
      net, child: null, seen: { served: false, packets: {} }, stopping: false, restarts: 0, startedAt: 0, timer: null,
      ready, markReady, exited: Promise.resolve(),
    };
    this.served.set(net.tap, s);
    const cap = await this.capability();
    if (!cap.ok) {
      s.seen.reason = cap.reason;
      markReady();
      return ready;
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (s.stopping) {
      markReady();
      return ready;
    }
    this.hookExit();
    this.run(s);
    return ready;
  }

  /** Resolves once the server for `tap` has bound its socket (or could not run). */
  ready(tap: string): Promise<void> {
    return this.served.get(tap)?.ready ?? Promise.resolve();
  }

  /** What the tap's server saw; undefined for a tap it was never asked to serve. */
  seen(tap: string): DhcpSeen | undefined {
    const s = this.served.get(tap);
    return s ? { ...s.seen, packets: { ...s.seen.packets } } : undefined;
  }

  /** The pid of the tap's dnsmasq while it runs. */
  pid(tap: string): number | null {
    return this.served.get(tap)?.child?.pid ?? null;
  }

  /** Stops the tap's server (its own pid only) and forgets the tap. */
  async stop(tap: string): Promise<void> {
    const s = this.served.get(tap);
    if (!s) return;
    s.stopping = true;
    if (s.timer) clearTimeout(s.timer);
    s.markReady();
    const child = s.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await s.exited;
      clearTimeout(t);
    }
    this.served.delete(tap);
    await rm(pidFile(this.dir, tap), { force: true });
    await rm(join(this.dir, `${tap}.leases`), { force: true });
    if (this.served.size === 0) this.unhookExit();
  }

  async close(): Promise<void> {
    await Promise.all([...this.served.keys()].map((t) => this.stop(t)));
    this.unhookExit();
  }

  /**
   * Stops the dnsmasq processes a previous run of Summon on this DATA left (after a SIGKILL),
   * found by their pid files and recognised by their argv naming that very pid file.
   */
  async recover(): Promise<number> {
    let files: string[];
    try {
      files = (await readdir(this.dir)).filter((f) => f.endsWith('.pid'));
    } catch {
      return 0;
    }
    let stopped = 0;
    for (const f of files) {
      const path = join(this.dir, f);
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 1) {
        const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
        if (argv[0]?.endsWith('dnsmasq') && argv.includes(`--pid-file=${path}`)) {
          try {
            process.kill(pid, 'SIGTERM');
            stopped += 1;
          } catch {
            // gone meanwhile
          }
        }
      }
      await rm(path, { force: true });
      await rm(path.replace(/\.pid$/, '.leases'), { force: true });
    }
    return stopped;
  }

  private run(s: Served): void {
    s.startedAt = Date.now();
    s.seen.error = undefined;
    const child = spawn(this.binary, dnsmasqArgs(s.net, this.dir), {
      // Its own process group: Ctrl-C on Summon's terminal is for Summon, which stops it.
      detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
    });
    s.child = child;
    let resolveExit!: () => void;
    s.exited = new Promise<void>((r) => (resolveExit = r));
    const lastLines: string[] = [];
    forEachLine(child.stderr!, (line) => {
      lastLines.push(line);
      if (lastLines.length > 3) lastLines.shift();
      if (/sockets bound exclusively|static leases only on/.test(line)) {
        s.seen.served = true;
        s.markReady();
        return;
      }
      const p = parseDhcpLine(line);
      if (p && p.iface === s.net.tap) {
        s.seen.packets[p.packet] = Date.now();
        if (p.address && (p.packet === 'offer' || p.packet === 'ack')) s.seen.address = p.address;
      }
    });
    child.once('error', (e) => {
      s.seen.error = e.message;
    });
    child.once('close', (code, signal) => {
      s.child = null;
      s.seen.served = false;
      resolveExit();
      if (s.stopping) return;
      s.seen.error ??= lastLines.join(' / ') || `exited ${signal ?? code}`;
      // Up a while: the next death is a first one again.
      if (Date.now() - s.startedAt > 30_000) s.restarts = 0;
      const delay = Math.min(10_000, this.restartDelayMs * 2 ** s.restarts);
      s.restarts += 1;
      this.onWarn(`DHCP server for ${s.net.tap} exited (${s.seen.error}); restarting in ${delay} ms`, { tap: s.net.tap, code, signal, restarts: s.restarts });
      s.timer = setTimeout(() => {
        s.timer = null;
        if (!s.stopping) this.run(s);
      }, delay);
      s.timer.unref();
    });
  }

  /** Summon leaving for any reason stops the servers it started (their pids only). */
  private hookExit(): void {
    if (this.exitHook) return;
    this.exitHook = () => {
      for (const s of this.served.values()) {
        s.stopping = true;
        try {
          s.child?.kill('SIGTERM');
        } catch {
          // gone
        }
      }
    };
    process.on('exit', this.exitHook);
  }

  private unhookExit(): void {
    if (!this.exitHook) return;
    process.off('exit', this.exitHook);
    this.exitHook = undefined;
  }
}
