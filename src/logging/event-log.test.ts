import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventLevel } from './event-log.js';

test('events that report a failure, a loss or a give-up are warnings; the rest are info', () => {
  for (const t of ['release.failed', 'build.failed', 'instance.crashed', 'instance.crashloop', 'instance.unhealthy', 'instance.lost',
    'host.unreachable', 'webhook.failed', 'email.failed', 'router.upstream_error', 'router.upstream_timeout',
    'router.hold_timeout', 'router.hold_full', 'router.wake_error', 'api.stream_dropped', 'control.error', 'dns.malformed']) {
    assert.equal(eventLevel(t), 'warn', t);
  }
  for (const t of ['release.live', 'release.created', 'build.started', 'build.succeeded', 'instance.started', 'instance.healthy',
    'instance.stopped', 'instance.draining', 'host.connected', 'scale.max', 'scale.out', 'deploy.started', 'router.wake',
    'email.sent', 'app.created', 'config.changed', 'failed.live']) {
    assert.equal(eventLevel(t), 'info', t);
  }
});
