// A real PostgreSQL for tests. With SUMMON_TEST_PG_URL set, each call gets a fresh
// database in that server; otherwise each call initdb's a throwaway cluster in a temp dir
// and starts it on a free loopback port. PostgreSQL refuses to run as root, so when the
// tests run as root the server runs as the `postgres` OS user (Debian's package makes it).
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, appendFileSync, rmSync } from 'node:fs';
import { freePort } from '../agent/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { SummonError } from '../core/errors.js';

export interface TestPostgres {
  /** Connection URL of a database the caller may use freely (a superuser connection). */
  url: string;
  stop(): Promise<void>;
}

const READY_DEADLINE_MS = 30_000;

export async function startTestPostgres(): Promise<TestPostgres> {
  const external = process.env.SUMMON_TEST_PG_URL;
  if (external) {
    const db = await createTestDatabase(external);
    return { url: db.url, stop: db.drop };
  }
  return startThrowawayServer();
}

/** Creates a uniquely named database in the server `adminUrl` points at; drop() removes it. */
export async function createTestDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `summon_test_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    url: u.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      // FORCE ends sessions a test forgot to close (PostgreSQL 13+).
      await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The bin dir of the newest PostgreSQL installed the Debian way. */
export function findPostgresBin(root = '/usr/lib/postgresql'): string {
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new SummonError(
      'internal',
      `no PostgreSQL server found under ${root}/*/bin: install it (apt-get install postgresql) or set SUMMON_TEST_PG_URL=postgres://user@host/db`,
    );
  }
  return join(root, versions[0], 'bin');
}

interface RunAs {
  uid: number;
  gid: number;
}

function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) {
    throw new SummonError(
      'internal',
      'tests run as root but there is no `postgres` OS user to run the server as: install Debian\'s postgresql package or set SUMMON_TEST_PG_URL',
    );
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(bin: string, args: string[], as: RunAs | undefined, cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      {
        cwd,
        timeout: timeoutMs,
        // libuv drops root's supplementary groups when uid/gid are set.
        ...(as ? { uid: as.uid, gid: as.gid } : {}),
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', HOME: cwd },
      },
      (err, stdout, stderr) => {
        if (err) reject(new SummonError('internal', `${bin} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

async function waitForConnect(url: string, deadline: number, log: string): Promise<void> {
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await withClient(url, (c) => c.query('SELECT 1'));
      return;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '(no log)';
  throw new SummonError('timeout', `test PostgreSQL did not accept connections: ${String(last)}\n${tail}`);
}

async function startThrowawayServer(): Promise<TestPostgres> {
  const bin = findPostgresBin();
  const as = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'summon-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const pgCtl = join(bin, 'pg_ctl');
  let started = false;
  // If the test process exits without stop(), do not leave a server behind.
  const onExit = (): void => {
    try {
      if (started) execFileSync(pgCtl, ['stop', '-D', data, '-m', 'immediate', '-w'], { ...(as ? as : {}), cwd: dir, stdio: 'ignore' });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  try {
    if (as) chownSync(dir, as.uid, as.gid);
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], as, dir, 60_000);
    let lastErr: unknown;
    // The port is free when picked but another process may take it first: retry a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      // Durability is not what these tests are about; speed is.
      appendFileSync(
        join(data, 'postgresql.conf'),
        [
          '',
          `port = ${port}`,
          `listen_addresses = '127.0.0.1'`,
          `unix_socket_directories = '${dir}'`,
          'fsync = off',
          'synchronous_commit = off',
          'full_page_writes = off',
          '',
        ].join('\n'),
      );
      try {
        await run(pgCtl, ['start', '-D', data, '-l', log, '-w', '-t', String(READY_DEADLINE_MS / 1000)], as, dir, READY_DEADLINE_MS + 5000);
      } catch (e) {
        lastErr = e;
        continue;
      }
      started = true;
      const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      await waitForConnect(url, Date.now() + READY_DEADLINE_MS, log);
      let stopped = false;
      return {
        url,
        async stop() {
          if (stopped) return;
          stopped = true;
          process.removeListener('exit', onExit);
          try {
            await run(pgCtl, ['stop', '-D', data, '-m', 'fast', '-w'], as, dir, 60_000);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      };
    }
    throw lastErr;
  } catch (e) {
    process.removeListener('exit', onExit);
    onExit();
    throw e;
  }
}
