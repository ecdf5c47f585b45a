// A real ACME server for tests: Debian's pebble, with pebble-challtestsrv as the DNS server it
// resolves names with (every name → 127.0.0.1), both started here on free loopback ports. Its
// HTTPS is served with a certificate from a CA the test makes (src/testing/test-certs.ts), its
// validation authority (VA) dials HTTP-01 challenges at `httpPort` (Summon's router port), and
// certificates it issues are valid for `validitySeconds`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { makeTestCerts, type TestCerts } from './test-certs.js';
import { freePort, waitFor } from './wait.js';

export interface Pebble {
  /** The ACME directory URL (https://127.0.0.1:PORT/dir). */
  directoryUrl: string;
  /** The CA (PEM) that signed pebble's own HTTPS certificate: what a client must trust to reach it. */
  tls: TestCerts;
  /** The root (PEM) of the certificates pebble issues (it makes a new one every start). */
  issuerRoot(): Promise<string>;
  /** What pebble printed (stdout and stderr), for failure messages. */
  output(): string;
  close(): Promise<void>;
}

export interface PebbleOptions {
  /** Where its config and TLS certificate go. */
  dir: string;
  /** The port its VA dials for HTTP-01 (the port Summon's router listens on). */
  httpPort: number;
  /** Lifetime of the certificates it issues (default pebble's: 5 years). */
  validitySeconds?: number;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

export async function startPebble(o: PebbleOptions): Promise<Pebble> {
  await mkdir(o.dir, { recursive: true });
  const tls = await makeTestCerts(o.dir, 'Pebble HTTPS test');
  const [acmePort, mgmtPort, dnsPort, dnsMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: tls.certFile,
      privateKey: tls.keyFile,
      httpPort: o.httpPort,
      tlsPort: await freePort(),
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(o.validitySeconds ? { certificateValidityPeriod: o.validitySeconds } : {}),
    },
  };
  const configFile = join(o.dir, 'pebble-config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  let out = '';
  const procs: ChildProcess[] = [];
  const spawnLogged = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess => {
    const p = spawn(cmd, args, { cwd: o.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (c: Buffer) => {
      out += c.toString('utf8');
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    p.stdout!.on('data', take);
    p.stderr!.on('data', take);
    p.on('error', (e) => (out += `\n${cmd}: ${e.message}\n`));
    procs.push(p);
    return p;
  };
  const close = async (): Promise<void> => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => exited(p)));
  };
  try {
    spawnLogged('pebble-challtestsrv', [
      '-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${dnsMgmtPort}`,
      '-http01', '', '-https01', '', '-tlsalpn01', '',
      '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
    ]);
    // No sleeps between validation attempts, every authorization validated afresh.
    spawnLogged('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'], {
      PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', PEBBLE_WFE_NONCEREJECT: '0',
    });
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    await waitFor(async () => (await get(directoryUrl, tls.ca)).status === 200, { timeoutMs: 15_000, what: `pebble's directory at ${directoryUrl}; it said: ${out}` });
    return {
      directoryUrl,
      tls,
      issuerRoot: async () => {
        const r = await get(`https://127.0.0.1:${mgmtPort}/roots/0`, tls.ca);
        if (r.status !== 200) throw new Error(`pebble's root: HTTP ${r.status}`);
        return r.body;
      },
      output: () => out,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
