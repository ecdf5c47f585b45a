import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertConfigForRuntime, checkConfigChange, checkConfigName, CONFIG_LIMITS, configProblem, configValueProblem, rulesFor,
} from './config-vars.js';
import { InvalidInputError, InvalidNameError } from './errors.js';

test('names are environment-variable names: no kernel parameter can be one', () => {
  for (const ok of ['A', 'DATABASE_URL', '_X', 'K8S_HOST', 'A'.repeat(128)]) assert.equal(checkConfigName(ok), ok);
  for (const bad of ['rdinit', 'init', 'rdinit=/bin/sh', 'console', 'Lower', 'a.b', 'A B', '1A', '', 'A-B', 'A=1', 'A'.repeat(129), 'É']) {
    assert.throws(() => checkConfigName(bad), (e: unknown) =>
      e instanceof InvalidNameError && e.code === 'invalid_name' && /environment-variable names.*\^\[A-Z_\]\[A-Z0-9_\]\*\$/.test(e.message), bad);
  }
});

test('VM values are one printable-ASCII word: whatever could split or add a boot argument is refused, naming why', () => {
  for (const ok of ['', 'x', 'https://db.test:5432/a?b=c&d=e', 'YmFzZTY0Lw==', '$(not-run)', '{"a":1}'.replace(/"/g, '')]) {
    assert.equal(configValueProblem('K', ok, 'vm'), undefined, ok);
  }
  const cases: [string, RegExp][] = [
    ['x init=/bin/sh', /holds a space/],
    ['x\tinit=/bin/sh', /control character \(U\+0009\)/],
    ['x\ninit=/bin/sh', /control character \(U\+000A\)/],
    ['say "hi"', /a space|a quote/],
    ["it's", /a quote \(\'\)/],
    ['back\\slash', /a backslash/],
    ['naïve', /outside printable ASCII/],
    ['x\0y', /control character \(U\+0000\)/],
    ['x'.repeat(CONFIG_LIMITS.vm.value + 1), /at most 4096 bytes/],
  ];
  for (const [v, why] of cases) {
    const p = configValueProblem('K', v, 'vm');
    assert.ok(p, JSON.stringify(v));
    assert.match(p, why, JSON.stringify(v));
    assert.match(p, /^config var K /);
  }
});

test('process values take anything an environment string can hold: only NUL and size are refused', () => {
  for (const ok of ['two words', 'say "hi"', 'line1\nline2', 'naïve ☃', 'x'.repeat(CONFIG_LIMITS.process.value)]) {
    assert.equal(configValueProblem('K', ok, 'process'), undefined);
  }
  assert.match(configValueProblem('K', 'a\0b', 'process') ?? '', /NUL/);
  assert.match(configValueProblem('K', 'x'.repeat(CONFIG_LIMITS.process.value + 1), 'process') ?? '', /at most 32768 bytes/);
});

test('rulesFor: process targets get the process rules; VM targets and an app with no release the VM rules', () => {
  assert.equal(rulesFor('process'), 'process');
  for (const t of ['qemu', 'solo5-hvt', 'solo5-spt', undefined, null] as const) assert.equal(rulesFor(t), 'vm');
});

test('configProblem bounds the total, and says which var is wrong', () => {
  const many: Record<string, string> = {};
  for (let i = 0; i < 10; i++) many[`V${i}`] = 'x'.repeat(4000);
  assert.match(configProblem(many, 'vm')?.message ?? '', /come to \d+ bytes; on VM targets they are at most 32768 bytes together/);
  assert.equal(configProblem(many, 'process'), undefined);
  assert.deepEqual(configProblem({ A: '1', rdinit: '/bin/sh' }, 'vm')?.name, 'rdinit');
  assert.equal(configProblem({ legacy_name: 'x' }, 'process', { names: false }), undefined);
});

test('checkConfigChange: the set names and values, then the result under the live target', () => {
  // The attacks of the issue, on a VM app.
  assert.throws(() => checkConfigChange({ rdinit: '/bin/sh' }, { rdinit: '/bin/sh' }, 'qemu'), InvalidNameError);
  assert.throws(() => checkConfigChange({ GREETING: 'hi init=/bin/sh' }, { GREETING: 'hi init=/bin/sh' }, 'qemu'),
    (e: unknown) => e instanceof InvalidInputError && /config var GREETING holds a space: on VM targets .* \(target qemu\)/.test(e.message));
  // No release yet: the stricter rules, saying so.
  assert.throws(() => checkConfigChange({ A: 'two words' }, { A: 'two words' }, undefined), /no release yet, so the VM rules \(the stricter\) apply/);
  // A process app takes spaces; names are the same rule everywhere.
  checkConfigChange({ A: 'two words' }, { A: 'two words' }, 'process');
  assert.throws(() => checkConfigChange({ a: '1' }, { a: '1' }, 'process'), InvalidNameError);
  // A var stored before the rules: kept for processes, named with the way out on VMs.
  checkConfigChange({ B: '1' }, { old_name: 'x y', B: '1' }, 'process');
  assert.throws(() => checkConfigChange({ B: '1' }, { old_name: 'x', B: '1' }, 'qemu'), /"old_name" is not allowed.*summon config:unset old_name/);
});

test('assertConfigForRuntime refuses to start, naming the var, the rule and the fix', () => {
  assertConfigForRuntime({ A: 'ok' }, 'vm', 'qemu');
  assert.throws(() => assertConfigForRuntime({ rdinit: '/bin/sh' }, 'vm', 'qemu'), (e: unknown) =>
    e instanceof InvalidInputError && /^qemu will not start this instance: config var "rdinit" is not allowed: .*summon config:unset rdinit/.test(e.message));
  assert.throws(() => assertConfigForRuntime({ A: 'x init=/bin/sh' }, 'vm', 'solo5-spt'), /solo5-spt will not start this instance: config var A holds a space/);
});
