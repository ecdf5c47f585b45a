import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCert } from '../testing/mailbox.js';
import { checkEmailOptions } from './email.js';
import { checkSmtp, parseSmtpUrl, shownSmtpUrl } from './smtp-config.js';

test('smtp:// is port 25 with STARTTLS when offered; smtps:// is TLS from the start on 465', () => {
  assert.deepEqual(parseSmtpUrl('smtp://mail.example.com'),
    { secure: false, host: 'mail.example.com', port: 25, requireTls: false, auth: null, shown: 'smtp://mail.example.com' });
  assert.deepEqual(parseSmtpUrl('smtp://127.0.0.1:2525/'), { secure: false, host: '127.0.0.1', port: 2525, requireTls: false, auth: null, shown: 'smtp://127.0.0.1:2525/' });
  assert.equal(parseSmtpUrl('smtp://[::1]:2525').host, '::1');
  assert.equal(parseSmtpUrl('smtp://mail.example.com:587?starttls=required').requireTls, true);
  assert.equal(parseSmtpUrl('smtp://mail.example.com:587?starttls=auto').requireTls, false);
  const s = parseSmtpUrl('smtps://mail.example.com');
  assert.equal(s.secure, true);
  assert.equal(s.port, 465);
  assert.equal(s.requireTls, false, 'nothing to upgrade: it is TLS already');
});

test('credentials come from the userinfo, percent-decoded, and make STARTTLS required on smtp://', () => {
  const t = parseSmtpUrl('smtps://ops%40example.com:p%40ss%3Aw%C3%B6rd%2F%25@mail.example.com:465');
  assert.deepEqual(t.auth, { user: 'ops@example.com', pass: 'p@ss:wörd/%' });
  assert.equal(t.shown, 'smtps://ops%40example.com:***@mail.example.com:465', 'the password is never shown');
  const plain = parseSmtpUrl('smtp://ops:secret@mail.example.com:587');
  assert.equal(plain.requireTls, true, 'a password is only sent over TLS');
  assert.deepEqual(plain.auth, { user: 'ops', pass: 'secret' });
});

test('bad --smtp URLs are refused naming the flag and the way to write it, never echoing the password', () => {
  const cases: [string, RegExp][] = [
    ['mail.example.com', /--smtp must be a URL like smtp:\/\/mail\.example\.com:25/],
    ['http://mail.example.com', /--smtp must start with smtp:\/\/ \(STARTTLS when offered\) or smtps:\/\/ \(TLS from the start\)/],
    ['smtp+tls://mail.example.com', /--smtp must start with smtp:\/\//],
    ['smtp://', /--smtp needs a host/],
    ['smtps://ops:secret@:465', /--smtp must be a URL like/],
    ['smtp://mail.example.com:0', /--smtp needs a port from 1 to 65535/],
    ['smtp://mail.example.com:70000', /--smtp must be a URL/],
    ['smtp://mail.example.com/relay', /--smtp takes no path/],
    ['smtp://mail.example.com?tls=yes', /--smtp knows only the \?starttls=required parameter, got \?tls=/],
    ['smtp://mail.example.com?starttls=maybe', /starttls must be required .* or auto/],
    ['smtps://mail.example.com?starttls=required', /\?starttls= is for smtp:\/\/ only; smtps:\/\/ is TLS from the first byte/],
    ['smtps://ops@mail.example.com', /--smtp has a user name but no password: write smtps:\/\/USER:PASSWORD@mail\.example\.com/],
    ['smtps://:secret@mail.example.com', /--smtp has a password but no user name/],
    ['smtps://ops:%E0%A4%A@mail.example.com', /the password in smtps:\/\/ops:\*\*\*@mail\.example\.com is not percent-encoded correctly/],
  ];
  for (const [url, want] of cases) {
    assert.throws(() => parseSmtpUrl(url), (e: Error) => {
      assert.match(e.message, want, url);
      assert.doesNotMatch(e.message, /secret|%E0/, `${url}: the password stays out of the message`);
      return true;
    });
  }
  assert.equal(shownSmtpUrl('smtp://u:p@ss@h'), 'smtp://u:***@h');
  assert.equal(shownSmtpUrl('smtp://h:25'), 'smtp://h:25');
});

test('--smtp-ca must be a readable PEM certificate; it is checked at start', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'summon-smtp-ca-'));
  try {
    const { certFile, keyFile, cert } = await makeCert(dir);
    assert.equal(checkSmtp('smtps://h', certFile).ca, cert.trim());
    assert.equal(checkSmtp('smtps://h').ca, null);
    assert.throws(() => checkSmtp('smtps://h', join(dir, 'missing.pem')),
      /--smtp-ca \S+missing\.pem cannot be read \(ENOENT\): give the PEM file of the CA that signed the relay's certificate/);
    assert.throws(() => checkSmtp('smtps://h', dir), /--smtp-ca \S+ cannot be read \(EISDIR\)/);
    assert.throws(() => checkSmtp('smtps://h', keyFile), /--smtp-ca \S+ holds no PEM certificate/);
    const broken = join(dir, 'broken.pem');
    await writeFile(broken, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
    assert.throws(() => checkSmtp('smtps://h', broken), /--smtp-ca \S+broken\.pem: certificate 1 cannot be parsed/);
    // and through the notifier's options, as summon up checks them
    assert.throws(() => checkEmailOptions({ smtp: 'smtps://h', caFile: join(dir, 'missing.pem'), from: 'a@b.c', to: ['d@e.f'] }), /--smtp-ca/);
    assert.throws(() => checkEmailOptions({ smtp: 'smtps://h', from: 'summon', to: ['d@e.f'] }), /--mail-from must be an email address/);
    assert.throws(() => checkEmailOptions({ smtp: 'smtps://h', from: 'a@b.c', to: [] }), /--mail-to needs at least one address/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
