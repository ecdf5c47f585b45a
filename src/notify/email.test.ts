// What the operators are mailed, and the mail itself against real SMTP servers on loopback:
// TLS from the start and STARTTLS (a certificate made with openssl for the test), AUTH, a
// refused login or certificate, non-ASCII text, retries with backoff, the pool and close().
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../control/event-bus.js';
import { LogStore } from '../control/log-store.js';
import { createSqliteStore } from '../store/sqlite.js';
import { makeCert, startMailbox, type TestCert } from '../testing/mailbox.js';
import { waitFor } from '../testing/wait.js';
import { describe as mailFor, EMAIL_EVENTS, EmailNotifier, type EmailNotifierOptions } from './email.js';
import { Mailer } from './mailer.js';
import { checkSmtp } from './smtp-config.js';
import type { SummonEvent } from '../core/types.js';

const event = (type: string, app: string | null, message: string, data: Record<string, unknown>): SummonEvent =>
  ({ id: 1, app, type, message, data, at: Date.UTC(2026, 10, 22, 1, 2, 3) });

test('a host that drops off is worth an email, naming the host, its agent and what happens next', () => {
  assert.ok(EMAIL_EVENTS.includes('host.unreachable'));
  const m = mailFor('host.unreachable', event('host.unreachable', null, 'host edge is unreachable: connect ECONNREFUSED', {
    host: 'edge', url: 'http://10.0.0.7:7171', error: 'connect ECONNREFUSED',
  }));
  assert.equal(m.subject, '[summon] host edge is unreachable');
  assert.match(m.text, /^host edge is unreachable: connect ECONNREFUSED$/m);
  assert.match(m.text, /^agent: http:\/\/10\.0\.0\.7:7171$/m);
  assert.match(m.text, /^at: {4}2026-11-22T01:02:03\.000Z$/m);
  assert.match(m.text, /--host-lost-after/);
});

test('the app emails keep their subjects', () => {
  assert.equal(mailFor('release.failed', event('release.failed', 'web', 'v3 failed', { version: 3 })).subject, '[summon] web: release v3 failed');
  assert.match(mailFor('instance.crashloop', event('instance.crashed', 'web', 'x', { instance: 'web-1', restarts: 3 })).subject, /web: instance web-1 is crash-looping/);
  assert.match(mailFor('scale.max', event('scale.max', 'web', 'x', {})).subject, /web: reached its maximum instance count/);
});

test('a certificate certs:auto could not obtain or renew is worth an email, naming the domains, the tries and the expiry', () => {
  assert.ok(EMAIL_EVENTS.includes('cert.failed'));
  const m = mailFor('cert.failed', event('cert.failed', 'shop', 'no certificate for shop.example.com: connection refused', {
    hosts: ['shop.example.com', 'www.shop.example.com'], failures: 3, expiresAt: '2026-12-20T00:00:00.000Z',
  }));
  assert.equal(m.subject, '[summon] shop: no certificate for shop.example.com, www.shop.example.com');
  assert.match(m.text, /^tries: {3}3$/m);
  assert.match(m.text, /expires: 2026-12-20T00:00:00\.000Z/);
  assert.match(m.text, /summon events -a shop/);
});

// ---- against real SMTP servers (smtp-server) with TLS and AUTH, on loopback ----

const USER = 'ops@example.com';
const PASS = 'p@ss:wörd/1';
const userinfo = `${encodeURIComponent(USER)}:${encodeURIComponent(PASS)}`;

let dir = '';
let cert: TestCert;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'summon-email-'));
  cert = await makeCert(dir);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A notifier on a real event bus (SQLite store) and what it said about its mail. */
async function notifier(o: Partial<EmailNotifierOptions> & { smtp: string }) {
  const d = await mkdtemp(join(dir, 'bus-'));
  const store = await createSqliteStore(join(d, 'summon.db'));
  const logs = new LogStore({ dir: join(d, 'logs') });
  const events = new EventBus({ store, logs, now: Date.now });
  await store.createApp('web', Date.now());
  const seen: SummonEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const n = new EmailNotifier({ from: 'summon@example.com', to: ['ops@example.com', 'oncall@example.com'], retryBaseMs: 50, events, ...o });
  const outcome = (type: 'email.sent' | 'email.failed') =>
    waitFor(() => seen.find((e) => e.type === type), { timeoutMs: 15_000, what: `${type} (so far: ${seen.map((e) => `${e.type}: ${e.message}`).join('; ')})` });
  return {
    n, events, seen, outcome,
    /** A failed release of web, which operators are mailed about. */
    fail: (version = 3) => events.emit('web', 'release.failed', `v${version} failed: the build exited 2; v2 keeps serving`, { version }),
    close: async () => {
      await n.close();
      await events.drained();
      await logs.flush();
      await store.close();
    },
  };
}

