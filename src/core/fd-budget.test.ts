import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { clientConnectionBudget, fdReserve, parseFdLimit } from './fd-budget.js';

test('the open-file limit is read from /proc and client connections are budgeted under it with a reserve', () => {
  const own = parseFdLimit(readFileSync('/proc/self/limits', 'utf8'));
  assert.ok(own && own.soft > 0 && own.hard >= own.soft, JSON.stringify(own));
  assert.deepEqual(parseFdLimit('Max open files            1024                 unlimited            files\n'), { soft: 1024, hard: Number.MAX_SAFE_INTEGER });
  assert.equal(parseFdLimit('nothing here'), null);
  // 20,000 (this kind of machine): 5,000 kept back, 7,500 clients (each may hold an upstream too).
  assert.equal(fdReserve(20_000), 5000);
  assert.equal(clientConnectionBudget(20_000), 7500);
  // A default shell's 1,024: 512 kept back, 256 clients.
  assert.equal(clientConnectionBudget(1024), 256);
  assert.equal(clientConnectionBudget(100), 16, 'never below 16');
});
