import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

test('an error nothing handled is reported and the process keeps serving', async () => {
  const mod = new URL('./last-resort.js', import.meta.url).href;
  const script = `
    import http from 'node:http';
    const { installLastResort } = await import(${JSON.stringify(mod)});
    installLastResort({ err: (l) => process.stderr.write(l + '\\n') }, 'summon up');
    const server = http.createServer((_q, s) => s.end('still here'));
    server.listen(0, '127.0.0.1', () => {
      setTimeout(() => { throw new Error('boom from a timer'); }, 1);
      setTimeout(() => { void Promise.reject(new Error('boom from a promise')); }, 2);
      setTimeout(async () => {
        const r = await fetch('http://127.0.0.1:' + server.address().port + '/');
        process.stdout.write(await r.text());
        server.close();
      }, 20);
    });`;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout, stderr) =>
      (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }))));
  assert.equal(stdout, 'still here');
  assert.match(stderr, /summon up: internal error \(uncaught exception\), kept running; please report it: Error: boom from a timer/);
  assert.match(stderr, /summon up: internal error \(unhandled rejection\), kept running; please report it: Error: boom from a promise/);
});

test('with a logger, the last resort reports through it: fatal for an exception, error for a rejection', async () => {
  const mod = new URL('./last-resort.js', import.meta.url).href;
  const logger = new URL('../logging/logger.js', import.meta.url).href;
  const script = `
    const { installLastResort } = await import(${JSON.stringify(mod)});
    const { createLogger } = await import(${JSON.stringify(logger)});
    installLastResort({ err: (l) => process.stderr.write('plain: ' + l + '\\n') }, 'summon agent', createLogger({ level: 'info' }));
    setTimeout(() => { throw new Error('boom from a timer'); }, 1);
    setTimeout(() => { void Promise.reject(new Error('boom from a promise')); }, 2);
    setTimeout(() => process.stdout.write('still here'), 20);`;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout, stderr) =>
      (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }))));
  assert.equal(stdout, 'still here');
  const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; err: { stack: string } });
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    [60, 'summon agent: internal error (uncaught exception), kept running; please report it: Error: boom from a timer'],
    [50, 'summon agent: internal error (unhandled rejection), kept running; please report it: Error: boom from a promise'],
  ]);
  assert.match(lines[0].err.stack, /at Timeout/);
});

test('at --log-level silent the last resort still says it, as plain text', async () => {
  const mod = new URL('./last-resort.js', import.meta.url).href;
  const logger = new URL('../logging/logger.js', import.meta.url).href;
  const script = `
    const { installLastResort } = await import(${JSON.stringify(mod)});
    const { createLogger } = await import(${JSON.stringify(logger)});
    installLastResort({ err: (l) => process.stderr.write(l + '\\n') }, 'summon up', createLogger({ level: 'silent' }));
    setTimeout(() => { throw new Error('boom from a timer'); }, 1);
    setTimeout(() => process.stdout.write('still here'), 20);`;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout, stderr) =>
      (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }))));
  assert.equal(stdout, 'still here');
  assert.match(stderr, /^summon up: internal error \(uncaught exception\), kept running; please report it: Error: boom from a timer\n\s+at /);
});
