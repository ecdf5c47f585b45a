import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isFailure, must, parsePromBackends, parseShowStat, SocketRuntime } from './runtime.js';

describe('SocketRuntime (a fake admin socket)', () => {
  it('sends one command per connection, in order, and reads the answer to the close', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'summon-hart-'));
    const path = join(dir, 'admin.sock');
    const seen: string[] = [];
    const srv = createServer((c) => {
      c.setEncoding('utf8');
      c.on('data', (d: string) => {
        seen.push(d);
        // answers at different speeds: order must still hold
        setTimeout(() => c.end(d.startsWith('add server') ? 'New server registered.\n\n' : d.startsWith('del') ? 'No such server.\n' : '\n'), d.startsWith('add') ? 30 : 0);
      });
    });
    await new Promise<void>((r) => srv.listen(path, () => r()));
    t.after(() => {
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const rt = new SocketRuntime(path);
    const [a, b] = await Promise.all([rt.run('add server app_0/x 127.0.0.1:1'), rt.run('enable server app_0/x')]);
    assert.equal(a, 'New server registered.\n\n');
    assert.equal(b, '\n');
    assert.deepEqual(seen, ['add server app_0/x 127.0.0.1:1\n', 'enable server app_0/x\n']);
    await assert.rejects(must(rt, 'del server app_0/y'), /haproxy refused "del server app_0\/y": No such server\./);
    await assert.rejects(rt.run('a; b'), /one line without ';'/);
  });
});

describe('answers', () => {
  it('tells failures from successes', () => {
    assert.equal(isFailure('New server registered.\n'), false);
    assert.equal(isFailure('Server deleted.\n'), false);
    assert.equal(isFailure('\n'), false);
    assert.equal(isFailure('No such backend.\n'), true);
    assert.equal(isFailure('Unknown command. Please enter one of the following commands only :\n'), true);
  });
  it('parses show stat', () => {
    const csv = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime\n' +
      'app_0,web-1,0,0,2,3,,10,0,0,,0,,1,0,0,0,UP,1,1,0,,,,,,,,,,,,,,,,,,,0,9,0,1,0,0,,,,,,,,,,,4,,,0,0,0,3\n' +
      'app_0,BACKEND,0,0,2,3,,10,0,0,0,0,,1,0,0,0,UP,1,1,0,,,,,,,,,,,,,,,,,,,0,9,0,1,0,0,,,,12,,,,,,,4,,,0,0,0,3\n';
    const rows = parseShowStat(csv);
    assert.equal(rows.length, 2);
    assert.deepEqual({ px: rows[0].pxname, sv: rows[0].svname, scur: rows[0].scur, hrsp: rows[0].hrsp, lastsess: rows[0].lastsess }, { px: 'app_0', sv: 'web-1', scur: 2, hrsp: [0, 9, 0, 1, 0], lastsess: 4 });
    assert.equal(rows[1].reqTot, 12);
  });
  it('parses the Prometheus exporter\'s backend figures', () => {
    const text = [
      '# HELP haproxy_backend_http_responses_total Total number of HTTP responses.',
      'haproxy_backend_http_responses_total{proxy="app_0",code="2xx"} 41',
      'haproxy_backend_http_responses_total{proxy="app_0",code="5xx"} 2',
      'haproxy_backend_http_responses_total{proxy="app_0",code="other"} 1',
      'haproxy_backend_total_time_average_seconds{proxy="app_0"} 0.003',
      'haproxy_backend_retry_warnings_total{proxy="app_0"} 5',
      'haproxy_frontend_http_requests_total{proxy="fe_http"} 99',
    ].join('\n');
    const m = parsePromBackends(text).get('app_0')!;
    assert.deepEqual(m.hrsp, [0, 41, 0, 0, 2]);
    assert.equal(m.ttimeAvg, 0.003);
    assert.equal(m.retries, 5);
  });
});
