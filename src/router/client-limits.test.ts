import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLIENT_LIMIT_DEFAULTS, ConnectionCounts, addressKey, resolveClientLimits } from './client-limits.js';

describe('resolveClientLimits', () => {
  it('fills the defaults, a per-address cap no larger than the global one', () => {
    assert.deepEqual(resolveClientLimits(undefined), CLIENT_LIMIT_DEFAULTS);
    assert.deepEqual(resolveClientLimits({ headerTimeoutMs: undefined }), CLIENT_LIMIT_DEFAULTS);
    assert.equal(resolveClientLimits({ maxConnections: 50 }).maxConnectionsPerAddress, 50);
    assert.equal(resolveClientLimits({ maxConnections: 50, maxConnectionsPerAddress: 20 }).maxConnectionsPerAddress, 20);
  });
  it('refuses bad values, naming the key and the range', () => {
    assert.throws(() => resolveClientLimits({ maxConnections: 0 }), /client\.maxConnections: 0 .*1\.\.1000000/);
    assert.throws(() => resolveClientLimits({ maxConnections: 1.5 }), /client\.maxConnections/);
    assert.throws(() => resolveClientLimits({ maxConnections: 10, maxConnectionsPerAddress: 11 }), /client\.maxConnectionsPerAddress: 11 .*1\.\.10/);
    assert.throws(() => resolveClientLimits({ headerTimeoutMs: 300_001 }), /client\.headerTimeoutMs/);
    assert.throws(() => resolveClientLimits({ headerTimeoutMs: 5 }), /client\.headerTimeoutMs/);
    assert.throws(() => resolveClientLimits({ idleTimeoutMs: '60s' as unknown as number }), /client\.idleTimeoutMs/);
    assert.throws(() => resolveClientLimits(null as unknown as undefined), /client must be an object/);
  });
});

describe('addressKey', () => {
  it('keeps IPv4, unmaps IPv4-mapped IPv6, and folds IPv6 to its /64', () => {
    assert.equal(addressKey('10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:DB8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});

describe('ConnectionCounts', () => {
  it('admits up to each limit, says which one refuses, and frees on release', () => {
    const c = new ConnectionCounts(resolveClientLimits({ maxConnections: 3, maxConnectionsPerAddress: 2 }));
    assert.equal(c.admit('a'), null);
    assert.equal(c.admit('a'), null);
    assert.equal(c.admit('a'), 'address');
    assert.equal(c.admit('b'), null);
    assert.equal(c.admit('c'), 'global');
    assert.equal(c.open, 3);
    c.release('a');
    assert.equal(c.openFrom('a'), 1);
    assert.equal(c.admit('c'), null);
    for (const k of ['a', 'b', 'c']) c.release(k);
    c.release('never-seen');
    assert.equal(c.open, 0);
    assert.equal(c.addresses, 0);
  });
});
