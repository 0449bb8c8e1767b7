import { Lanes, mapWithConcurrency } from '../../../../lambdas/shared/copy/concurrency';

/** A promise with its resolve and reject at hand. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Function: mapWithConcurrency', () => {
  it('returns the results in item order, whatever order the work finishes in', async () => {
    const results = await mapWithConcurrency([30, 10, 20], 3, async (ms, i) => {
      await new Promise((r) => setTimeout(r, ms));
      return `${i}:${ms}`;
    });
    expect(results).toEqual(['0:30', '1:10', '2:20']);
  });

  it('keeps at most the limit in flight, and starts the next item when one finishes', async () => {
    const pending = [0, 1, 2, 3, 4].map(() => deferred<number>());
    const started: number[] = [];
    const run = mapWithConcurrency([0, 1, 2, 3, 4], 2, (item) => {
      started.push(item);
      return pending[item].promise;
    });
    await tick();
    expect(started).toEqual([0, 1]);
    pending[1].resolve(1);
    await tick();
    expect(started).toEqual([0, 1, 2]);
    for (const p of pending) p.resolve(0);
    await run;
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });

  it('rejects with the first error once the started calls settle, and starts no new one after it', async () => {
    const pending = [0, 1, 2, 3].map(() => deferred<number>());
    const started: number[] = [];
    const run = mapWithConcurrency([0, 1, 2, 3], 2, (item) => {
      started.push(item);
      return pending[item].promise;
    });
    const outcome = run.then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    await tick();
    pending[0].reject(new Error('first'));
    await tick();
    pending[1].reject(new Error('second'));
    await tick();
    expect(await outcome).toBe('first');
    expect(started).toEqual([0, 1]);
  });

  it('runs one lane for a limit below one, and resolves an empty list', async () => {
    let inFlight = 0;
    let most = 0;
    await mapWithConcurrency([1, 2, 3], 0, async () => {
      most = Math.max(most, ++inFlight);
      await tick();
      inFlight--;
    });
    expect(most).toBe(1);
    await expect(mapWithConcurrency([], 4, async () => 1)).resolves.toEqual([]);
  });
});

describe('Class: Lanes', () => {
  it('lets as many holders in as it has lanes, and hands each freed lane to the longest waiter', async () => {
    const lanes = new Lanes(2);
    const order: string[] = [];
    await lanes.acquire();
    await lanes.acquire();
    const third = lanes.acquire().then(() => order.push('third'));
    const fourth = lanes.acquire().then(() => order.push('fourth'));
    await tick();
    expect(order).toEqual([]);
    lanes.release();
    await third;
    expect(order).toEqual(['third']);
    lanes.release();
    await fourth;
    expect(order).toEqual(['third', 'fourth']);
    lanes.release();
    lanes.release();
    // Both lanes free again: two holders at once, the third waits.
    await lanes.acquire();
    await lanes.acquire();
    let waited = false;
    const fifth = lanes.acquire().then(() => {
      waited = true;
    });
    await tick();
    expect(waited).toBe(false);
    lanes.release();
    await fifth;
    expect(waited).toBe(true);
  });

  it('refuses a number of lanes that is not a whole number above 0', () => {
    expect(() => new Lanes(0)).toThrow('lanes must be a whole number above 0, not 0');
    expect(() => new Lanes(1.5)).toThrow('not 1.5');
  });
});
