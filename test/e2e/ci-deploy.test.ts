// CI deploys through a real Summon: an artifact built outside Summon (as a CI job builds it) is
// released with `summon deploy`, serves through the router, and its build manifest says who
// uploaded it and what they declared. The refusals: a file whose bytes are not its sha256, a
// size over the limit (refused before a byte is read), a bad summon.toml, and a read token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import test from 'node:test';
import { promisify } from 'node:util';
import { cli, cliJson, exampleRepo, startSummonFor, viaRouter } from './harness.js';
import { waitFor } from '../../src/testing/wait.js';

const run = promisify(execFile);

function put(s: { apiUrl: string; token: string }, path: string, headers: Record<string, string>, body: Buffer | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, s.apiUrl);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { authorization: `Bearer ${s.token}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    if (body) req.end(body);
    else req.end();
  });
}

test('summon deploy releases an artifact built elsewhere; bad uploads are refused and lose nothing', async (t) => {
  const s = await startSummonFor(t, 'ci-deploy', ['--no-vm']);
  assert.equal((await cli(s, 'apps:create', 'shop')).code, 0);
  // "The CI job": the example built outside Summon.
  const dir = await exampleRepo('hello-node');
  await run(process.execPath, ['build.mjs'], { cwd: dir });
  const artifact = join(dir, 'dist', 'server.mjs');

  const r = await cli(s, 'deploy', '-a', 'shop', '--artifact', artifact, '--manifest', join(dir, 'summon.toml'), '--commit', 'abc1234def', '--declare', 'ci.run=42');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /-----> Uploading artifact .*server\.mjs \(\d+ bytes, sha256 [0-9a-f]{12}…\)/);
  assert.match(r.stdout, /releasing shop v1 from an upload by admin@localhost/);
  assert.match(r.stdout, /Released v1/);
  const res = await waitFor(async () => {
    const x = await viaRouter(s, 'shop');
    return x.status === 200 ? x : undefined;
  }, { timeoutMs: 15_000, what: 'the uploaded release to serve' });
  assert.match(res.body, /hello from hello-node v1/);
  const rel = await cliJson(s, 'releases:info', '-a', 'shop', 'v1', '--json');
  assert.deepEqual(rel.buildManifest.origin, { kind: 'upload', by: 'admin@localhost', tokenId: rel.buildManifest.origin.tokenId, declared: { 'ci.run': '42', commit: 'abc1234def' } });
  assert.match(rel.buildManifest.origin.tokenId, /^tok-/);
  assert.equal(rel.commit, 'abc1234def');

  // A file that is not what its name says: refused, and not stored.
  const wrong = 'f'.repeat(64);
  const bad = await put(s, `/api/apps/shop/uploads/${wrong}`, { 'content-type': 'application/octet-stream', 'content-length': '5' }, Buffer.from('hello'));
  assert.equal(bad.status, 400, bad.body);
  assert.match(JSON.parse(bad.body).error.message, /blob has sha256 2cf24dba5fb0…, not the ffffffffffff… it was stored as: refused/);
  // Over the limit: refused from the Content-Length, before a byte is read.
  const big = await put(s, `/api/apps/shop/uploads/${wrong}`, { 'content-type': 'application/octet-stream', 'content-length': String(2 * 1024 ** 3) }, null);
  assert.equal(big.status, 400, big.body);
  assert.match(JSON.parse(big.body).error.message, /an upload is at most 1G/);
  // A summon.toml that does not parse: exit 3, nothing released.
  const toml = join(dir, 'broken.toml');
  await run('sh', ['-c', `printf '[build]\\nartifact = 3\\n' > ${toml}`]);
  const broken = await cli(s, 'deploy', '-a', 'shop', '--artifact', artifact, '--manifest', toml);
  assert.equal(broken.code, 3, broken.stderr);
  assert.match(broken.stderr, /summon\.toml: build\.artifact/);
  // A read token may not deploy.
  const reader = await cliJson(s, 'tokens:create', '--scope', 'read', '--app', 'shop', '--json');
  const denied = await cli({ env: { ...s.env, SUMMON_TOKEN: reader.token } }, 'deploy', '-a', 'shop', '--artifact', artifact, '--manifest', join(dir, 'summon.toml'));
  assert.equal(denied.code, 11, denied.stderr);
  const releases = await cliJson(s, 'releases', '-a', 'shop', '--json');
  assert.deepEqual(releases.map((x: { version: number; status: string }) => [x.version, x.status]), [[1, 'live']], 'the refused deploys made no release');
});
