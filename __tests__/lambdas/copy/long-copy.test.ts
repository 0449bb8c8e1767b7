/**
 * A two-hour copy on a simulated clock. Every CopyObject takes 100 s of it; DynamoDB and SNS take none. The
 * reconciler runs every 15 minutes and, at its most eager, sends `advance` every time; every message is
 * delivered twice; workers are time-boxed at 900 s; some copies fail once and Lambda retries their message.
 * The copy stage must still make one CopyObject per object (plus the failed attempts), and never put two
 * workers on one batch at once.
 *
 * The clock is a discrete-event one: it moves to the next wake-up only when no request is in flight and the
 * event loop is idle, so the simulation is deterministic whatever the machine's speed.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import type { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { makeHandler as makeCopyHandler, type CopyContext } from '../../../lambdas/copy/handler';
import { makeHandler as makeReconcileHandler } from '../../../lambdas/reconcile/handler';
import { CopyBatchStore } from '../../../lambdas/shared/adapters/copy-batch-store';
import { RdsGateway } from '../../../lambdas/shared/adapters/rds';
import { RunStore } from '../../../lambdas/shared/adapters/run-store';
import type { PipelineMessage } from '../../../lambdas/shared/domain/messages';
import type { StageFunction } from '../../../lambdas/shared/domain/run';
import { silentLogger } from '../../../lambdas/shared/runtime/logger';
import { capturedMetrics } from '../../support/emf';
import { startMemoryS3, type MemoryS3Handle } from '../../../bench/memory-s3';
import { startDynalite, type DynaliteHandle } from '../../support/dynalite';
import { emulatorS3Client } from '../../support/s3rver';
import { copyingRun, DEST_BUCKET, listAll, seedTablesInfo, snsEvent, SOURCE_BUCKET, testSettings } from './harness';

const OBJECTS = 2_400;
const BATCH_OBJECTS = 300;
const CONCURRENCY = 4;
const COPY_MS = 100_000;
const RECONCILE_EVERY_MS = 15 * 60_000;
const TIMEOUT_MS = 900_000;
/** Every this many CopyObject calls, one fails with a 503 SlowDown (Lambda retries the message). */
const FAIL_EVERY = 389;
const PREFIX = 'exports/run-long/task-1';

const rds = mockClient(RDSClient);
let dynalite: DynaliteHandle;
let memory: MemoryS3Handle;

beforeAll(async () => {
  [dynalite, memory] = await Promise.all([startDynalite(), startMemoryS3([SOURCE_BUCKET, DEST_BUCKET])]);
  const keys = Array.from(
    { length: OBJECTS },
    (_, i) => `${PREFIX}/orders/public.orders/1/part-${String(i).padStart(5, '0')}.gz.parquet`,
  );
  memory.store.seed(SOURCE_BUCKET, keys, Buffer.from('row'));
  seedTablesInfo(memory, PREFIX, ['orders.public.orders']);
});

afterAll(async () => {
  rds.restore();
  await Promise.all([dynalite.stop(), memory.close()]);
});

/** Simulated time: sleepers wake in time order, each once nothing else can happen before it. */
class EventClock {
  now: number;
  /** Requests in flight to the emulators: the clock waits for them. */
  busy = 0;
  private sleepers: Array<{ at: number; wake: () => void }> = [];
  constructor(start: number) {
    this.now = start;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((wake) => this.sleepers.push({ at: this.now + ms, wake }));
  }
  /** Counts the requests of a client as work the clock waits for. */
  watch(client: { middlewareStack: S3Client['middlewareStack'] }): void {
    client.middlewareStack.add(
      (next) => async (args) => {
        this.busy++;
        try {
          return await next(args);
        } finally {
          this.busy--;
        }
      },
      { step: 'initialize', name: `eventClock${randomUUID()}` },
    );
  }
  /** Runs until nothing is left to wake. */
  async run(): Promise<void> {
    for (;;) {
      await this.idle();
      if (this.sleepers.length === 0) return;
      this.sleepers.sort((a, b) => a.at - b.at);
      const at = (this.sleepers[0] as { at: number }).at;
      this.now = Math.max(this.now, at);
      const due = this.sleepers.filter((s) => s.at <= this.now);
      this.sleepers = this.sleepers.filter((s) => s.at > this.now);
      for (const s of due) s.wake();
    }
  }
  private async idle(): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      await new Promise((resolve) => setImmediate(resolve));
      quiet = this.busy === 0 ? quiet + 1 : 0;
    }
  }
}

interface Invocation {
  readonly id: string;
  readonly batch?: number;
}

