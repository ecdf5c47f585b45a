import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { blockedReason, refusedReason, resolveTarget, urlProblem, type Resolver } from './webhook-targets.js';
import { checkWebhookUrl } from './routes.js';
import { isSummonError } from '../core/errors.js';

test('every internal range is refused, named for what it is', () => {
  const cases: [string, RegExp][] = [
    ['127.0.0.1', /^a loopback address$/], ['127.255.0.9', /loopback/], ['::1', /^a loopback address$/],
    ['0.0.0.0', /unspecified/], ['0.1.2.3', /unspecified/], ['::', /unspecified/],
    ['169.254.169.254', /^the cloud metadata address$/], ['169.254.1.1', /^a link-local address$/], ['fe80::1', /link-local/],
    ['febf:ffff::1', /link-local/], ['fd00:ec2::254', /metadata/], ['100.100.100.200', /metadata/],
    ['10.0.0.1', /^a private address$/], ['172.16.0.1', /private/], ['172.31.255.255', /private/], ['192.168.1.1', /private/],
    ['fc00::1', /private/], ['fd12:3456::1', /private/], ['fec0::1', /site-local/],
    ['100.64.0.1', /carrier-grade NAT/], ['100.127.255.255', /carrier-grade NAT/],
    ['224.0.0.1', /multicast/], ['239.255.255.250', /multicast/], ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/], ['240.0.0.1', /reserved/],
    // IPv6 forms that carry an IPv4 address are judged by it
    ['::ffff:127.0.0.1', /^IPv4-mapped 127\.0\.0\.1, a loopback address$/], ['::ffff:7f00:1', /IPv4-mapped 127\.0\.0\.1/],
    ['::ffff:169.254.169.254', /IPv4-mapped 169\.254\.169\.254, the cloud metadata address/], ['::ffff:a00:1', /IPv4-mapped 10\.0\.0\.1, a private/],
    ['64:ff9b::7f00:1', /^NAT64 127\.0\.0\.1, a loopback address$/], ['64:ff9b::a9fe:a9fe', /NAT64 169\.254\.169\.254/],
    ['2002:7f00:1::1', /^6to4 127\.0\.0\.1, a loopback/], ['2002:c0a8:101::', /6to4 192\.168\.1\.1, a private/],
    ['::127.0.0.1', /IPv4-compatible 127\.0\.0\.1/], ['64:ff9b:1::1', /local-use NAT64/],
    ['[::1]', /loopback/], ['fe80::1%eth0', /link-local/],
    ['example.com', /not an IP address/],
  ];
  for (const [ip, want] of cases) assert.match(String(blockedReason(ip)), want, ip);
});

test('public addresses pass, the embedded ones too', () => {
  for (const ip of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '169.253.255.255', '2606:4700::1111',
    '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2001:db8::1']) {
    assert.equal(blockedReason(ip), null, ip);
  }
});

test('this host\'s own addresses are refused, public or not (they reach Summon itself)', () => {
  const own = Object.values(networkInterfaces()).flat().map((i) => i!.address).find((a) => blockedReason(a) === null);
  if (own) {
    assert.equal(refusedReason(own), 'an address of this host', own);
    assert.equal(urlProblem(new URL(`http://${own.includes(':') ? `[${own}]` : own}:7070/`), false), `${own} is an address of this host`);
  }
  assert.equal(refusedReason('127.0.0.1'), 'a loopback address');
  assert.equal(refusedReason('2606:4700::1111'), null);
});

test('creation refuses credentials, blocked literals however spelled, and localhost names', () => {
  const problem = (url: string, allow = false) => urlProblem(new URL(url), allow);
  assert.match(String(problem('https://user:pass@hooks.example.com/x')), /user name or password/);
  assert.match(String(problem('https://user@hooks.example.com/x')), /user name or password/);
  assert.match(String(problem('https://user:pass@hooks.example.com/x', true)), /user name or password/, 'the flag does not allow credentials');
  // the URL parser turns these into 127.0.0.1 before anything checks them
  for (const u of ['http://127.0.0.1:7070/api', 'http://2130706433/', 'http://0x7f.1/', 'http://127.1/', 'http://0177.0.0.1/']) {
    assert.equal(problem(u), '127.0.0.1 is a loopback address', u);
  }
  assert.equal(problem('http://[::ffff:127.0.0.1]/'), '::ffff:7f00:1 is IPv4-mapped 127.0.0.1, a loopback address');
  assert.equal(problem('http://169.254.169.254/latest/meta-data/'), '169.254.169.254 is the cloud metadata address');
  assert.equal(problem('http://10.1.2.3/'), '10.1.2.3 is a private address');
  assert.equal(problem('http://0.0.0.0:7070/'), '0.0.0.0 is an unspecified address');
  assert.match(String(problem('http://localhost:7070/')), /loopback name/);
  assert.match(String(problem('http://app.LOCALHOST./')), /loopback name/);
  assert.equal(problem('https://hooks.example.com/summon'), null);
  assert.equal(problem('https://93.184.216.34/x'), null);
  assert.equal(problem('http://127.0.0.1:9/x', true), null);
  assert.equal(problem('http://localhost/x', true), null);
});