test('smtps:// with AUTH and --smtp-ca: the mail arrives over TLS from the authenticated user, with its From, To and Subject', async () => {
  const m = await startMailbox({ tls: cert, secure: true, users: { [USER]: PASS } });
  const s = await notifier({ smtp: `smtps://${userinfo}@127.0.0.1:${m.port}`, caFile: cert.certFile });
  try {
    await s.fail();
    const sent = await s.outcome('email.sent');
    assert.equal(m.mails.length, 1);
    const [mail] = m.mails;
    assert.equal(mail.user, USER, 'the server saw the login, the password percent-decoded');
    assert.deepEqual(m.logins, [{ user: USER, ok: true }]);
    assert.equal(mail.secure, true);
    assert.equal(mail.from, 'summon@example.com');
    assert.deepEqual(mail.to, ['ops@example.com', 'oncall@example.com']);
    assert.equal(mail.headers.from, 'summon@example.com');
    assert.equal(mail.headers.to, 'ops@example.com, oncall@example.com');
    assert.equal(mail.subject, '[summon] web: release v3 failed');
    assert.equal(mail.headers['x-summon-event'], 'release.failed');
    assert.equal(mail.headers['x-summon-app'], 'web');
    assert.match(mail.headers['content-type'], /^text\/plain; charset=utf-8$/i);
    assert.match(mail.headers['message-id'], /^<.+@example\.com>$/);
    assert.match(mail.text, /^v3 failed: the build exited 2; v2 keeps serving$/m);
    assert.match(mail.text, /^See: summon releases -a web$/m);
    assert.equal(sent.app, 'web');
    assert.equal(sent.data.attempts, 1);
    assert.equal(sent.data.event, 'release.failed');
    assert.equal(sent.message, 'emailed ops@example.com, oncall@example.com: [summon] web: release v3 failed');
  } finally {
    await s.close();
    await m.close();
  }
});

test('smtp:// upgrades with STARTTLS when the relay offers it, and logs in only then', async () => {
  const m = await startMailbox({ tls: cert, users: { [USER]: PASS } });
  const s = await notifier({ smtp: `smtp://${userinfo}@127.0.0.1:${m.port}`, caFile: cert.certFile });
  try {
    await s.fail();
    await s.outcome('email.sent');
    assert.equal(m.mails[0].secure, true, 'the mail came after STARTTLS');
    assert.equal(m.mails[0].user, USER);
    assert.equal(m.mails[0].subject, '[summon] web: release v3 failed');
  } finally {
    await s.close();
    await m.close();
  }
});

test('smtp:// without TLS on offer: sent in the clear without credentials; refused with ?starttls=required or a password', async () => {
  const m = await startMailbox();
  try {
    const open = await notifier({ smtp: `smtp://127.0.0.1:${m.port}` });
    try {
      await open.fail();
      await open.outcome('email.sent');
      assert.equal(m.mails[0].secure, false);
    } finally {
      await open.close();
    }
    for (const smtp of [`smtp://127.0.0.1:${m.port}?starttls=required`, `smtp://${userinfo}@127.0.0.1:${m.port}`]) {
      const strict = await notifier({ smtp });
      try {
        await strict.fail();
        const failed = await strict.outcome('email.failed');
        assert.match(failed.message, /about release\.failed \(not retried: it would fail the same way\): 127\.0\.0\.1:\d+ did not take STARTTLS/, smtp);
        assert.equal(failed.data.attempts, 1);
        assert.equal(failed.data.permanent, true);
        assert.doesNotMatch(failed.message, /p%40ss|wörd/, 'the password is not in the event');
      } finally {
        await strict.close();
      }
    }
    assert.equal(m.mails.length, 1, 'nothing was sent without TLS where TLS was required');
  } finally {
    await m.close();
  }
});

