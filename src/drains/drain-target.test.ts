import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSummonError } from '../core/errors.js';
import { checkDrainUrl, DrainRefusedError, parseDrainUrl, resolveDrainHost } from './drain-target.js';

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(isSummonError(e), `expected a SummonError, got ${String(e)}`);
    assert.equal(e.code, 'invalid_input');
    return e.message;
  }
  assert.fail('expected a refusal');
}

test('the three schemes parse into what is dialled, canonical', () => {
  assert.deepEqual({ ...parseDrainUrl('syslog+tls://Logs.Example.com:6514'), url: undefined }, { kind: 'syslog+tls', host: 'logs.example.com', port: 6514, url: undefined });
  assert.equal(checkDrainUrl('syslog+tls://Logs.Example.com:6514', false), 'syslog+tls://logs.example.com:6514');
  assert.equal(checkDrainUrl('syslog://logs.example.com:514/', false), 'syslog://logs.example.com:514');
  assert.equal(checkDrainUrl('https://logs.example.com/ingest?token=abc', false), 'https://logs.example.com/ingest?token=abc');
  assert.equal(parseDrainUrl('https://logs.example.com/x').port, 443);
  assert.equal(parseDrainUrl('https://logs.example.com:8443/x').port, 8443);
  assert.equal(checkDrainUrl('  syslog://[2606:4700::1111]:514 ', false), 'syslog://[2606:4700::1111]:514');
  assert.equal(parseDrainUrl('syslog://[2606:4700::1111]:514').host, '2606:4700::1111', 'dialled without brackets');
  // non-special schemes get the same host processing as https: the name a resolver would see
  assert.equal(checkDrainUrl('syslog://exa%6Dple.com:514', false), 'syslog://example.com:514');
  assert.equal(checkDrainUrl('syslog://bücher.example:514', false), 'syslog://xn--bcher-kva.example:514');
});

test('other schemes, credentials, fragments, missing ports and bad hosts are refused, saying what to write', () => {
  assert.match(refusal(() => parseDrainUrl('ftp://logs.example.com/')), /ftp: is not syslog:, syslog\+tls: or https: \(write e\.g\. syslog\+tls:\/\/logs\.example\.com:6514/);
  assert.match(refusal(() => parseDrainUrl('http://logs.example.com/')), /use https:\/\//);
  assert.match(refusal(() => parseDrainUrl('syslog+udp://logs.example.com:514')), /UDP loses lines/);
  assert.match(refusal(() => parseDrainUrl('https://user:pass@logs.example.com/')), /user name or password .*put it in the path or query/);
  assert.match(refusal(() => parseDrainUrl('syslog+tls://token@logs.example.com:6514')), /user name or password/);
  assert.match(refusal(() => parseDrainUrl('https://logs.example.com/#x')), /fragment/);
  assert.match(refusal(() => parseDrainUrl('syslog+tls://logs.example.com')), /needs a port: syslog\+tls:\/\/logs\.example\.com:PORT \(6514 is usual/);
  assert.match(refusal(() => parseDrainUrl('syslog://logs.example.com:0')), /port 0/);
  assert.match(refusal(() => parseDrainUrl('syslog://logs.example.com:514/app?x=1')), /no path or query/);
  assert.match(refusal(() => parseDrainUrl('syslog://:514')), /not a URL/);
  assert.match(refusal(() => parseDrainUrl('syslog:///x')), /names no host/);
  assert.match(refusal(() => parseDrainUrl('syslog://a b:514')), /not a URL|not a host name/);
  assert.match(refusal(() => parseDrainUrl('syslog://-bad-.example.com:514')), /is not a host name/);
  assert.match(refusal(() => parseDrainUrl(`syslog://${'a'.repeat(64)}.example.com:514`)), /is not a host name/);
  assert.match(refusal(() => parseDrainUrl('not a url')), /not a URL/);
  assert.match(refusal(() => parseDrainUrl('')), /a drain needs a URL/);
  assert.match(refusal(() => parseDrainUrl(['syslog://x:1'])), /a drain needs a URL/);
});

test('loopback, private and metadata receivers are refused at creation unless allowed; credentials never', () => {
  assert.match(refusal(() => checkDrainUrl('syslog://127.0.0.1:514', false)), /^drain URL syslog:\/\/127\.0\.0\.1:514 is refused: 127\.0\.0\.1 is a loopback address; summon up --drains-allow-private allows it$/);
  // the numeric forms WHATWG reads as 127.0.0.1 for https are read so for syslog: too
  assert.match(refusal(() => checkDrainUrl('syslog://2130706433:514', false)), /127\.0\.0\.1 is a loopback address/);
  assert.match(refusal(() => checkDrainUrl('syslog+tls://0x7f.1:6514', false)), /127\.0\.0\.1 is a loopback address/);
  assert.match(refusal(() => checkDrainUrl('https://169.254.169.254/latest', false)), /the cloud metadata address/);
  assert.match(refusal(() => checkDrainUrl('syslog://10.1.2.3:514', false)), /a private address/);
  assert.match(refusal(() => checkDrainUrl('syslog://localhost:514', false)), /loopback name/);
  assert.match(refusal(() => checkDrainUrl('syslog://[::1]:514', false)), /loopback/);
  assert.equal(checkDrainUrl('syslog://127.0.0.1:514', true), 'syslog://127.0.0.1:514');
  assert.match(refusal(() => checkDrainUrl('https://a:b@127.0.0.1/', true)), /user name or password/);
});

test('every address a name resolves to is checked at connection', async () => {
  const t = parseDrainUrl('syslog+tls://logs.example.com:6514');
  const resolve = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.9', family: 4 }];
  await assert.rejects(resolveDrainHost(t, { allowPrivate: false, resolve }),
    (e: Error) => e instanceof DrainRefusedError && /logs\.example\.com resolves to 10\.0\.0\.9, a private address \(summon up --drains-allow-private allows it\)/.test(e.message));
  assert.equal((await resolveDrainHost(t, { allowPrivate: true, resolve })).length, 2);
  const ok = async () => [{ address: '93.184.216.34', family: 4 }];
  assert.deepEqual(await resolveDrainHost(t, { allowPrivate: false, resolve: ok }), [{ address: '93.184.216.34', family: 4 }]);
  await assert.rejects(resolveDrainHost(t, { allowPrivate: false, resolve: async () => [] }), /resolved to no address/);
  // a literal is not resolved
  const lit = parseDrainUrl('syslog://127.0.0.1:514');
  assert.deepEqual(await resolveDrainHost(lit, { allowPrivate: true, resolve: () => assert.fail('resolved') }), [{ address: '127.0.0.1', family: 4 }]);
});
