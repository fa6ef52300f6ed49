import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BrokenResourceError,
  CapacityLimiter,
  Condition,
  Event,
  Lock,
  Semaphore,
  StrictFIFOLock,
  WouldBlock,
  currentTime,
  lowlevel,
  moveOnAfter,
  openNursery,
  sleep,
} from 'triode';
import { assertCheckpoints, waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

// ---- Event ---------------------------------------------------------------------------------

test('Event: wait blocks until set; set wakes every waiter; wait on a set event is a checkpoint', mock(async () => {
  const ev = new Event();
  let woken = 0;
  await openNursery(async (n) => {
    for (let i = 0; i < 3; i++) n.startSoon(async () => { await ev.wait(); woken++; });
    await waitAllTasksBlocked();
    assert.is(ev.statistics().tasksWaiting, 3);
    assert.not.ok(ev.isSet());
    ev.set();
    ev.set();
  });
  assert.is(woken, 3);
  assert.ok(ev.isSet());
  await assertCheckpoints(() => ev.wait());
}));

test('Event: a cancelled wait leaves the queue (the cancelled twin)', mock(async () => {
  const ev = new Event();
  assert.is(await moveOnAfter(5, () => ev.wait()), undefined);
  assert.is(ev.statistics().tasksWaiting, 0);
}));

// ---- Lock ----------------------------------------------------------------------------------

for (const LockClass of [Lock, StrictFIFOLock]) {
  const name = LockClass.name;

  test(`${name}: acquire/release, locked, statistics, owner-only release`, mock(async () => {
    const lock = new LockClass();
    assert.not.ok(lock.locked());
    await assertCheckpoints(() => lock.acquire());
    assert.ok(lock.locked());
    assert.is(lock.statistics().owner, lowlevel.currentTask());
    assert.throws(() => lock.acquireNowait(), /re-acquire/);
    await openNursery(async (n) => {
      n.startSoon(async () => {
        assert.throws(() => lock.release(), /don't own/);
        assert.throws(() => lock.acquireNowait(), (e: Error) => e instanceof WouldBlock);
      });
    });
    lock.release();
    assert.not.ok(lock.locked());
    lock.acquireNowait();
    lock.release();
  }));

  test(`${name}: release hands off FIFO, so acquireNowait gets WouldBlock while others wait`, mock(async () => {
    const lock = new LockClass();
    const order: number[] = [];
    await lock.acquire();
    await openNursery(async (n) => {
      for (let i = 0; i < 3; i++) {
        n.startSoon(async () => { await lock.use(async () => { order.push(i); await sleep(1); }); });
        await waitAllTasksBlocked();
      }
      assert.is(lock.statistics().tasksWaiting, 3);
      lock.release();
      assert.ok(lock.locked(), 'handed straight to the first waiter');
      n.startSoon(async () => {
        assert.throws(() => lock.acquireNowait(), (e: Error) => e instanceof WouldBlock);
      });
    });
    assert.equal(order, [0, 1, 2]);
  }));

  test(`${name}: a cancelled acquire never gets the lock (the cancelled twin)`, mock(async () => {
    const lock = new LockClass();
    await lock.acquire();
    await openNursery(async (n) => {
      n.startSoon(async () => {
        assert.is(await moveOnAfter(5, () => lock.acquire()), undefined);
      });
      await sleep(10);
      assert.is(lock.statistics().tasksWaiting, 0);
    });
    lock.release();
    assert.not.ok(lock.locked());
  }));

  test(`${name}: an owner that exits holding it breaks it for the waiters`, mock(async () => {
    const lock = new LockClass();
    await openNursery(async (n) => {
      n.startSoon(async function holder() { await lock.acquire(); await sleep(5); });
      await sleep(1);
      const error = await rejection(lock.acquire());
      assert.instance(error, BrokenResourceError);
      assert.match((error as Error).message, /\(holder\) exited without releasing/);
    });
  }));
}

// ---- Semaphore -----------------------------------------------------------------------------

test('Semaphore: counts, waits at zero, hands off on release, respects maxValue', mock(async () => {
  const sem = new Semaphore(2, { maxValue: 2 });
  assert.is(sem.value, 2);
  assert.is(sem.maxValue, 2);
  await sem.acquire();
  sem.acquireNowait();
  assert.is(sem.value, 0);
  assert.throws(() => sem.acquireNowait(), (e: Error) => e instanceof WouldBlock);
  await openNursery(async (n) => {
    n.startSoon(async () => { await sem.acquire(); });
    await waitAllTasksBlocked();
    assert.is(sem.statistics().tasksWaiting, 1);
    sem.release(); // handed to the waiter
    assert.is(sem.value, 0);
  });
  sem.release();
  sem.release();
  assert.throws(() => sem.release(), /too many times/);
  assert.throws(() => new Semaphore(-1), (e: Error) => e instanceof RangeError);
  assert.throws(() => new Semaphore(3, { maxValue: 2 }), (e: Error) => e instanceof RangeError);
}));

test('Semaphore: a cancelled acquire takes nothing (the cancelled twin); use() limits concurrency', mock(async () => {
  const sem = new Semaphore(0);
  assert.is(await moveOnAfter(5, () => sem.acquire()), undefined);
  sem.release();
  assert.is(sem.value, 1);
  const slots = new Semaphore(2);
  let running = 0;
  let peak = 0;
  await openNursery(async (n) => {
    for (let i = 0; i < 6; i++) {
      n.startSoon(() => slots.use(async () => { running++; peak = Math.max(peak, running); await sleep(10); running--; }));
    }
  });
  assert.is(peak, 2);
  assert.is(currentTime(), 5 + 30);
}));

// ---- Condition -----------------------------------------------------------------------------

test('Condition: wait releases the lock, notify wakes one, notifyAll wakes all, each with the lock', mock(async () => {
  const cond = new Condition();
  const queue: number[] = [];
  const got: number[] = [];
  await openNursery(async (n) => {
    for (let i = 0; i < 3; i++) {
      n.startSoon(() => cond.use(async () => {
        while (queue.length === 0) await cond.wait();
        assert.is(cond.statistics().lockStatistics.owner, lowlevel.currentTask());
        got.push(queue.shift()!);
      }));
    }
    await waitAllTasksBlocked();
    assert.is(cond.statistics().tasksWaiting, 3);
    await cond.use(async () => { queue.push(1); cond.notify(); });
    await waitAllTasksBlocked();
    await cond.use(async () => { queue.push(2, 3); cond.notifyAll(); });
  });
  assert.equal(got, [1, 2, 3]);
  assert.throws(() => cond.notify(), /must hold the lock/);
  assert.match(((await rejection(cond.wait())) as Error).message, /must hold the lock/);
}));

test('Condition: a cancelled wait re-acquires the lock before raising (the cancelled twin)', mock(async () => {
  const cond = new Condition();
  let heldAfterCancel = false;
  let finallyRan = false;
  await openNursery(async (n) => {
    n.startSoon(async () => {
      await moveOnAfter(5, async () => {
        await cond.acquire();
        try {
          await cond.wait();
        } finally {
          finallyRan = true;
          heldAfterCancel = cond.statistics().lockStatistics.owner === lowlevel.currentTask();
          cond.release();
        }
      });
    });
    await waitAllTasksBlocked(); // the child waits in wait(); the lock is free
    await cond.acquire();
    await sleep(10); // the child's timeout fires while we hold the lock: it must wait for it
    assert.not.ok(finallyRan);
    cond.release();
  });
  assert.ok(finallyRan);
  assert.ok(heldAfterCancel);
}));

// ---- CapacityLimiter -----------------------------------------------------------------------

test('CapacityLimiter: tokens, borrowers, statistics, double borrow and bad release', mock(async () => {
  const limiter = new CapacityLimiter(2);
  await limiter.acquire();
  assert.is(limiter.borrowedTokens, 1);
  assert.is(limiter.availableTokens, 1);
  const err = await rejection(limiter.acquire());
  assert.not.instance(err, WouldBlock);
  assert.match((err as Error).message, /already holds/);
  limiter.acquireOnBehalfOfNowait('job-1');
  assert.throws(() => limiter.acquireOnBehalfOfNowait('job-2'), (e: Error) => e instanceof WouldBlock);
  const stats = limiter.statistics();
  assert.is(stats.borrowedTokens, 2);
  assert.is(stats.totalTokens, 2);
  assert.is(stats.borrowers.length, 2);
  limiter.releaseOnBehalfOf('job-1');
  limiter.release();
  assert.throws(() => limiter.release(), /isn't holding/);
  assert.throws(() => new CapacityLimiter(-1), (e: Error) => e instanceof RangeError);
  assert.throws(() => new CapacityLimiter(1.5), (e: Error) => e instanceof RangeError);
}));

test('CapacityLimiter: waiters are served FIFO; raising totalTokens wakes them at once', mock(async () => {
  const limiter = new CapacityLimiter(1);
  const order: string[] = [];
  await limiter.acquireOnBehalfOf('holder');
  await openNursery(async (n) => {
    for (const who of ['a', 'b', 'c']) {
      n.startSoon(async () => { await limiter.acquireOnBehalfOf(who); order.push(who); });
      await waitAllTasksBlocked();
    }
    assert.is(limiter.statistics().tasksWaiting, 3);
    limiter.totalTokens = 3;
    await waitAllTasksBlocked();
    assert.equal(order, ['a', 'b']);
    limiter.releaseOnBehalfOf('holder');
  });
  assert.equal(order, ['a', 'b', 'c']);
  assert.is(limiter.borrowedTokens, 3);
}));

test('CapacityLimiter: a cancelled acquire takes no token (the cancelled twin)', mock(async () => {
  const limiter = new CapacityLimiter(1);
  await limiter.acquireOnBehalfOf('holder');
  assert.is(await moveOnAfter(5, () => limiter.acquireOnBehalfOf('late')), undefined);
  limiter.releaseOnBehalfOf('holder');
  assert.is(limiter.borrowedTokens, 0);
  assert.is(limiter.statistics().tasksWaiting, 0);
}));

test('CapacityLimiter.use: a task cancelled while queued takes no token; the queue keeps its order', mock(async () => {
  const limiter = new CapacityLimiter(1);
  const order: string[] = [];
  let running = 0;
  let most = 0;
  const job = (name: string) => async () => {
    running++;
    most = Math.max(most, running);
    await sleep(1);
    order.push(name);
    running--;
  };
  await openNursery(async (n) => {
    for (const name of ['a', 'b', 'c', 'd']) {
      if (name === 'c') n.startSoon(() => moveOnAfter(0.5, () => limiter.use(job(name))));
      else n.startSoon(() => limiter.use(job(name)));
    }
  });
  assert.equal(order, ['a', 'b', 'd']);
  assert.is(most, 1);
  assert.is(limiter.borrowedTokens, 0);
  assert.is(limiter.statistics().tasksWaiting, 0);
}));

test.run();