test('the route check names the URL (password hidden), the reason and what to do', () => {
  const refusal = (url: string, allow = false): Error => {
    try {
      checkWebhookUrl(url, allow);
    } catch (e) {
      assert.ok(isSummonError(e) && e.code === 'invalid_input', `a SummonError with code invalid_input, got ${String(e)}`);
      return e;
    }
    assert.fail(`${url} was accepted`);
  };
  const lo = refusal('http://127.0.0.1:7070/api/apps');
  assert.match(lo.message, /^webhook URL http:\/\/127\.0\.0\.1:7070\/api\/apps is refused: 127\.0\.0\.1 is a loopback address; /);
  assert.match(lo.message, /use a public address, or, for a receiver on your own network, start Summon with `summon up --webhooks-allow-private`/);
  const cred = refusal('https://alice:s3cret@hooks.example.com/x');
  assert.match(cred.message, /https:\/\/alice:\*\*\*@hooks\.example\.com\/x is refused: it carries a user name or password/);
  assert.doesNotMatch(cred.message, /s3cret/);
  assert.match(cred.message, /X-Summon-Signature/);
  assert.match(refusal('http://[::ffff:127.0.0.1]:7070/').message, /IPv4-mapped 127\.0\.0\.1/);
  assert.match(refusal('http://169.254.169.254/').message, /cloud metadata/);
  assert.match(refusal('http://localhost:7070/').message, /loopback name/);
  assert.equal(checkWebhookUrl('http://127.0.0.1:9/x', true), 'http://127.0.0.1:9/x');
  assert.equal(checkWebhookUrl('https://hooks.example.com/summon'), 'https://hooks.example.com/summon');
});

test('at delivery every resolved address is checked, one bad answer refuses the name', async () => {
  const calls: string[] = [];
  const answers: Record<string, string[]> = {
    'public.test': ['93.184.216.34', '2606:4700::1111'],
    'mixed.test': ['93.184.216.34', '10.0.0.5'],
    'mapped.test': ['::ffff:169.254.169.254'],
  };
  const resolve: Resolver = async (host) => {
    calls.push(host);
    return (answers[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  const ok = await resolveTarget('https://public.test/x', { allowPrivate: false, resolve });
  assert.ok(ok.ok);
  assert.deepEqual(ok.addresses.map((a) => a.address), answers['public.test']);
  assert.deepEqual(await resolveTarget('https://mixed.test/x', { allowPrivate: false, resolve }), {
    ok: false, refused: 'refused: mixed.test resolves to 10.0.0.5, a private address (summon up --webhooks-allow-private allows it)',
  });
  const mapped = await resolveTarget('https://mapped.test/x', { allowPrivate: false, resolve });
  assert.ok(!mapped.ok && /mapped\.test resolves to ::ffff:169\.254\.169\.254, IPv4-mapped 169\.254\.169\.254, the cloud metadata address/.test(mapped.refused));
  assert.deepEqual(await resolveTarget('http://127.0.0.1:7070/', { allowPrivate: false, resolve }), {
    ok: false, refused: 'refused: 127.0.0.1 is a loopback address (summon up --webhooks-allow-private allows it)',
  });
  assert.deepEqual(calls, ['public.test', 'mixed.test', 'mapped.test'], 'resolved once each; literals are not resolved');
  const allowed = await resolveTarget('https://mixed.test/x', { allowPrivate: true, resolve });
  assert.ok(allowed.ok && allowed.addresses.length === 2);
  const cred = await resolveTarget('https://u:p@public.test/x', { allowPrivate: true, resolve });
  assert.ok(!cred.ok && /user name or password/.test(cred.refused), 'credentials stored by an older Summon are never sent');
  await assert.rejects(resolveTarget('https://nowhere.test/x', { allowPrivate: false, resolve }), /resolved to no address/);
});
