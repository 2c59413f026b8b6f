// The indexer's scheduling, on its own: a burst of requests for one key is
// one run; a request while it runs is one more run afterwards; a failing run
// is retried at doubling intervals until it succeeds, which resets them; a
// drain starts what waits and returns only once nothing runs. Real timers,
// small delays: the counts are exact, the times lower bounds, less EARLY_MS
// (a timer counts from the event loop's cached clock, which may trail
// Date.now() by a few milliseconds on a loaded machine).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedDebouncer, type DebouncerOptions } from '../../src/indexer/debouncer.js';
import { waitFor } from '../helpers/server.js';

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { open, opened };
};

const EARLY_MS = 5;

interface Job { name: string; lane?: string }

const debouncer = (run: (job: Job) => Promise<boolean>, more: Partial<DebouncerOptions<Job>> = {}) =>
  new KeyedDebouncer<Job>({
    run, laneOf: (job) => job.lane ?? 'one', againDelayMs: () => 10, retryBaseMs: 20, retryMaxMs: 80, ...more,
  });

describe('KeyedDebouncer', () => {
  it('coalesces requests for one key within the delay into one run; another key runs apart', async () => {
    const runs: string[] = [];
    const d = debouncer(async (job) => { runs.push(job.name); return false; });
    for (let i = 0; i < 5; i++) d.schedule('a', { name: 'a' }, 30);
    d.schedule('b', { name: 'b' }, 30);
    assert.deepEqual(runs, [], 'nothing runs before the delay');
    await waitFor(async () => runs.length === 2, 5000, 5);
    await sleep(80);
    assert.deepEqual(runs.sort(), ['a', 'b']);
    await d.drain();
  });

  it('runs once more, after its delay, when asked again while it ran; or when the run says it is still behind', async () => {
    const first = gate();
    const runs: number[] = [];
    let behindOnce = false;
    const d = debouncer(async () => {
      runs.push(Date.now());
      if (runs.length === 1) await first.opened;
      if (runs.length === 3) behindOnce = true;
      return runs.length === 3;
    });
    d.schedule('a', { name: 'a' }, 0);
    await waitFor(async () => runs.length === 1, 5000, 5);
    for (let i = 0; i < 3; i++) d.schedule('a', { name: 'a' }, 0);
    await sleep(30);
    assert.equal(runs.length, 1, 'single flight: no second run while the first runs');
    const releasedAt = Date.now();
    first.open();
    await waitFor(async () => runs.length === 2, 5000, 5);
    assert.ok(runs[1]! - releasedAt >= 10 - EARLY_MS, `the run again waited its delay (${runs[1]! - releasedAt} ms)`);
    await sleep(50);
    assert.equal(runs.length, 2, 'three requests during the run made one more run');

    d.schedule('a', { name: 'a' }, 0);
    await waitFor(async () => runs.length === 4, 5000, 5);
    assert.ok(behindOnce);
    await sleep(50);
    assert.equal(runs.length, 4, 'a run still behind ran once more, and that one was not behind');
    await d.drain();
  });

  it('runs one job at a time per lane, in launch order; another lane does not wait', async () => {
    const blocker = gate();
    const order: string[] = [];
    let inLane = 0;
    let most = 0;
    const d = debouncer(async (job) => {
      if (job.lane === 'other') {
        order.push(job.name);
        return false;
      }
      inLane++;
      most = Math.max(most, inLane);
      if (job.name === 'a') await blocker.opened;
      order.push(job.name);
      inLane--;
      return false;
    });
    d.schedule('a', { name: 'a' }, 0);
    await sleep(20);
    d.schedule('b', { name: 'b' }, 0);
    d.schedule('c', { name: 'c' }, 0);
    d.schedule('x', { name: 'x', lane: 'other' }, 0);
    await waitFor(async () => order.includes('x'), 5000, 5);
    assert.deepEqual(order, ['x'], 'the other lane ran while this one was held');
    blocker.open();
    await waitFor(async () => order.length === 4, 5000, 5);
    assert.deepEqual(order, ['x', 'a', 'b', 'c']);
    assert.equal(most, 1);
    await d.drain();
  });

  it('backs off a failing key, doubling up to the max, told once per failure; a success resets it', async () => {
    let failUntil = 5;
    const starts: number[] = [];
    const failures: Array<{ failures: number; retryInMs: number; at: number }> = [];
    const recoveries: number[] = [];
    let onSixthFailure = () => {};
    const d = debouncer(async () => {
      starts.push(Date.now());
      if (starts.length <= failUntil) throw new Error(`failure ${starts.length}`);
      return false;
    }, {
      onFailure: (_job, err, backOff) => {
        assert.match(String(err), /failure/);
        failures.push({ ...backOff, at: Date.now() });
        if (failures.length === 6) onSixthFailure();
      },
      onRecovery: (_job, n) => recoveries.push(n),
    });
    d.schedule('a', { name: 'a' }, 0);
    await waitFor(async () => starts.length === 6, 10_000, 5);
    assert.deepEqual(failures.map((f) => f.retryInMs), [20, 40, 80, 80, 80], 'doubling from the base, capped at the max');
    assert.deepEqual(failures.map((f) => f.failures), [1, 2, 3, 4, 5]);
    for (let i = 0; i < failures.length; i++) {
      const waited = starts[i + 1]! - failures[i]!.at;
      assert.ok(waited >= failures[i]!.retryInMs - EARLY_MS, `retry ${i + 1} came after ${waited} ms, not ${failures[i]!.retryInMs}`);
    }
    assert.deepEqual(recoveries, [5], 'the success is told, with the failures it ends');
    assert.equal(d.isBackingOff('a'), false);

    // A request during a back-off joins the retry: it does not cut it short.
    // (Asked from an immediate after the failure: before any timer can fire.)
    failUntil = 7;
    let backingOffWhenAsked = false;
    const asked = new Promise<void>((resolve) => {
      onSixthFailure = () => setImmediate(() => {
        backingOffWhenAsked = d.isBackingOff('a');
        d.schedule('a', { name: 'a' }, 0);
        resolve();
      });
    });
    d.schedule('a', { name: 'a' }, 0);
    await asked;
    assert.equal(backingOffWhenAsked, true);
    await waitFor(async () => starts.length === 8, 5000, 5);
    assert.deepEqual(failures.slice(5).map((f) => f.retryInMs), [20], 'after the success the back-off starts over');
    assert.ok(starts[7]! - failures[5]!.at >= 20 - EARLY_MS, 'the request did not cut the back-off short');
    await d.drain();
  });

  it('drain starts what waits at once, waits for what runs, retries no failure, and then takes no more work', async () => {
    const slow = gate();
    const runs: string[] = [];
    let failing = 0;
    const d = debouncer(async (job) => {
      runs.push(job.name);
      if (job.name === 'slow') await slow.opened;
      if (job.name === 'failing') {
        failing++;
        throw new Error('still broken');
      }
      return false;
    }, { laneOf: (job) => job.name });
    d.schedule('slow', { name: 'slow' }, 0);
    await waitFor(async () => runs.includes('slow'), 5000, 5);
    d.schedule('later', { name: 'later' }, 60_000);
    d.schedule('failing', { name: 'failing' }, 60_000);
    let drained = false;
    const draining = d.drain().then(() => (drained = true));
    await waitFor(async () => runs.includes('later') && failing === 1, 5000, 5);
    await sleep(50);
    assert.equal(drained, false, 'drain returned while a job still ran');
    slow.open();
    await draining;
    assert.equal(failing, 1, 'a failure during the drain is not retried');
    assert.equal(d.busy(), false);
    d.schedule('after', { name: 'after' }, 0);
    await sleep(30);
    assert.equal(runs.includes('after'), false, 'a drained debouncer takes no more work');
  });

  it('forget drops what waits for matching keys and resolves once their running jobs finish', async () => {
    const held = gate();
    const runs: string[] = [];
    const d = debouncer(async (job) => {
      runs.push(job.name);
      if (job.name === '1/a') await held.opened;
      return false;
    }, { laneOf: (job) => job.name });
    d.schedule('1/a', { name: '1/a' }, 0);
    await waitFor(async () => runs.length === 1, 5000, 5);
    d.schedule('1/b', { name: '1/b' }, 30);
    d.schedule('2/a', { name: '2/a' }, 30);
    let forgotten = false;
    const forgetting = d.forget((key) => key.startsWith('1/')).then(() => (forgotten = true));
    await sleep(60);
    assert.equal(forgotten, false, 'still waiting for the running job');
    held.open();
    await forgetting;
    await sleep(30);
    assert.deepEqual(runs, ['1/a', '2/a'], 'the waiting job of the forgotten keys never ran');
    await d.drain();
  });
});
