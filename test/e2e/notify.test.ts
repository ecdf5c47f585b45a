// Notifications end to end: a real Summon, real git pushes, a webhook receiver and an SMTP
// server in this process.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { startSummon, type RunningSummon } from '../../src/server.js';
import { SummonClient } from '../../src/sdk/client.js';
import { waitFor } from '../../src/testing/wait.js';
import { commitAll, editFile, exampleRepo, push, startMailbox, tempDir, type Mailbox } from './harness.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: { id: number; type: string; app: string; message: string; data: Record<string, unknown>; at: number };
  answered: number;
}

/** A webhook receiver; `answer(n)` gives the status for the n-th request (1-based). */
async function receiver(answer: (n: number) => number = () => 204) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const status = answer(got.length + 1);
      got.push({ headers: req.headers, raw, body: JSON.parse(raw), answered: status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, got,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

function verify(secret: string, r: Received): boolean {
  const sig = String(r.headers['x-summon-signature'] ?? '');
  const want = `sha256=${createHmac('sha256', secret).update(r.raw).digest('hex')}`;
  return sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
}

let mailbox: Mailbox;
let mails: Mailbox['mails'] = [];

let s: RunningSummon;
let c: SummonClient;
let dataDir: string;
let hook: Awaited<ReturnType<typeof receiver>>;
let flaky: Awaited<ReturnType<typeof receiver>>;
let secret = '';
let repo = '';

before(async () => {
  mailbox = await startMailbox();
  const smtpPort = mailbox.port;
  mails = mailbox.mails;
  hook = await receiver();
  flaky = await receiver((n) => (n <= 2 ? 500 : 200));
  dataDir = await tempDir('notify');
  s = await startSummon({
    dataDir, apiPort: 0, routerPort: 0,
    // the receivers are on loopback, which webhooks may only target when the operator says so
    webhooks: { retryBaseMs: 100, allowPrivate: true },
    email: { smtp: `smtp://127.0.0.1:${smtpPort}`, from: 'summon@example.com', to: ['ops@example.com', 'oncall@example.com'] },
  });
  c = new SummonClient({ api: s.apiUrl, token: s.token });
  await c.createApp('hooked');
});

after(async () => {
  await s?.stop();
  await hook?.close();
  await flaky?.close();
  await mailbox.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('webhook URLs and event names are checked; the secret is shown only at creation', async () => {
  await assert.rejects(c.addWebhook('hooked', 'ftp://example.com/x'), /http:\/\/ or https:\/\//);
  await assert.rejects(c.addWebhook('hooked', 'not a url'), /not a URL/);
  await assert.rejects(c.addWebhook('hooked', hook.url, ['Release Live']), /event type/);
  await assert.rejects(c.addWebhook('nope', hook.url), /app "nope" not found/);
  const h = await c.addWebhook('hooked', hook.url);
  assert.match(h.secret, /^whsec_/);
  assert.deepEqual(h.events, ['release.live', 'release.failed', 'instance.crashloop', 'scale.max', 'cert.failed']);
  secret = h.secret;
  const list = await c.webhooks('hooked');
  assert.equal(list.length, 1);
  assert.equal(list[0].id, h.id);
  assert.equal((list[0] as Record<string, unknown>).secret, undefined, 'the list never shows the secret');
});

test('without --webhooks-allow-private, loopback and metadata targets are refused at creation', async () => {
  const dir = await tempDir('notify-strict');
  const strict = await startSummon({ dataDir: dir, apiPort: 0, routerPort: 0 });
  try {
    const sc = new SummonClient({ api: strict.apiUrl, token: strict.token });
    await sc.createApp('strict');
    await assert.rejects(sc.addWebhook('strict', hook.url),
      /webhook URL http:\/\/127\.0\.0\.1:\d+\/hook is refused: 127\.0\.0\.1 is a loopback address; .*summon up --webhooks-allow-private/);
    await assert.rejects(sc.addWebhook('strict', `${strict.apiUrl}/api/apps`), /loopback address/, "Summon's own API");
    await assert.rejects(sc.addWebhook('strict', 'http://169.254.169.254/latest/meta-data/'), /the cloud metadata address/);
    await assert.rejects(sc.addWebhook('strict', 'https://ops:hunter2@hooks.example.com/x'), /user name or password/);
    assert.deepEqual(await sc.webhooks('strict'), []);
  } finally {
    await strict.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a release sends a signed release.live delivery', async () => {
  repo = await exampleRepo('hello-node');
  const r = await push(s, repo, 'hooked');
  assert.equal(r.code, 0, `git push failed:\n${r.stdout}\n${r.stderr}`);
  const got = await waitFor(() => hook.got.find((g) => g.body.type === 'release.live'), { timeoutMs: 60_000, what: 'a release.live delivery' });
  assert.ok(verify(secret, got), 'X-Summon-Signature is the HMAC-SHA256 of the raw body with the secret');
  assert.ok(!verify('whsec_wrong', got), 'and does not verify with another secret');
  assert.equal(got.headers['x-summon-event'], 'release.live');
  assert.match(String(got.headers['x-summon-delivery']), /^dlv-[0-9a-f]{10}$/);
  assert.equal(got.headers['content-type'], 'application/json');
  assert.equal(got.body.app, 'hooked');
  assert.equal(got.body.data.version, 1);
  assert.equal(typeof got.body.id, 'number');
  assert.match(got.body.message, /v1 is live/);
  // only the subscribed events arrive (no build.started, deploy.started, instance.healthy…)
  assert.deepEqual([...new Set(hook.got.map((g) => g.body.type))], ['release.live']);
});

test('a failing receiver gets retries with backoff, and every attempt is recorded', async () => {
  const h = await c.addWebhook('hooked', flaky.url, ['scale.*']);
  const t0 = Date.now();
  await c.scale('hooked', 2);
  await waitFor(() => flaky.got.length >= 3, { timeoutMs: 15_000, what: 'three attempts at the flaky receiver' });
  const took = Date.now() - t0;
  assert.deepEqual(flaky.got.map((g) => g.answered), [500, 500, 200]);
  assert.deepEqual(flaky.got.map((g) => g.body.type), ['scale.manual', 'scale.manual', 'scale.manual']);
  assert.equal(new Set(flaky.got.map((g) => g.headers['x-summon-delivery'])).size, 1, 'one delivery id across attempts');
  assert.deepEqual(flaky.got.map((g) => g.headers['x-summon-attempt']), ['1', '2', '3']);
  for (const g of flaky.got) assert.ok(verify(h.secret, g));
  assert.ok(took >= 300, `backoff of 100 + 200 ms between attempts (took ${took} ms)`);
  const deliveries = await waitFor(async () => {
    const d = (await c.webhookDeliveries('hooked')).filter((x) => x.webhookId === h.id);
    return d.length >= 3 ? d : null;
  }, { timeoutMs: 5000, what: 'three recorded attempts' });
  assert.deepEqual(deliveries.map((d) => [d.attempt, d.status, d.ok]), [[3, 200, true], [2, 500, false], [1, 500, false]]);
  assert.equal(deliveries[1].error, 'answered 500');

  // the CLI shows the same record
  const out: string[] = [];
  const io = { out: (x: string) => out.push(x), err: (x: string) => out.push(x), env: { ...process.env, SUMMON_API: s.apiUrl, SUMMON_TOKEN: s.token, XDG_CONFIG_HOME: dataDir } };
  assert.equal(await main(['node', 'summon', 'webhooks:deliveries', '-a', 'hooked'], io), 0);
  const text = out.join('\n');
  assert.match(text, /ATTEMPT/);
  assert.match(text, /scale\.manual\s+3\s+200/);
  assert.match(text, /failed: answered 500/);
  out.length = 0;
  assert.equal(await main(['node', 'summon', 'webhooks:remove', '-a', 'hooked', h.id], io), 0);
  assert.equal(await main(['node', 'summon', 'webhooks', '-a', 'hooked', '--json'], io), 0);
  assert.deepEqual(JSON.parse(out.at(-1)!).map((x: { id: string }) => x.id), [(await c.webhooks('hooked'))[0].id]);
  assert.equal(await main(['node', 'summon', 'webhooks:remove', '-a', 'hooked', 'wh-0000000000'], io), 5, 'removing an unknown webhook exits with not_found');
});

test('a crash loop sends an email and an instance.crashloop webhook', async () => {
  await c.scale('hooked', 1);
  await waitFor(async () => (await c.instances('hooked')).filter((i) => i.state === 'healthy').length === 1 && (await c.instances('hooked')).length === 1,
    { timeoutMs: 30_000, what: 'one healthy instance' });
  const [inst] = await c.instances('hooked');
  // kill the instance's process each time it comes back: the agent restarts it with backoff and counts
  for (let n = 1; n <= 3; n++) {
    const cur = await waitFor(async () => (await c.instances('hooked')).find((i) => i.id === inst.id && i.pid !== null && i.restarts === n - 1), { timeoutMs: 20_000, what: `instance running before kill ${n}` });
    process.kill(cur.pid!, 'SIGKILL');
    await waitFor(async () => (await c.instances('hooked')).find((i) => i.id === inst.id && i.restarts === n), { timeoutMs: 20_000, what: `restart ${n} counted` });
  }
  const mail = await waitFor(() => mails.find((m) => /crash-looping/.test(m.raw)), { timeoutMs: 15_000, what: 'the crash-loop email' });
  assert.deepEqual(mail.to, ['ops@example.com', 'oncall@example.com']);
  assert.match(mail.raw, /^From: summon@example\.com$/m);
  assert.match(mail.raw, new RegExp(`^Subject: \\[summon\\] hooked: instance ${inst.id} is crash-looping$`, 'm'));
  assert.match(mail.raw, /killed by SIGKILL/);
  assert.match(mail.raw, /restarts: 3/);
  const loop = await waitFor(() => hook.got.find((g) => g.body.type === 'instance.crashloop'), { timeoutMs: 10_000, what: 'an instance.crashloop delivery' });
  assert.ok(verify(secret, loop));
  assert.equal(loop.body.data.instance, inst.id);
  assert.equal(loop.body.data.restarts, 3);
  assert.equal(mails.filter((m) => /crash-looping/.test(m.raw)).length, 1, 'one email per crash loop, not one per crash');
});

test('a failed release sends an email', async () => {
  // v-next crashes at start (a port it cannot parse): the rollout gives up, the live release keeps serving
  await editFile(repo, 'summon.toml', (t) => t.replace('args   = ["--port", "{port}"]', 'args   = ["--port", "not-a-port"]'));
  await commitAll(repo, 'start on a port the app cannot parse');
  const r = await push(s, repo, 'hooked');
  assert.notEqual(r.code, 0, `the push reports the failed rollout:\n${r.stdout}\n${r.stderr}`);
  const failed = (await c.releases('hooked')).find((x) => x.status === 'failed');
  assert.ok(failed, `a failed release is recorded; push said:\n${r.stdout}\n${r.stderr}`);
  const mail = await waitFor(() => mails.find((m) => /release v\d+ failed/.test(m.raw)), { timeoutMs: 15_000, what: 'the release-failed email' });
  assert.match(mail.raw, new RegExp(`Subject: \\[summon\\] hooked: release v${failed.version} failed`));
  assert.match(mail.raw, /v1 keeps serving/);
  const wh = await waitFor(() => hook.got.find((g) => g.body.type === 'release.failed'), { timeoutMs: 10_000, what: 'a release.failed delivery' });
  assert.equal(wh.body.data.version, failed.version);
  // Seconds after the flaky receiver's third attempt succeeded (removing its webhook does not
  // stop a delivery under way): still three, so a success ends the retries.
  assert.equal(flaky.got.length, 3, 'no attempt after the one that succeeded');
});