test('a wrong password ends in email.failed naming the refused login, not retried', async () => {
  const m = await startMailbox({ tls: cert, secure: true, users: { [USER]: PASS } });
  const s = await notifier({ smtp: `smtps://${encodeURIComponent(USER)}:wrong@127.0.0.1:${m.port}`, caFile: cert.certFile });
  try {
    await s.fail();
    const failed = await s.outcome('email.failed');
    assert.equal(failed.app, 'web');
    assert.match(failed.message, /^could not email ops@example\.com, oncall@example\.com about release\.failed \(not retried: it would fail the same way\): /);
    assert.match(String(failed.data.reason), /^authentication failed: 127\.0\.0\.1:\d+ refused the login as "ops@example\.com" \(Invalid login: 535 .*\); check USER:PASSWORD in --smtp$/);
    assert.equal(failed.data.code, 'EAUTH');
    assert.equal(failed.data.responseCode, 535);
    assert.deepEqual(m.logins, [{ user: USER, ok: false }]);
    assert.equal(m.mails.length, 0);
  } finally {
    await s.close();
    await m.close();
  }
});

test('without --smtp-ca a self-signed relay certificate is refused, and the reason says to give it', async () => {
  const m = await startMailbox({ tls: cert, secure: true, users: { [USER]: PASS } });
  const starttls = await startMailbox({ tls: cert, users: { [USER]: PASS } });
  const other = await makeCert(await mkdtemp(join(dir, 'other-')), 'other');
  try {
    for (const smtp of [`smtps://${userinfo}@127.0.0.1:${m.port}`, `smtp://${userinfo}@127.0.0.1:${starttls.port}`]) {
      const s = await notifier({ smtp });
      try {
        await s.fail();
        const failed = await s.outcome('email.failed');
        assert.match(String(failed.data.reason), /^the TLS certificate of 127\.0\.0\.1:\d+ was refused: self-signed certificate; if the relay uses a private or self-signed CA, give its certificate with --smtp-ca FILE$/, smtp);
        assert.equal(failed.data.attempts, 1, 'a refused certificate is not asked again');
      } finally {
        await s.close();
      }
    }
    // another CA than the one that signed it: refused too
    const s = await notifier({ smtp: `smtps://${userinfo}@127.0.0.1:${m.port}`, caFile: other.certFile });
    try {
      await s.fail();
      const failed = await s.outcome('email.failed');
      assert.match(String(failed.data.reason), /^the TLS certificate of 127\.0\.0\.1:\d+ was refused: .*; check that --smtp-ca is the CA that signed it/);
    } finally {
      await s.close();
    }
    assert.deepEqual(m.logins, [], 'no password went to a relay whose certificate was refused');
    assert.deepEqual(starttls.logins, []);
    assert.equal(m.mails.length + starttls.mails.length, 0);
  } finally {
    await m.close();
    await starttls.close();
  }
});

test('smtps:// to a relay that starts in plain text says to use smtp://', async () => {
  const m = await startMailbox();
  const s = await notifier({ smtp: `smtps://127.0.0.1:${m.port}` });
  try {
    await s.fail();
    const failed = await s.outcome('email.failed');
    assert.match(String(failed.data.reason), /^no TLS on 127\.0\.0\.1:\d+ \(wrong version number\): smtps:\/\/ is TLS from the first byte .* use smtp:\/\/$/);
  } finally {
    await s.close();
    await m.close();
  }
});

test('a non-ASCII subject and body arrive intact (UTF-8, encoded words, transfer-encoded body)', async () => {
  const m = await startMailbox({ tls: cert, secure: true, users: { [USER]: PASS } });
  const target = checkSmtp(`smtps://${userinfo}@127.0.0.1:${m.port}`, cert.certFile);
  const mailer = new Mailer(target);
  try {
    const subject = '[summon] café: Grüße — 发布失败 🚀, and a subject long enough to be folded over several lines';
    const text = 'Ünïcödé line\n日本語のログ: 起動に失敗しました\n' + `${'long line '.repeat(20)}end\n.a line starting with a dot\n`;
    await mailer.send({ from: 'summon@example.com', to: ['ops@example.com'], subject: `${subject}\r\nBcc: x@example.com`, text });
    const [mail] = m.mails;
    assert.equal(mail.subject, `${subject} Bcc: x@example.com`, 'line breaks in a header are flattened, no header injected');
    assert.equal(mail.headers.bcc, undefined);
    assert.match(mail.raw, /^Subject: =\?UTF-8\?[QB]\?/m, 'sent as RFC 2047 words');
    assert.doesNotMatch(mail.raw.split('\r\n\r\n')[0], /[^\x00-\x7f]/, 'the header is plain ASCII on the wire');
    assert.equal(mail.text.replace(/\n$/, ''), text.replace(/\n$/, ''));
  } finally {
    mailer.close();
    await m.close();
  }
  // and through the notifier: a crash loop whose last output is not ASCII
  const plain = await startMailbox();
  const s = await notifier({ smtp: `smtp://127.0.0.1:${plain.port}` });
  try {
    await s.events.emit('web', 'instance.crashed', 'web-1 crashed: Fehler beim Öffnen der Datenbank', {
      instance: 'web-1', restarts: 3, lastLines: ['Öffne Datenbank…', 'エラー: 接続できません'],
    });
    await s.outcome('email.sent');
    const [mail] = plain.mails;
    assert.equal(mail.subject, '[summon] web: instance web-1 is crash-looping');
    assert.match(mail.text, /^web-1 crashed: Fehler beim Öffnen der Datenbank$/m);
    assert.match(mail.text, /^ {2}Öffne Datenbank…\n {2}エラー: 接続できません$/m);
  } finally {
    await s.close();
    await plain.close();
  }
});

