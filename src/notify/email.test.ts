import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describe as mailFor, EMAIL_EVENTS } from './email.js';
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
