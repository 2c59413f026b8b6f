// The fixed-window counter behind the failed-authentication and refused-GraphQL
// limits: the event that reaches the limit blocks a name until its window
// ends, and memory stays bounded however many names are sprayed at it
// without the blocked ones being pushed out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WindowCounter } from '../../src/auth/window-counter.js';

const clock = () => {
  let nowMs = 1_000_000;
  return { now: () => nowMs, advance: (ms: number) => { nowMs += ms; } };
};

describe('WindowCounter', () => {
  it('blocks a name at its max-th event, for the rest of the window that opened at its first', () => {
    const t = clock();
    const counter = new WindowCounter({ max: 3, windowMs: 60_000, now: t.now });
    counter.count('203.0.113.1');
    t.advance(10_000);
    counter.count('203.0.113.1');
    assert.equal(counter.blockedFor('203.0.113.1'), null, 'under the limit');
    counter.count('203.0.113.1');
    assert.equal(counter.blockedFor('203.0.113.1'), 50, 'the window opened 10 s ago');
    assert.equal(counter.blockedFor('203.0.113.2'), null, 'another name is not touched');
    t.advance(49_500);
    counter.count('203.0.113.1');
    assert.equal(counter.blockedFor('203.0.113.1'), 1, 'counting while blocked does not extend the block');
    t.advance(500);
    assert.equal(counter.blockedFor('203.0.113.1'), null, 'the block ends with the window');
    counter.count('203.0.113.1');
    assert.equal(counter.blockedFor('203.0.113.1'), null, 'a new window counts from one');
  });

  it('forgets the count of a window that ended', () => {
    const t = clock();
    const counter = new WindowCounter({ max: 2, windowMs: 1_000, now: t.now });
    counter.count('a');
    t.advance(1_000);
    counter.count('a');
    assert.equal(counter.blockedFor('a'), null);
    counter.count('a');
    assert.equal(counter.blockedFor('a'), 1);
  });

  it('with a limit of one, the first event blocks', () => {
    const counter = new WindowCounter({ max: 1, windowMs: 60_000 });
    counter.count('a');
    assert.equal(counter.blockedFor('a'), 60);
  });

  it('stays bounded under sprayed names and keeps the names it blocked', () => {
    const counter = new WindowCounter({ max: 3, windowMs: 60_000, maxCounting: 100, maxBlocked: 50 });
    for (let i = 0; i < 3; i++) counter.count('attacker');
    for (let i = 0; i < 10_000; i++) counter.count(`sprayed-${i}`);
    assert.ok(counter.trackedNames <= 150, `${counter.trackedNames} names held`);
    assert.notEqual(counter.blockedFor('attacker'), null, 'a flood of one-off names does not lift a block');
    for (let n = 0; n < 200; n++) for (let i = 0; i < 3; i++) counter.count(`blocked-${n}`);
    assert.ok(counter.trackedNames <= 150, `${counter.trackedNames} names held`);
    assert.notEqual(counter.blockedFor('blocked-199'), null);
    assert.equal(counter.blockedFor('attacker'), null, 'past maxBlocked the earliest block goes first');
  });

  it('drops the least recently counted name first, not one counted lately', () => {
    const counter = new WindowCounter({ max: 201, windowMs: 60_000, maxCounting: 100 });
    counter.count('regular');
    for (let i = 0; i < 10_000; i++) {
      counter.count(`sprayed-${i}`);
      if (i % 50 === 49) counter.count('regular');
    }
    assert.notEqual(counter.blockedFor('regular'), null, 'all 201 of its events were counted');
  });
});