test('a relay answering 451 is retried with backoff; past the attempts it ends in email.failed', async () => {
  const m = await startMailbox({ tempFailures: 2 });
  const s = await notifier({ smtp: `smtp://127.0.0.1:${m.port}`, retryBaseMs: 100, maxAttempts: 3 });
  try {
    const t0 = Date.now();
    await s.fail();
    const sent = await s.outcome('email.sent');
    assert.ok(Date.now() - t0 >= 300, `waited 100 + 200 ms between the attempts (${Date.now() - t0} ms)`);
    assert.equal(sent.data.attempts, 3);
    assert.equal(m.mails.length, 1);
  } finally {
    await s.close();
    await m.close();
  }
  const down = await startMailbox({ tempFailures: 100 });
  const d = await notifier({ smtp: `smtp://127.0.0.1:${down.port}`, retryBaseMs: 10, maxAttempts: 3 });
  try {
    await d.fail();
    const failed = await d.outcome('email.failed');
    assert.match(failed.message, /about release\.failed \(after 3 attempts\): 127\.0\.0\.1:\d+ refused the message at DATA: Message failed: 451 try again later$/);
    assert.equal(failed.data.responseCode, 451);
    assert.equal(failed.data.permanent, false);
  } finally {
    await d.close();
    await down.close();
  }
});

test('nothing listening: retried, then email.failed with the connection error', async () => {
  const m = await startMailbox();
  const port = m.port;
  await m.close();
  const s = await notifier({ smtp: `smtp://127.0.0.1:${port}`, maxAttempts: 2, retryBaseMs: 10 });
  try {
    await s.fail();
    const failed = await s.outcome('email.failed');
    assert.match(failed.message, new RegExp(`\\(after 2 attempts\\): 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  } finally {
    await s.close();
  }
});

test('one pooled connection carries several mails; close() waits for the mail under way, then closes the pool', async () => {
  const m = await startMailbox({ tls: cert, secure: true, users: { [USER]: PASS } });
  const s = await notifier({ smtp: `smtps://${userinfo}@127.0.0.1:${m.port}`, caFile: cert.certFile, mailer: { maxConnections: 1 } });
  await s.fail(3);
  await s.fail(4);
  await s.fail(5);
  await waitFor(() => s.seen.filter((e) => e.type === 'email.sent').length === 3, { timeoutMs: 15_000, what: 'three mails sent' });
  assert.equal(m.connections(), 1, 'one connection, one login, for the three');
  assert.equal(m.logins.length, 1);
  // mail under way when close() is called: it arrives before close() returns, and so does its event
  await s.fail(6);
  await s.close();
  assert.equal(m.mails.length, 4);
  assert.equal(m.mails[3].subject, '[summon] web: release v6 failed');
  assert.equal(s.seen.filter((e) => e.type === 'email.sent').length, 4);
  await m.close();
});

test('close() cuts a retry wait short: the mail gets one more attempt at once, then email.failed says why it stopped', async () => {
  const m = await startMailbox({ tempFailures: 100 });
  const s = await notifier({ smtp: `smtp://127.0.0.1:${m.port}`, retryBaseMs: 60_000, maxAttempts: 5 });
  try {
    await s.fail();
    // the first attempt is answered 451; then the mail waits 60 s for its next one
    await waitFor(() => m.deferred() === 1, { timeoutMs: 5000, what: 'the first attempt' });
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 10_000, 'close() did not wait out the backoff');
    const failed = s.seen.find((e) => e.type === 'email.failed');
    assert.ok(failed, 'email.failed is stored before close() returns');
    assert.match(failed.message, /\(after 2 attempts; Summon stopped before the remaining retries\): .*451 try again later/);
  } finally {
    await s.close();
    await m.close();
  }
});
