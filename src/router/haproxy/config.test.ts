import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backendName, renderConfig, renderMap, serverNameOf, type RenderInput } from './config.js';

const input = (dir: string, o: Partial<RenderInput> = {}): RenderInput => ({
  host: '127.0.0.1', port: 18080, holderPort: 18081, statsPort: 18082, adminSocket: join(dir, 'admin.sock'),
  hostMap: join(dir, 'hosts.map'), forceHttpsMap: join(dir, 'f.map'), hstsMap: join(dir, 'h.map'), backends: 3,
  servers: new Map([[1, [{ name: 'web-1', address: '127.0.0.1', port: 4001 }]]]), maxConnections: 1000,
  headerTimeoutMs: 10_000, idleTimeoutMs: 65_000, serverTimeoutMs: 60_000, threads: 1, maxConnectionsPerAddress: 100, ...o,
});

describe('renderConfig', () => {
  const cfg = renderConfig(input('/d'));
  it('routes by the host map, with the Node router as the default and every backend\'s backup', () => {
    assert.match(cfg, /use_backend %\[var\(txn\.host\),map\(\/d\/hosts\.map\)\] if \{ var\(txn\.host\),map\(\/d\/hosts\.map\) -m found \}\n  use_backend %\[var\(txn\.wild\),map\(\/d\/hosts\.map,be_unknown\)\]/, 'the exact host first, then its wildcard, then the Node router');
    assert.match(cfg, /set-var\(txn\.host\) req\.hdr\(host\),field\(1,:\),lower/);
    for (let i = 0; i < 3; i++) assert.match(cfg, new RegExp(`backend ${backendName(i)}\\n  balance leastconn\\n  server summon_holder 127\\.0\\.0\\.1:18081 backup pool-max-conn -1 pool-purge-delay 5s`));
    assert.match(cfg, /backend be_unknown\n {2}server node 127\.0\.0\.1:18081/);
  });
  it('writes current servers with the pool settings and never the enabled keyword', () => {
    assert.match(cfg, /backend app_1\n.*\n.*\n {2}server web-1 127\.0\.0\.1:4001 pool-max-conn -1 pool-purge-delay 5s\n/);
    assert.doesNotMatch(cfg, /\benabled\b/);
    assert.doesNotMatch(cfg, /\bcheck\b/, 'no health checks of HAProxy\'s own');
  });
  it('retries connect failures and the holder\'s 425 on another server, and replaces forwarding headers', () => {
    assert.match(cfg, /retry-on conn-failure empty-response 425/);
    assert.match(cfg, /option redispatch 1/);
    assert.match(cfg, /http-request set-header X-Forwarded-For %\[src\]/);
    assert.match(cfg, /http-request set-header X-Forwarded-Proto http/);
    assert.match(cfg, /stats socket \/d\/admin\.sock mode 600 level admin/);
    assert.match(cfg, /use-service prometheus-exporter/);
    assert.match(cfg, /tcp-request connection reject if \{ sc0_conn_cur gt 100 \}/);
  });
  it('has an HTTPS frontend only when asked', () => {
    assert.doesNotMatch(cfg, /fe_https/);
    const tls = renderConfig(input('/d', { https: { port: 18443, crtList: '/d/certs.list', defaultCert: '/d/default.pem' } }));
    assert.match(tls, /bind 127\.0\.0\.1:18443 ssl crt-list \/d\/certs\.list crt \/d\/default\.pem/);
    assert.match(tls, /Strict-Transport-Security/);
  });
  it('is a configuration HAProxy accepts', (t) => {
    const probe = spawnSync('haproxy', ['-v']);
    if (probe.error) return t.skip('haproxy is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'summon-hacfg-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const f of ['hosts.map', 'f.map', 'h.map']) writeFileSync(join(dir, f), '');
    writeFileSync(join(dir, 'haproxy.cfg'), renderConfig(input(dir)));
    const r = spawnSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /WARNING/, r.stderr);
  });
});

describe('names and maps', () => {
  it('makes instance ids safe server names', () => {
    assert.equal(serverNameOf('web-3.a_b:c'), 'web-3.a_b:c');
    assert.equal(serverNameOf('a/b c'), 'a_b_c');
    assert.equal(serverNameOf('x'.repeat(80)).length, 64);
  });
  it('renders a map file', () => {
    assert.equal(renderMap([['a.localhost', 'app_0'], ['b.example.com', 'app_1']]), 'a.localhost app_0\nb.example.com app_1\n');
  });
});
