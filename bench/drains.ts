// Log drain throughput: lines per second from an instance's console to a syslog receiver
// (Debian's rsyslogd, imtcp on loopback, writing every message to a file) through a
// syslog:// drain, against the same lines written by the same program straight to a file.
// A second peer in the same run is the receiver's own ceiling: a bare Node client that writes
// the same number of ready-made octet-counted frames to the same rsyslogd as fast as it takes
// them. The time runs from the request that makes the app print until rsyslogd has written the
// last line to its file.
//
//   npx tsc -p tsconfig.json && node dist/bench/drains.js
//
// Env: BENCH_LINES (per round, default 50000), BENCH_ROUNDS (default 3).
// Writes bench/results/drains.json.
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyslogFormatter } from '../src/drains/line-format.js';
import { SummonClient } from '../src/sdk/client.js';
import { startRsyslog, type Rsyslog } from '../src/testing/rsyslog.js';
import { httpGet, waitFor } from '../src/testing/wait.js';
import { machine } from './lib/proc.js';
import { deploySpewApp, spewToFile } from './lib/spew-app.js';
import { median } from './lib/platform.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = path.resolve(here, '..', '..');
const LINES = Number(process.env.BENCH_LINES ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);



/** Counts what rsyslogd appends to its file, reading only the new bytes each time. */
class ReceivedCounter {
  private offset = 0;
  private tail = '';
  private readonly counts = new Map<string, number>();
  constructor(private readonly file: string) {}
  async poll(): Promise<void> {
    const fh = await open(this.file, 'r').catch(() => null);
    if (!fh) return;
    try {
      const buf = Buffer.alloc(4 * 1024 * 1024);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        if (!bytesRead) break;
        this.offset += bytesRead;
        const text = this.tail + buf.subarray(0, bytesRead).toString('utf8');
        const lines = text.split('\n');
        this.tail = lines.pop()!;
        for (const l of lines) {
          const m = /"msg":"spew (\S+) /.exec(l);
          if (m) this.counts.set(m[1], (this.counts.get(m[1]) ?? 0) + 1);
        }
      }
    } finally {
      await fh.close();
    }
  }
  count(tag: string): number {
    return this.counts.get(tag) ?? 0;
  }
}

