import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adviseRightsizing, formatMiB, memoryStep, type Current, type Observations } from './rightsizing.js';

const M = 2 ** 20;
const H = 3_600_000;
const NOW = 1_800_000_000_000;
const base: Observations = {
  windowMs: 24 * H, samples: 86_400, memoryPeakBytes: 100 * M, cpuAvg: 0.3, cpuTotalPeak: 0.5, instancesPeak: 1,
  oomKills: 0, lastRequestAt: NOW - 1000, since: NOW - 24 * H,
};
const cur: Current = { memoryBytes: 128 * M, min: 1, max: 10, targetCpu: 0.8 };

test('memoryStep and formatMiB: powers of two from 16M', () => {
  assert.equal(memoryStep(1), 16 * M);
  assert.equal(memoryStep(16 * M), 16 * M);
  assert.equal(memoryStep(17 * M), 32 * M);
  assert.equal(memoryStep(700 * M), 1024 * M);
  assert.equal(formatMiB(1024 * M), '1G');
  assert.equal(formatMiB(64 * M), '64M');
  assert.equal(formatMiB(23.5 * M), '23.5M');
});

// [name, observations, current, expected items as key:direction:from→to (MiB for memory), note pattern]
const rows: [string, Partial<Observations>, Partial<Current>, string[], RegExp | null][] = [
  ['a well-sized app: nothing', {}, {}, [], /no change suggested over the last 24h \(peak 100M of 128M\)/],
  ['peak well under the reservation: smaller memory', { memoryPeakBytes: 20 * M }, { memoryBytes: 256 * M }, ['run.memory:down:256→32'], null],
  ['shrinking by less than a quarter is not worth it', { memoryPeakBytes: 60 * M }, { memoryBytes: 128 * M }, [], /no change/],
  ['never below 16M', { memoryPeakBytes: 1 * M }, { memoryBytes: 128 * M }, ['run.memory:down:128→16'], null],
  ['an OOM kill: larger memory, even in a short window', { oomKills: 2, windowMs: 60_000, samples: 30 }, {}, ['run.memory:up:128→256'], null],
  ['a peak near the limit: larger memory', { memoryPeakBytes: 120 * M }, {}, ['run.memory:up:128→256'], null],
  ['an OOM kill with a peak past twice the reservation', { oomKills: 1, memoryPeakBytes: 300 * M }, {}, ['run.memory:up:128→512'], null],
  ['too short a window: no advice, says how much is needed', { windowMs: 10 * 60_000, memoryPeakBytes: 10 * M }, {}, [], /not enough observed yet: 10min of the 1h needed/],
  ['too few samples: no memory advice', { samples: 10, memoryPeakBytes: 10 * M }, {}, [], /no change/],
  ['no request in the window with min 1: min 0', { lastRequestAt: null }, {}, ['scale.min:down:1→0'], null],
  ['last request before the window: min 0', { lastRequestAt: NOW - 25 * H }, { min: 2 }, ['scale.min:down:2→0'], null],
  ['min 3 but the peak CPU fits one instance: min 1', { cpuTotalPeak: 0.6 }, { min: 3 }, ['scale.min:down:3→1'], null],
  ['min 4, peak 2 cores at 80%: min 3', { cpuTotalPeak: 2 }, { min: 4 }, ['scale.min:down:4→3'], null],
  ['min 2 and the peak needs 2: nothing', { cpuTotalPeak: 1.5 }, { min: 2 }, [], /no change/],
  ['min 0 is never raised by CPU', { lastRequestAt: null }, { min: 0 }, [], /no change/],
  ['both: smaller memory and min 0', { memoryPeakBytes: 10 * M, lastRequestAt: null }, { memoryBytes: 512 * M }, ['run.memory:down:512→16', 'scale.min:down:1→0'], null],
  ['no memory measured: no memory advice', { memoryPeakBytes: null, cpuTotalPeak: null }, {}, [], /no change suggested over the last 24h$/],
];

for (const [name, o, c, want, note] of rows) {
  test(`rightsizing: ${name}`, () => {
    const a = adviseRightsizing({ ...base, ...o }, { ...cur, ...c });
    const got = a.items.map((i) => `${i.key}:${i.direction}:${i.key === 'run.memory' ? `${i.from / M}→${i.to / M}` : `${i.from}→${i.to}`}`);
    assert.deepEqual(got, want);
    if (note) assert.match(a.note ?? '', note);
    else assert.equal(a.note, null);
    // Every item carries its figures and what to set.
    for (const i of a.items) assert.match(i.reason, /set \[(run|scale)\]\.(memory|min) = /);
  });
}

test('rightsizing: the reason gives the figures', () => {
  const a = adviseRightsizing({ ...base, memoryPeakBytes: 20 * M }, { ...cur, memoryBytes: 256 * M });
  assert.equal(a.items[0].reason, 'peak 20M of the 256M reserved over the last 24h (86400 samples): set [run].memory = "32M" (25% above the peak)');
  const oom = adviseRightsizing({ ...base, oomKills: 3 }, cur);
  assert.equal(oom.items[0].reason, '3 instance(s) killed for going over 128M over the last 24h: set [run].memory = "256M"');
  const short = adviseRightsizing({ ...base, windowMs: 90_000 }, cur, { minWindowMs: 60_000 });
  assert.match(short.note ?? '', /no change suggested over the last 2min/);
  assert.match(adviseRightsizing({ ...base, windowMs: 8000 }, cur).note ?? '', /not enough observed yet: 8s of the 1h needed/);
});
