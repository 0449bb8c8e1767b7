/**
 * Runs `work` over `items` with at most `limit` in flight; resolves with results in item order, or rejects
 * with the first error once the calls already started have settled (no new ones start after a failure).
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const lane = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (error) {
        if (!failed) {
          failed = true;
          firstError = error;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failed) throw firstError;
  return results;
}

/**
 * A fixed number of lanes shared by several loops: `acquire` resolves once a lane is free (waiters in the order
 * they asked), `release` frees it for the next. A loop that has nothing more to start leaves its lanes to the
 * others as its last calls finish.
 */
export class Lanes {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`lanes must be a whole number above 0, not ${size}`);
    this.free = size;
  }

  /** Resolves once the caller holds a lane. */
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Frees a lane the caller holds, handing it to the longest waiter. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