async function until(counter: ReceivedCounter, tag: string, n: number, what: string): Promise<number> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    await counter.poll();
    if (counter.count(tag) >= n) return Date.now();
    if (Date.now() > deadline) throw new Error(`rsyslogd got ${counter.count(tag)} of ${n} lines for ${what} within 120 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The receiver's ceiling: the same number of ready-made frames from a bare client, as fast as rsyslogd takes them. */
async function ceilingRound(rsyslog: Rsyslog, counter: ReceivedCounter, round: number): Promise<number> {
  const tag = `bare${round}`;
  const pad = 'x'.repeat(64);
  const f = new SyslogFormatter(os.hostname());
  const frames: string[] = [];
  for (let i = 0; i < LINES; i++) {
    frames.push(f.frame({ seq: i, at: Date.now(), app: 'spew', source: 'app', proc: 'spew-0000000000', text: `spew ${tag} ${i} ${pad}` }).data);
  }
  const wire = frames.join('');
  const t0 = Date.now();
  const sock = net.connect({ host: '127.0.0.1', port: rsyslog.port });
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.end(wire);
  const t1 = await until(counter, tag, LINES, 'the bare client');
  sock.destroy();
  return t1 - t0;
}

async function main(): Promise<void> {
  const { startSummon } = await import('../src/server.js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'summon-bench-drains-'));
  await mkdir(path.join(dir, 'rsyslog'));
  const rsyslog = await startRsyslog(path.join(dir, 'rsyslog'));
  // The app prints each round as one burst, faster than any receiver takes it: the drain's
  // buffer holds a whole round, so what is measured is delivery, not dropping.
  const s = await startSummon({
    dataDir: path.join(dir, 'data'), apiPort: 0, routerPort: 0,
    drains: { allowPrivate: true, bufferLines: Math.max(10_000, LINES * 2), bufferBytes: 512 * 1024 * 1024 },
  });
  try {
    const c = new SummonClient({ api: s.apiUrl, token: s.token });
    const app = 'spew';
    await deploySpewApp(s, c, app, dir);
    const routerPort = Number(new URL(s.routerUrl).port);
    // When the last line of each round reached Summon's log (and so the drain's buffer).
    const loggedAt = new Map<string, number>();
    s.logs.subscribe(app, (l) => {
      const m = /^spew (\S+) (\d+) /.exec(l.text);
      if (m && Number(m[2]) === LINES - 1) loggedAt.set(m[1], Date.now());
    });
    const spewRound = async (round: string): Promise<{ t0: number; appLoopMs: number }> => {
      const t0 = Date.now();
      const res = await httpGet(`http://127.0.0.1:${routerPort}/spew?n=${LINES}&round=${round}`, { headers: { host: `${app}.localhost` }, timeoutMs: 120_000 });
      if (res.status !== 200) throw new Error(`the spew app answered ${res.status}: ${res.body}`);
      return { t0, appLoopMs: Math.round((JSON.parse(res.body) as { ms: number }).ms) };
    };
    // Before the drain exists: how long the same lines take from the instance to Summon's log alone.
    const noDrainMs: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const { t0 } = await spewRound(`nodrain${r}`);
      await waitFor(() => loggedAt.has(`nodrain${r}`), { timeoutMs: 120_000, what: `round nodrain${r} in the log` });
      noDrainMs.push(loggedAt.get(`nodrain${r}`)! - t0);
    }
    const drain = await c.addDrain(app, `syslog://127.0.0.1:${rsyslog.port}`);
    await waitFor(async () => (await c.drains(app))[0]?.status?.state === 'up', { timeoutMs: 10_000, what: 'the drain connected' });
    const counter = new ReceivedCounter(rsyslog.file);

    const rounds: { drainLinesPerSec: number; drainMs: number; loggedMs: number; appLoopMs: number; fileLinesPerSec: number; fileMs: number; bareLinesPerSec: number; bareMs: number }[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const file = await spewToFile(dir, r, LINES);
      const bareMs = await ceilingRound(rsyslog, counter, r);
      const { t0, appLoopMs } = await spewRound(String(r));
      const drainMs = (await until(counter, String(r), LINES, `round ${r}`)) - t0;
      rounds.push({
        drainLinesPerSec: Math.round((LINES * 1000) / drainMs), drainMs, loggedMs: (loggedAt.get(String(r)) ?? NaN) - t0, appLoopMs,
        fileLinesPerSec: Math.round((LINES * 1000) / file.ms), fileMs: Math.round(file.ms * 10) / 10,
        bareLinesPerSec: Math.round((LINES * 1000) / bareMs), bareMs,
      });
      const x = rounds.at(-1)!;
      console.log(`round ${r}: drain → rsyslogd ${x.drainLinesPerSec} lines/s (${drainMs} ms; the last line in Summon's log after ${x.loggedMs} ms), file ${x.fileLinesPerSec} lines/s (${x.fileMs} ms), bare client → rsyslogd ${x.bareLinesPerSec} lines/s (${bareMs} ms)`);
    }
    const status = (await c.drains(app)).find((d) => d.id === drain.id)?.status;
    if (status?.dropped) throw new Error(`the drain dropped ${status.dropped} lines: the figure would not be delivery`);
    const drainRate = median(rounds.map((x) => x.drainLinesPerSec));
    const file = median(rounds.map((x) => x.fileLinesPerSec));
    const bare = median(rounds.map((x) => x.bareLinesPerSec));
    const ratio = Math.round((drainRate / file) * 1000) / 1000;
    const ofCeiling = Math.round((drainRate / bare) * 1000) / 1000;
    const loggedWith = median(rounds.map((x) => x.loggedMs));
    const loggedWithout = median(noDrainMs);
    const result = {
      bench: 'drains', at: new Date().toISOString(), machine: machine(),
      receiver: 'rsyslogd (Debian), imtcp on 127.0.0.1, omfile', linesPerRound: LINES, lineBytes: 'spew R I '.length + 64 + 6, rounds,
      drainLinesPerSec: drainRate, fileLinesPerSec: file, ratio, peer: 'the same lines written by the same program to a file, same run',
      bareClientLinesPerSec: bare, ofReceiverCeiling: ofCeiling,
      // Where the time goes: instance → Summon's log with and without the drain, and the log → rsyslogd's file rest.
      instanceToLogMs: { withDrain: loggedWith, withoutDrain: loggedWithout, roundsWithoutDrain: noDrainMs },
      logToReceiverMs: median(rounds.map((x) => x.drainMs - x.loggedMs)),
      drain: { dropped: status?.dropped ?? null, delivered: status?.delivered ?? null, bufferLines: Math.max(10_000, LINES * 2) },
    };
    console.log(`\ninstance → syslog drain → rsyslogd: ${drainRate} lines/s; same lines to a file: ${file} lines/s; ratio ${ratio}×`);
    console.log(`receiver ceiling (a bare client's ready-made frames → the same rsyslogd): ${bare} lines/s; the drain reaches ${ofCeiling}× of it`);
    console.log(`where the time goes: instance → Summon's log ${loggedWith} ms with the drain, ${loggedWithout} ms without; ` +
      `the last line logged → in rsyslogd's file ${result.logToReceiverMs} ms`);
    const resultsDir = path.join(repoRoot, 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    await writeFile(path.join(resultsDir, 'drains.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${path.join(resultsDir, 'drains.json')}`);
  } finally {
    await s.stop();
    await rsyslog.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
