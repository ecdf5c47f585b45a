import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { formatMessage, parseSmtpUrl, sendMail } from './smtp-client.js';

function mailServer(opts: { rejectRcpt?: string } = {}) {
  const got: { from: string; to: string[]; raw: string }[] = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
    onRcptTo(addr, _s, cb) {
      cb(addr.address === opts.rejectRcpt ? Object.assign(new Error('no such user'), { responseCode: 550 }) : undefined);
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (raw += c));
      stream.on('end', () => {
        got.push({ from: String((session.envelope.mailFrom as { address: string }).address), to: session.envelope.rcptTo.map((r) => r.address), raw });
        cb();
      });
    },
  });
  return new Promise<{ port: number; got: typeof got; close: () => Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: (server.server.address() as { port: number }).port, got,
      close: () => new Promise((r) => server.close(() => r())),
    }));
  });
}

test('sendMail delivers a plain-text message with dot-stuffing to every recipient', async () => {
  const m = await mailServer();
  try {
    const text = 'line one\n.a line that starts with a dot\n.\nend';
    const r = await sendMail({ host: '127.0.0.1', port: m.port }, { from: 'summon@example.com', to: ['a@example.com', 'b@example.com'], subject: 'hello\r\nBcc: x@y', text });
    assert.match(r.response, /^250/);
    assert.equal(m.got.length, 1);
    assert.equal(m.got[0].from, 'summon@example.com');
    assert.deepEqual(m.got[0].to, ['a@example.com', 'b@example.com']);
    const [head, body] = m.got[0].raw.split('\r\n\r\n');
    assert.match(head, /^Subject: hello Bcc: x@y$/m, 'line breaks in headers are flattened');
    assert.doesNotMatch(head, /^Bcc:/m);
    // the server un-stuffs the dots: the body arrives exactly as written
    assert.equal(body, `${text.replace(/\n/g, '\r\n')}\r\n`);
  } finally {
    await m.close();
  }
});

test('sendMail fails with the server reply when a recipient is refused', async () => {
  const m = await mailServer({ rejectRcpt: 'nobody@example.com' });
  try {
    await assert.rejects(sendMail({ host: '127.0.0.1', port: m.port }, { from: 's@example.com', to: ['nobody@example.com'], subject: 's', text: 't' }), /RCPT TO nobody@example.com refused: 550/);
    assert.equal(m.got.length, 0);
  } finally {
    await m.close();
  }
});

test('sendMail fails fast when nothing listens', async () => {
  const m = await mailServer();
  const port = m.port;
  await m.close();
  await assert.rejects(sendMail({ host: '127.0.0.1', port }, { from: 's@example.com', to: ['a@example.com'], subject: 's', text: 't' }), /ECONNREFUSED/);
});

test('formatMessage doubles leading dots and uses CRLF; parseSmtpUrl checks the URL', () => {
  const f = formatMessage({ from: 'a@b.c', to: ['d@e.f'], subject: 's', text: '.x\ny' }, new Date(0), '<id@summon>');
  assert.ok(f.endsWith('\r\n\r\n..x\r\ny\r\n'));
  assert.deepEqual(parseSmtpUrl('smtp://127.0.0.1:2525'), { host: '127.0.0.1', port: 2525 });
  assert.deepEqual(parseSmtpUrl('smtp://mail.example.com'), { host: 'mail.example.com', port: 25 });
  assert.throws(() => parseSmtpUrl('http://x'), /smtp:\/\//);
  assert.throws(() => parseSmtpUrl('nope'), /URL/);
});
