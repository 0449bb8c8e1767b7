/**
 * A worker's hold on its batch: the lease taken when the worker started, renewed at every progress
 * checkpoint, before any object or part starts with less than half of it left, and on a heartbeat while the
 * worker runs. Once a renewal finds the lease taken by another worker, the keeper says so and the worker
 * stops, so two workers never copy one batch at once.
 */
import type { BatchLease, CopyBatchStore } from '../shared/adapters/copy-batch-store';

export class LeaseKeeper {
  private lease: BatchLease;
  private lost = false;
  private renewing: Promise<boolean> | undefined;
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly store: Pick<CopyBatchStore, 'renewLease'>,
    private readonly runId: string,
    private readonly index: number,
    lease: BatchLease,
    private readonly seconds: number,
    private readonly now: () => number,
  ) {
    this.lease = lease;
    this.heartbeat = setInterval(() => void this.renew().catch(() => undefined), (seconds * 1000) / 3);
    this.heartbeat.unref?.();
  }

  /** The lease as last written. */
  get current(): BatchLease {
    return this.lease;
  }

  /** Calls `listener` once the lease is found lost. */
  onLost(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Renews the lease when less than half of it is left; false once it is lost. Answers at once (no promise)
   * when nothing needs writing, as before almost every object.
   */
  ensure(): boolean | Promise<boolean> {
    if (this.lost) return false;
    if (this.lease.expiresAt - this.now() >= (this.seconds * 1000) / 2) return true;
    return this.renew();
  }

  /** Renews the lease now (one renewal at a time); false once it is lost. */
  renew(): Promise<boolean> {
    if (this.lost) return Promise.resolve(false);
    this.renewing ??= this.store
      .renewLease(this.runId, this.index, this.lease.owner, this.seconds)
      .then((renewed) => {
        if (renewed) this.lease = renewed;
        else this.markLost();
        return renewed !== undefined;
      })
      .finally(() => {
        this.renewing = undefined;
      });
    return this.renewing;
  }

  /** Stops the heartbeat. */
  stop(): void {
    clearInterval(this.heartbeat);
  }

  private markLost(): void {
    if (this.lost) return;
    this.lost = true;
    for (const listener of this.listeners) listener();
  }
}
