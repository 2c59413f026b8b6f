// The per-subject lane for expensive credential checks: one check at a time,
// callers served best tier first, bounded waiting per tier, nothing kept once
// a lane is idle.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckLanes } from '../../src/auth/check-lane.js';

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { open, opened };
};

describe('CheckLanes', () => {
  it('runs one check per subject at a time, known callers before clean ones before failing ones', async () => {
    const lanes = new CheckLanes({ known: 2, clean: 2, failing: 2 }, 2);
    const order: string[] = [];
    const first = gate();
    let running = 0;
    let most = 0;
    const job = (name: string, wait?: Promise<void>) => async () => {
      running++;
      most = Math.max(most, running);
      await wait;
      order.push(name);
      running--;
      return name;
    };
    const all = [
      lanes.run('key:a', 'clean', job('blocker', first.opened)),
      lanes.run('key:a', 'failing', job('failing-1')),
      lanes.run('key:a', 'clean', job('clean-1')),
      lanes.run('key:a', 'known', job('known-1')),
      lanes.run('key:b', 'failing', async () => { order.push('other-subject'); return 'other-subject'; }),
    ];
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, ['other-subject'], 'another subject has its own lane');
    first.open();
    assert.deepEqual(await Promise.all(all), ['blocker', 'failing-1', 'clean-1', 'known-1', 'other-subject']);
    assert.deepEqual(order, ['other-subject', 'blocker', 'known-1', 'clean-1', 'failing-1']);
    assert.equal(most, 1, 'one check at a time for one subject');
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(lanes.active, 0, 'idle lanes are dropped');
  });

  it('answers busy once a tier has its bound waiting, without queueing', async () => {
    const lanes = new CheckLanes({ known: 1, clean: 1, failing: 0 }, 2);
    const hold = gate();
    const running = lanes.run('user:7', 'clean', () => hold.opened.then(() => 'ran'));
    const waiting = lanes.run('user:7', 'clean', async () => 'waited');
    assert.equal(await lanes.run('user:7', 'clean', async () => 'never'), 'busy');
    assert.equal(await lanes.run('user:7', 'failing', async () => 'never'), 'busy');
    const known = lanes.run('user:7', 'known', async () => 'known');
    hold.open();
    assert.deepEqual(await Promise.all([running, waiting, known]), ['ran', 'waited', 'known']);
  });

  it('shares one pool across subjects; dummy checks run only when the pool is idle', async () => {
    const lanes = new CheckLanes(undefined, 1);
    const hold = gate();
    const order: string[] = [];
    const a = lanes.run('key:a', 'clean', () => hold.opened.then(() => order.push('a')));
    const b = lanes.run('key:b', 'known', async () => order.push('b'));
    let dummyRan = false;
    await lanes.spare(async () => { dummyRan = true; });
    assert.equal(dummyRan, false, 'skipped while the pool is busy');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, [], 'the other subject waits for the pool');
    hold.open();
    await Promise.all([a, b]);
    assert.deepEqual(order, ['a', 'b']);
    await lanes.spare(async () => { dummyRan = true; });
    assert.equal(dummyRan, true, 'run when the pool is idle');
  });
});
