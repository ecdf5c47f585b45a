// `summon up --smtp … --smtp-ca …` end to end: a real Summon process mails its operators through
// a relay that speaks TLS from the first byte, with a certificate of a private CA (made with
// openssl for the test) and AUTH; bad email flags are refused before anything starts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, waitFor } from '../../src/testing/wait.js';
import { BIN, makeCert, startMailbox, startSummonProcess, tempDir } from './harness.js';

const USER = 'summon@example.com';
const PASS = 'n0t:so/s3cret@all';

test('summon up with smtps://, AUTH and --smtp-ca mails an unreachable host over TLS as the relay user', async (t) => {
  const root = await tempDir('notify-smtp');
  t.after(() => rm(root, { recursive: true, force: true }));
  const cert = await makeCert(root);
  const mailbox = await startMailbox({ tls: cert, secure: true, users: { [USER]: PASS } });
  t.after(() => mailbox.close());
  const ghost = await freePort(); // an agent that is not there: host.unreachable at start
  // The URL with its password comes in through the environment, so it is not in argv.
  const url = `smtps://${encodeURIComponent(USER)}:${encodeURIComponent(PASS)}@127.0.0.1:${mailbox.port}`;
  process.env.SUMMON_SMTP = url;
  let s: Awaited<ReturnType<typeof startSummonProcess>>;
  try {
    s = await startSummonProcess(join(root, 'data'), ['--no-vm', '--agent', `ghost=http://127.0.0.1:${ghost}`,
      '--smtp-ca', cert.certFile, '--mail-from', 'summon@example.com', '--mail-to', 'ops@example.com,oncall@example.com']);
  } finally {
    delete process.env.SUMMON_SMTP;
  }
  t.after(async () => {
    await s.stop();
  });
  const argv = (await readFile(`/proc/${s.proc.pid}/cmdline`, 'utf8')).split('\0');
  assert.ok(!argv.some((a) => a.includes('s3cret')), `the password is not in argv: ${argv.join(' ')}`);

  const mail = await waitFor(() => mailbox.mails.find((m) => m.subject === '[summon] host ghost is unreachable'),
    { timeoutMs: 20_000, what: `the host.unreachable email (summon up said: ${s.output()})` });
  assert.equal(mail.user, USER, 'the relay saw the login');
  assert.equal(mail.secure, true);
  assert.equal(mail.from, 'summon@example.com');
  assert.deepEqual(mail.to, ['ops@example.com', 'oncall@example.com']);
  assert.equal(mail.headers.from, 'summon@example.com');
  assert.equal(mail.headers.to, 'ops@example.com, oncall@example.com');
  assert.match(mail.text, /^host: {2}ghost$/m);
  assert.match(mail.text, /^See: summon hosts$/m);
  assert.ok(mailbox.logins.every((l) => l.ok && l.user === USER));

  // a clean stop closes the pooled connection to the relay
  assert.equal(await s.stop(), 0);
});

test('bad email flags are refused at start, naming the flag and what to do, before anything is made', async (t) => {
  const root = await tempDir('notify-smtp-flags');
  t.after(() => rm(root, { recursive: true, force: true }));
  const data = join(root, 'data');
  const up = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(root, 'config') };
    delete env.SUMMON_SMTP;
    const p = execFile(process.execPath, [BIN, 'up', '--data', data, '--api-port', '0', '--router-port', '0', '--no-vm', ...args], { env, timeout: 20_000 },
      (_err, _stdout, stderr) => resolve({ code: p.exitCode, stderr }));
  });
  const mail = ['--mail-from', 'summon@example.com', '--mail-to', 'ops@example.com'];
  const cases: [string[], RegExp][] = [
    [['--smtp', 'ftp://mail.example.com', ...mail], /--smtp must start with smtp:\/\/ \(STARTTLS when offered\) or smtps:\/\/ \(TLS from the start\), got "ftp:\/\/mail\.example\.com"/],
    [['--smtp', 'smtp://', ...mail], /--smtp needs a host, like smtp:\/\/mail\.example\.com:25/],
    [['--smtp', 'smtps://ops@mail.example.com', ...mail], /--smtp has a user name but no password: write smtps:\/\/USER:PASSWORD@mail\.example\.com/],
    [['--smtp', 'smtps://mail.example.com', '--smtp-ca', join(root, 'missing.pem'), ...mail], /--smtp-ca \S+missing\.pem cannot be read \(ENOENT\): give the PEM file of the CA/],
    [['--smtp-ca', join(root, 'missing.pem')], /--smtp-ca is the CA of the --smtp relay: give --smtp, --mail-from and --mail-to too/],
    [['--smtp', 'smtps://mail.example.com', '--mail-from', 'summon@example.com'], /email notifications need all of --smtp, --mail-from and --mail-to/],
  ];
  for (const [args, want] of cases) {
    const r = await up(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exits with the invalid-input code\n${r.stderr}`);
    assert.match(r.stderr, want, args.join(' '));
  }
  await assert.rejects(stat(data), { code: 'ENOENT' }, 'refused before the data directory was made');
});
