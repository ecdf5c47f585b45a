import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConnectFailure, retryDecision, type RetryDecision, type RetryInput } from './retry.js';

const base: RetryInput = { attempts: 1, maxAttempts: 5, connectFailed: false, code: 'ECONNRESET', method: 'GET', bodyStarted: false, resetRetried: false };

describe('retryDecision', () => {
  const table: Array<[string, Partial<RetryInput>, RetryDecision]> = [
    ['refused connect, GET', { connectFailed: true, code: 'ECONNREFUSED' }, { retry: true, reset: false }],
    ['refused connect, POST (nothing was sent)', { connectFailed: true, code: 'ECONNREFUSED', method: 'POST' }, { retry: true, reset: false }],
    ['refused connect at the attempt bound', { connectFailed: true, attempts: 5 }, { retry: false, why: 'It was tried 5 times.' }],
    ['reset GET, first time', {}, { retry: true, reset: true }],
    ['reset HEAD, first time', { method: 'HEAD', code: 'EPIPE' }, { retry: true, reset: true }],
    ['reset GET, second time', { resetRetried: true }, { retry: false, why: 'It was already retried once.' }],
    ['reset POST', { method: 'POST' }, { retry: false, why: 'A POST whose request was sent is not retried, since the app may have acted on it.' }],
    ['reset GET with a body sent', { bodyStarted: true }, { retry: false, why: 'A GET whose request was sent is not retried, since the app may have acted on it.' }],
    ['other failure of a GET', { code: 'EPROTO' }, { retry: false, why: 'This kind of failure is not retried.' }],
    ['reset GET at the attempt bound', { attempts: 5 }, { retry: false, why: 'It was tried 5 times.' }],
  ];
  for (const [name, over, want] of table) {
    it(name, () => assert.deepEqual(retryDecision({ ...base, ...over }), want));
  }
});

describe('isConnectFailure', () => {
  it('counts connect syscalls and connect-time codes, not resets', () => {
    assert.equal(isConnectFailure({ code: 'ECONNREFUSED' }), true);
    assert.equal(isConnectFailure({ code: 'ETIMEDOUT', syscall: 'connect' }), true);
    assert.equal(isConnectFailure({ code: 'EAI_AGAIN' }), true);
    assert.equal(isConnectFailure({ code: 'ECONNRESET', syscall: 'read' }), false);
    assert.equal(isConnectFailure({}), false);
  });
});
