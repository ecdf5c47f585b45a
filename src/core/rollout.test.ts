import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRollout, type PlannedInstance, type RolloutSnapshot } from './rollout.js';

let seq = 0;
function inst(version: number, state: PlannedInstance['state'], extra: Partial<PlannedInstance> = {}): PlannedInstance {
  seq += 1;
  return { id: `i${seq}`, version, state, draining: false, restarts: 0, everHealthy: state === 'healthy', createdAt: seq, reason: null, ...extra };
}
function snap(over: Partial<RolloutSnapshot>): RolloutSnapshot {
  return { desired: 3, liveVersion: 1, targetVersion: null, instances: [], deploy: { maxSurge: 1, maxUnavailable: 0 }, deadlineMs: 60_000, crashLoopRestarts: 3, ...over };
}

test('steady state starts missing instances and drains extras, broken first', () => {
  assert.deepEqual(planRollout(snap({ instances: [inst(1, 'healthy')] }), 100).start, { version: 1, count: 2 });
  const a = inst(1, 'healthy'); const b = inst(1, 'crashed'); const c = inst(1, 'healthy'); const d = inst(1, 'healthy');
  const p = planRollout(snap({ instances: [a, b, c, d] }), 100);
  assert.deepEqual(p.drain, [b.id]);
  assert.equal(p.start, null);
});

test('no release: nothing starts, everything drains', () => {
  const a = inst(1, 'healthy');
  const p = planRollout(snap({ liveVersion: null, instances: [a] }), 0);
  assert.deepEqual(p.drain, [a.id]);
  assert.equal(p.start, null);
});

/** Simulates a rollout, making every started instance healthy one plan later, and checks the
 *  invariants at every step: never more than desired+surge active, never fewer than
 *  desired−unavailable healthy. */
function simulate(desired: number, maxSurge: number, maxUnavailable: number): number {
  let instances = Array.from({ length: desired }, () => inst(1, 'healthy'));
  let steps = 0;
  for (;;) {
    steps += 1;
    assert.ok(steps < 50, 'rollout must finish');
    const p = planRollout(snap({ desired, targetVersion: 2, instances, deploy: { maxSurge, maxUnavailable } }), 1000);
    assert.equal(p.fail, null);
    if (p.promote === 2) break;
    instances = instances.map((i) => (i.state === 'starting' ? { ...i, state: 'healthy', everHealthy: true } : i));
    instances = instances.filter((i) => !p.drain.includes(i.id));
    for (let k = 0; k < (p.start?.count ?? 0); k++) instances.push(inst(p.start!.version, 'starting', { everHealthy: false }));
    const active = instances.length;
    const healthy = instances.filter((i) => i.state === 'healthy').length;
    assert.ok(active <= desired + maxSurge, `active ${active} > ${desired}+${maxSurge}`);
    assert.ok(healthy >= desired - maxUnavailable, `healthy ${healthy} < ${desired}-${maxUnavailable}`);
  }
  assert.ok(instances.every((i) => i.version === 2));
  assert.equal(instances.length, desired);
  return steps;
}

test('rolling update respects max_surge and max_unavailable', () => {
  simulate(3, 1, 0);
  simulate(3, 0, 1);
  simulate(3, 2, 1);
  simulate(1, 1, 0);
  simulate(5, 3, 0);
});

test('a rollout to zero instances promotes at once', () => {
  assert.equal(planRollout(snap({ desired: 0, targetVersion: 2, instances: [] }), 0).promote, 2);
});

test('a crash loop or a missed deadline fails the rollout with the reason', () => {
  const loop = inst(2, 'crashed', { restarts: 3, reason: 'exited with code 1', everHealthy: false });
  const p = planRollout(snap({ targetVersion: 2, instances: [inst(1, 'healthy'), inst(1, 'healthy'), inst(1, 'healthy'), loop] }), 10);
  assert.equal(p.fail?.version, 2);
  assert.match(p.fail!.reason, /failed 3 times.*exited with code 1/);
  const slow = inst(2, 'starting', { createdAt: 0, reason: 'GET /healthy → 500', everHealthy: false });
  const q = planRollout(snap({ targetVersion: 2, instances: [inst(1, 'healthy'), slow] }), 60_001);
  assert.match(q.fail!.reason, /not healthy within 60s: GET \/healthy → 500/);
});

test('an old instance still starting is kept until enough are healthy without it (regression: drained at once after a restart of Summon)', () => {
  // After a restart every instance starts again: v1 (fast) and v2 (slow), desired 1, no unavailability allowed.
  const old = inst(1, 'starting', { everHealthy: true });
  const next = inst(2, 'starting');
  const waiting = planRollout(snap({ desired: 1, targetVersion: 2, instances: [old, next] }), 100);
  assert.deepEqual(waiting.drain, [], 'neither is drained while nothing is healthy');
  // v1 is back first: it serves; still not drained (it is the only healthy one).
  const oldBack = { ...old, state: 'healthy' as const };
  assert.deepEqual(planRollout(snap({ desired: 1, targetVersion: 2, instances: [oldBack, next] }), 100).drain, []);
  // v2 healthy: now v1 goes.
  const nextUp = { ...next, state: 'healthy' as const, everHealthy: true };
  assert.deepEqual(planRollout(snap({ desired: 1, targetVersion: 2, instances: [old, nextUp] }), 100).drain, [old.id], 'a starting old one goes once enough are healthy');
  assert.deepEqual(planRollout(snap({ desired: 1, targetVersion: 2, instances: [oldBack, nextUp] }), 100).drain, [oldBack.id]);
  // A broken old instance still goes at once.
  const crashed = inst(1, 'crashed');
  assert.deepEqual(planRollout(snap({ desired: 1, targetVersion: 2, instances: [crashed, next] }), 100).drain, [crashed.id]);
});