describe('Copy stage: a long copy with reconciler passes and duplicated deliveries', () => {
  it('makes one CopyObject per object plus the failed attempts, and never has two workers on one batch', async () => {
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [] });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
    const start = Date.parse('2026-05-15T03:00:00.000Z');
    const time = new EventClock(start);
    const clock = () => new Date(time.now);
    const tableName = await dynalite.createRunTable();
    const settings = testSettings(tableName, { copy: { batchMaxObjects: BATCH_OBJECTS, concurrency: CONCURRENCY } });
    const documentClient = dynalite.documentClient();
    time.watch(documentClient as unknown as S3Client);
    const store = new RunStore({
      tableName,
      client: documentClient,
      deadlinesMinutes: settings.stageDeadlinesMinutes,
      retentionDays: 90,
      now: clock,
    });
    const batches = new CopyBatchStore({ tableName, client: documentClient, now: clock });

    const invocation = new AsyncLocalStorage<Invocation>();
    const copiesByKey = new Map<string, number>();
    /** Per batch, the invocations that issued its CopyObject calls, in call order. */
    const copiers = new Map<number, string[]>();
    let failures = 0;
    let calls = 0;

    const s3: S3Client = emulatorS3Client(memory.endpoint, { accessKeyId: 'sim', secretAccessKey: 'sim' });
    time.watch(s3);
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'CopyObjectCommand') return next(args);
        const inv = invocation.getStore();
        const key = String((args.input as { Key?: string }).Key);
        calls++;
        if (inv?.batch !== undefined) copiers.set(inv.batch, [...(copiers.get(inv.batch) ?? []), inv.id]);
        copiesByKey.set(key, (copiesByKey.get(key) ?? 0) + 1);
        const failing = calls % FAIL_EVERY === 0;
        // The copy's time passes with the request not counted as in flight, so that the clock can move.
        time.busy--;
        await time.sleep(COPY_MS);
        time.busy++;
        if (failing) {
          failures++;
          throw Object.assign(new Error('Please reduce your request rate.'), {
            name: 'SlowDown',
            $metadata: { httpStatusCode: 503 },
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'simulatedCopyTime', priority: 'low' },
    );

    // The pipeline topic: each message is delivered twice; a failed invocation is retried (Lambda async: twice).
    const workerMessages = new Map<string, number>();
    const sent = { batch: 0, advance: 0 };
    const publish = async (target: StageFunction, message: PipelineMessage) => {
      if (target !== 'copy') return;
      const from = invocation.getStore();
      if (from?.batch !== undefined && message.kind === 'copy-batch')
        workerMessages.set(from.id, (workerMessages.get(from.id) ?? 0) + 1);
      if (message.kind === 'copy-batch') sent.batch++;
      if (message.kind === 'advance') sent.advance++;
      for (let copy = 0; copy < 2; copy++) void deliver(message, randomUUID(), 0);
    };
    const copy = makeCopyHandler({
      settings,
      store,
      batches,
      s3,
      publisher: { publish },
      logger: silentLogger(),
      principal: async () => 'sim',
      now: () => time.now,
      // A worker stops taking objects with less left than two copies take.
      reserveMillis: 2 * COPY_MS,
    });
    let running = 0;
    let maxRunning = 0;
    const deliver = async (message: PipelineMessage, requestId: string, retry: number): Promise<void> => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      const startedAt = time.now;
      const context: CopyContext = {
        awsRequestId: requestId,
        getRemainingTimeInMillis: () => startedAt + TIMEOUT_MS - time.now,
      };
      const batch = message.kind === 'copy-batch' ? message.batch : undefined;
      try {
        await invocation.run({ id: requestId, batch }, () => copy(snsEvent(message), context));
      } catch {
        if (retry < 2) void deliver(message, requestId, retry + 1);
      } finally {
        running--;
      }
    };
    const reconcileHandler = makeReconcileHandler({
      settings,
      store,
      rds: new RdsGateway(
        new RDSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
      ),
      s3,
      publisher: { publish },
      alerts: { alert: async () => undefined },
      logger: silentLogger(),
      metrics: capturedMetrics(settings.namePrefix).metrics,
      now: clock,
      copyBatches: batches,
      // Every pass treats the run as stalled and sends `advance`: the worst case for amplification.
      stallMinutes: 0,
    });
    let passes = 0;
    const reconciler = async () => {
      for (;;) {
        await time.sleep(RECONCILE_EVERY_MS);
        if ((await store.mustGet('run-long')).stage !== 'COPYING') return;
        passes++;
        await invocation.run({ id: `reconcile-${passes}` }, () => reconcileHandler({}));
      }
    };

    await store.createRun({
      ...copyingRun('run-long', PREFIX),
      stageEnteredAt: { COPYING: clock().toISOString() },
      createdAt: clock().toISOString(),
      updatedAt: clock().toISOString(),
    });
    void reconciler();
    await publish('copy' as StageFunction, { kind: 'copy-plan', runId: 'run-long' });
    await time.run();

    const run = await store.mustGet('run-long');
    expect(run.stage).toBe('CLEANING_UP');
    expect(running).toBe(0);
    // The copy took two hours of the simulated clock, with a reconciler pass every 15 minutes.
    expect(time.now - start).toBeGreaterThanOrEqual(2 * 3_600_000);
    expect(passes).toBeGreaterThanOrEqual(8);
    expect(sent.advance).toBe(passes);
    // One CopyObject per object, plus the attempts that failed and were retried.
    const delivered = await listAll(s3, DEST_BUCKET, 'lake/');
    expect(delivered.filter((o) => o.key.includes('/orders/public.orders/'))).toHaveLength(OBJECTS);
    expect(failures).toBeGreaterThan(0);
    expect(calls).toBe(OBJECTS + 1 + failures);
    expect(copiesByKey.size).toBe(OBJECTS + 1);
    // Never two workers on one batch at once: each batch's calls come from one invocation after another.
    for (const [batch, ids] of copiers) {
      const runs = ids.filter((id, i) => i === 0 || ids[i - 1] !== id);
      expect({ batch, interleaved: runs.length !== new Set(runs).size }).toEqual({ batch, interleaved: false });
    }
    // Workers ran out of time and handed their batch on, each exactly once; no reconciler pass re-sent a batch.
    expect(workerMessages.size).toBeGreaterThanOrEqual(2 * (run.copy?.batchesTotal ?? 0));
    expect([...workerMessages.values()].every((n) => n === 1)).toBe(true);
    expect(sent.batch).toBe((run.copy?.batchesTotal ?? 0) + workerMessages.size);
    s3.destroy();
  }, 300_000);
});
