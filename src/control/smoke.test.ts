// SmokeRunner unconfined, against a real HTTP server standing in for the instance: what the
// commands see ($SUMMON_TEST_URL, config vars, a checkout of the commit from a real bare
// repository), what a failure and the timeout say, and what is recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Manifest, Release } from '../core/types.js';
import { SmokeRunner } from './smoke.js';

const run = promisify(execFile);

const MANIFEST = {
  build: { artifact: 'a', timeoutMs: 60_000, toolchain: [] },
  run: { target: 'process', args: [], port: 8080, memoryBytes: 64 << 20 },
  health: { kind: 'tcp', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, graceMs: 60_000 },
  scale: { min: 1, max: 3, targetCpu: 0.5, idleTimeoutMs: 0 },
  deploy: { maxSurge: 1, maxUnavailable: 0, drainTimeoutMs: 0 },
} satisfies Manifest;

function release(smoke: string[], timeoutMs: number, commit: string | null): Release {
  return {
    app: 'web', version: 4, status: 'deploying', description: '', reason: null, commit, artifactSha256: 'a'.repeat(64), initrdSha256: null,
    manifest: { ...MANIFEST, test: { smoke, timeoutMs } }, buildManifest: null, configCipher: null, brokenReason: null, brokenAt: null, createdAt: 0, updatedAt: 0,
  };
}

async function rig(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'summon-smoke-'));
  const server = http.createServer((req, res) => res.end(`hello from ${req.url}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });
  // A bare repository with one commit holding check.sh.
  const work = join(dir, 'work');
  const bare = join(dir, 'web.git');
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' };
  await run('git', ['init', '-q', '-b', 'main', work]);
  await writeFile(join(work, 'check.sh'), 'echo "checked out: $(ls)"\n');
  await run('git', ['-C', work, 'add', '-A'], { env });
  await run('git', ['-C', work, 'commit', '-qm', 'one'], { env });
  await run('git', ['clone', '-q', '--bare', work, bare]);
  const commit = (await run('git', ['-C', work, 'rev-parse', 'HEAD'])).stdout.trim();
  const workDir = join(dir, 'builds');
  const runner = new SmokeRunner({ workDir, gitDirsOf: () => [join(dir, 'missing.git'), bare], killGraceMs: 100 });
  const port = (server.address() as AddressInfo).port;
  const lines: string[] = [];
  const smoke = (r: Release, config: Record<string, string> = {}) =>
    runner.run({ release: r, config, instance: { id: 'web-1', address: '127.0.0.1', port }, out: (l) => lines.push(l) });
  return { smoke, commit, lines, port, workDir };
}

test('passing smoke commands see the instance, the config vars and a checkout of the commit', async (t) => {
  const r = await rig(t);
  const rec = await r.smoke(release(['curl -sf "$SUMMON_TEST_URL/ready"', 'echo "$GREETING $SUMMON_RELEASE"', 'sh check.sh'], 10_000, r.commit), { GREETING: 'hi' });
  assert.equal(rec.result, 'passed', rec.reason ?? '');
  assert.equal(rec.url, `http://127.0.0.1:${r.port}`);
  assert.equal(rec.instance, 'web-1');
  assert.deepEqual(rec.steps.map((s) => s.exitCode), [0, 0, 0]);
  assert.equal(rec.steps[0].output, 'hello from /ready\n');
  assert.equal(rec.steps[1].output, 'hi v4\n');
  assert.equal(rec.steps[2].output, 'checked out: check.sh\n');
  assert.ok(r.lines.includes('       hello from /ready'), 'output streams, indented');
  assert.match(r.lines.at(-1)!, /Smoke tests passed \(3, /);
  assert.deepEqual(await readdir(r.workDir), [], 'its directory is removed');
});

test('the first failing command fails the run with its output; the rest do not run', async (t) => {
  const r = await rig(t);
  const rec = await r.smoke(release(['echo about to fail; exit 3', 'echo never'], 10_000, null));
  assert.equal(rec.result, 'failed');
  assert.equal(rec.steps.length, 1);
  assert.equal(rec.steps[0].exitCode, 3);
  assert.equal(rec.reason, 'smoke test failed with exit code 3: echo about to fail; exit 3\nlast lines of output:\n       about to fail');
  assert.ok(r.lines.some((l) => /in an empty directory \(no repository here has the commit\)/.test(l)));
});

test('past [test].timeout the command is stopped and the run fails saying so', async (t) => {
  const r = await rig(t);
  const t0 = Date.now();
  const rec = await r.smoke(release(['sleep 30'], 1000, null));
  assert.ok(Date.now() - t0 < 15_000, 'stopped, not waited for');
  assert.equal(rec.result, 'failed');
  assert.equal(rec.steps[0].timedOut, true);
  assert.match(rec.reason ?? '', /^smoke test timed out: the smoke commands together may take 1\.0s \(\[test\]\.timeout\): sleep 30/);
});
