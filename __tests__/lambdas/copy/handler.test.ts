import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startDynalite, type DynaliteHandle } from '../../support/dynalite';
import { startS3rver, type S3rverHandle } from '../../support/s3rver';
import type { CopyDeps, CopyHandler } from '../../../lambdas/copy/handler';
import { createDirectCopy } from '../../../lambdas/shared/adapters/s3-copy';
import type { Manifest } from '../../../lambdas/shared/copy/manifest';
import type { PipelineMessage } from '../../../lambdas/shared/domain/messages';
import type { StageFunction } from '../../../lambdas/shared/domain/run';
import {
  copyingRun,
  copyWorld,
  DEST_BUCKET,
  exists,
  instrument,
  listAll,
  PRINCIPAL,
  seedExport,
  snsEvent,
  SOURCE_BUCKET,
  type CopyWorld,
} from './harness';

const BIG_EXPORT = 'exports/big/task-1';
const SMALL_EXPORT = 'exports/small/task-1';
const MEDIUM_EXPORT = 'exports/medium/task-1';
const BIG_DATA = 2_100;

let dynalite: DynaliteHandle;
let s3rver: S3rverHandle;
let s3: S3Client;

beforeAll(async () => {
  [dynalite, s3rver] = await Promise.all([startDynalite(), startS3rver([SOURCE_BUCKET, DEST_BUCKET])]);
  s3 = s3rver.client();
  const big = Array.from({ length: BIG_DATA }, (_, i) => ({
    key: `orders/public.${i < 1500 ? 'orders' : 'customers'}/1/part-${String(i).padStart(5, '0')}.gz.parquet`,
    body: i % 700 === 0 ? 'x'.repeat(4096) : `row ${i}`,
  }));
  const small = Array.from({ length: 6 }, (_, i) => ({
    key: `orders/public.orders/1/part-${i}.gz.parquet`,
    body: `small ${i}`,
  }));
  const medium = Array.from({ length: 120 }, (_, i) => ({
    key: `orders/public.orders/1/part-${String(i).padStart(3, '0')}.gz.parquet`,
    body: `medium ${i}`,
  }));
  seedExport(s3rver, BIG_EXPORT, big, [
    { target: 'orders.public.orders', status: 'COMPLETE' },
    { target: 'orders.public.customers', status: 'COMPLETE' },
  ]);
  seedExport(s3rver, MEDIUM_EXPORT, medium, [{ target: 'orders.public.orders', status: 'COMPLETE' }]);
  seedExport(s3rver, SMALL_EXPORT, small, [{ target: 'orders.public.orders', status: 'COMPLETE' }]);
});

afterAll(async () => {
  s3.destroy();
  await Promise.all([dynalite.stop(), s3rver.stop()]);
});

async function readJson<T>(key: string): Promise<T> {
  const out = await s3.send(new GetObjectCommand({ Bucket: DEST_BUCKET, Key: key }));
  return JSON.parse(await (out.Body as { transformToString(): Promise<string> }).transformToString()) as T;
}

/** A run of `exportPrefix` recorded COPYING and planned: the world, and the copy-batch messages the plan sent. */
async function plannedRun(runId: string, exportPrefix: string, settings?: Parameters<typeof copyWorld>[2]) {
  const world = await copyWorld(dynalite, s3, settings);
  await world.store.createRun(copyingRun(runId, exportPrefix));
  await world.handler()(snsEvent({ kind: 'copy-plan', runId }));
  return { world, sent: world.publisher.takeBatches() };
}

/** Delivers every queued copy-batch message, one after the other, until none is left. */
async function drain(world: CopyWorld, client: S3Client = s3, over: Partial<CopyDeps> = {}): Promise<number> {
  const handler = world.handler(client, over);
  let delivered = 0;
  for (let batches = world.publisher.takeBatches(); batches.length > 0; batches = world.publisher.takeBatches()) {
    for (const b of batches) {
      await handler(snsEvent(b));
      delivered++;
    }
  }
  return delivered;
}

describe('Handler: copy', () => {
  describe('Message: copy-plan and copy-batch', () => {
    it('splits thousands of objects into batches at the count and byte limits and delivers every one (CopyObject sent directly, as deployed), manifest and _SUCCESS last', async () => {
      const world = await copyWorld(dynalite, s3, {
        copy: { batchMaxObjects: 500, batchMaxGiB: 6000 / 1024 ** 3, concurrency: 16 },
      });
      await world.store.createRun(copyingRun('run-big', BIG_EXPORT));

      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-big' }));

      const planned = await world.store.mustGet('run-big');
      const batches = await world.batches.list('run-big');
      const total = BIG_DATA + 2;
      expect(planned.copy).toMatchObject({ objects: total, batchesTotal: batches.length, batchesDone: 0 });
      expect(planned.destinationPrefix).toBe('lake/orders/2024-03-07/run-big');
      expect(batches.every((b) => b.keys.length <= 500 && (b.bytes <= 6000 || b.keys.length === 1))).toBe(true);
      expect(batches.length).toBeGreaterThan(Math.ceil(total / 500));
      expect(batches.flatMap((b) => b.keys)).toHaveLength(total);
      expect(world.publisher.sent.filter((s) => s.message.kind === 'copy-batch')).toHaveLength(batches.length);

      const directCopy = createDirectCopy(s3);
      try {
        expect(await drain(world, s3, { directCopy })).toBe(batches.length);
      } finally {
        directCopy.destroy();
      }
      expect(directCopy.counters).toEqual({ direct: total, sdk: 0, fallbacks: 0 });

      const run = await world.store.mustGet('run-big');
      expect(run.stage).toBe('CLEANING_UP');
      expect(run.outcome).toBe('SUCCEEDED');
      expect(run.copy).toMatchObject({
        objects: total,
        objectsCopied: total,
        batchesDone: batches.length,
        manifestKey: 'lake/orders/2024-03-07/run-big/_manifest.json',
      });
      expect(world.publisher.to('cleanup')).toEqual([{ kind: 'cleanup', runId: 'run-big' }]);

      const delivered = await listAll(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-big/');
      expect(delivered).toHaveLength(total + 2);
      const manifest = await readJson<Manifest>('lake/orders/2024-03-07/run-big/_manifest.json');
      const byKey = new Map(delivered.map((d) => [d.key, d]));
      expect(manifest.objects).toHaveLength(total);
      for (const o of manifest.objects) expect(byKey.get(o.key)).toEqual({ key: o.key, size: o.size, etag: o.etag });
      expect(manifest.objects.find((o) => o.key.endsWith('part-00000.gz.parquet'))).toMatchObject({
        key: 'lake/orders/2024-03-07/run-big/orders/public.orders/1/part-00000.gz.parquet',
        size: 4096,
        table: 'orders.public.orders',
      });
      expect(manifest.tables).toEqual([
        { table: 'orders.public.customers', objects: 600, bytes: expect.any(Number), exportStatus: 'COMPLETE' },
        { table: 'orders.public.orders', objects: 1500, bytes: expect.any(Number), exportStatus: 'COMPLETE' },
      ]);
      expect(manifest.exportTables.map((t) => t.target)).toEqual(['orders.public.orders', 'orders.public.customers']);
      expect(manifest).toMatchObject({
        runId: 'run-big',
        cluster: 'orders',
        exportTaskId: 'aurora-export-tmp-task-1',
        destination: DEST_BUCKET,
        totals: { objects: total },
      });
      expect(byKey.has('lake/orders/2024-03-07/run-big/_export/export_tables_info_task-1_from_1_to_2.json')).toBe(true);
      expect(byKey.get('lake/orders/2024-03-07/run-big/_SUCCESS')?.size).toBe(0);
    });

    it('finalizes exactly once when two workers finish the last batches at the same moment', async () => {
      for (let round = 0; round < 4; round++) {
        const runId = `run-race-${round}`;
        const { world, sent: batches } = await plannedRun(runId, SMALL_EXPORT, { copy: { batchMaxObjects: 4 } });
        expect(batches).toHaveLength(2);

        const client = s3rver.client();
        const puts = instrument(client, 'PutObjectCommand');
        const [a, b] = [world.handler(client), world.handler(client)];
        await Promise.all([a(snsEvent(batches[0])), b(snsEvent(batches[1]))]);

        expect(puts.count()).toBe(2);
        expect(world.publisher.to('cleanup')).toEqual([{ kind: 'cleanup', runId }]);
        expect((await world.store.mustGet(runId)).stage).toBe('CLEANING_UP');
        expect(await exists(s3, DEST_BUCKET, `lake/orders/2024-03-07/${runId}/_SUCCESS`)).toBe(true);
        client.destroy();
      }
    });

    it('resumes a batch after a crash mid-batch, copying only what was not recorded, and writes no _SUCCESS before', async () => {
      const {
        world,
        sent: [first, ...rest],
      } = await plannedRun('run-crash', MEDIUM_EXPORT, { copy: { batchMaxObjects: 100, concurrency: 4 } });

      const crashing = s3rver.client();
      instrument(crashing, 'CopyObjectCommand', {
        call: 61,
        error: () => Object.assign(new Error('connection reset'), { name: 'ECONNRESET' }),
      });
      await expect(world.handler(crashing, { checkpointEvery: 10 })(snsEvent(first))).rejects.toThrow(
        /connection reset/,
      );
      crashing.destroy();

      const afterCrash = await world.batches.get('run-crash', 0);
      expect(afterCrash?.status).toBe('PENDING');
      expect(afterCrash?.done.size).toBe(60);
      expect(await exists(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-crash/_SUCCESS')).toBe(false);
      expect(await exists(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-crash/_manifest.json')).toBe(false);

      const healthy = s3rver.client();
      const copies = instrument(healthy, 'CopyObjectCommand');
      await world.handler(healthy)(snsEvent(first));
      expect(copies.count()).toBe(40);
      expect((await world.batches.get('run-crash', 0))?.status).toBe('DONE');

      for (const b of rest) world.publisher.sent.push({ target: 'copy', message: b });
      await drain(world, healthy);
      healthy.destroy();
      expect((await world.store.mustGet('run-crash')).outcome).toBe('SUCCEEDED');
      expect(await listAll(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-crash/')).toHaveLength(120 + 4);
    });

    it('keeps copying while a progress write is slow, and folds what was done meanwhile into the next write', async () => {
      const {
        world,
        sent: [first],
      } = await plannedRun('run-slow-table', MEDIUM_EXPORT, { copy: { batchMaxObjects: 100, concurrency: 4 } });
      const client = s3rver.client();
      const copies = instrument(client, 'CopyObjectCommand');
      const record = world.batches.recordCopied.bind(world.batches);
      const written: number[] = [];
      // The first progress write holds until 30 more objects are copied: copying must not wait for it.
      const spy = jest.spyOn(world.batches, 'recordCopied').mockImplementation(async (runId, index, entries, parts) => {
        if (written.length === 0) {
          const from = copies.count();
          for (let waited = 0; copies.count() < from + 30; waited += 10) {
            if (waited > 10_000) throw new Error('the copies waited for the progress write');
            await new Promise((r) => setTimeout(r, 10));
          }
        }
        written.push(entries.length);
        return record(runId, index, entries, parts);
      });
      try {
        await world.handler(client, { checkpointEvery: 5 })(snsEvent(first));
      } finally {
        spy.mockRestore();
        client.destroy();
      }
      const batch = await world.batches.get('run-slow-table', 0);
      expect(batch?.status).toBe('DONE');
      expect(batch?.done.size).toBe(100);
      expect(written.reduce((a, b) => a + b, 0)).toBe(100);
      // The write after the held one took everything done meanwhile (30 copies started, at most 4 in flight):
      // fewer writes than the 20 a checkpoint every 5 objects would make.
      expect(written[0]).toBe(5);
      expect(written[1]).toBeGreaterThanOrEqual(25);
      expect(written.length).toBeLessThan(20);
    });

    it('fails the batch when its progress cannot be written, starting no new object after the failure', async () => {
      const {
        world,
        sent: [first],
      } = await plannedRun('run-no-table', MEDIUM_EXPORT, { copy: { batchMaxObjects: 100, concurrency: 4 } });
      const client = s3rver.client();
      const copies = instrument(client, 'CopyObjectCommand');
      const spy = jest
        .spyOn(world.batches, 'recordCopied')
        .mockRejectedValue(
          Object.assign(new Error('throughput exceeded'), { name: 'ProvisionedThroughputExceededException' }),
        );
      try {
        await expect(world.handler(client, { checkpointEvery: 5 })(snsEvent(first))).rejects.toThrow(
          /throughput exceeded/,
        );
      } finally {
        spy.mockRestore();
        client.destroy();
      }
      expect(copies.count()).toBeLessThan(20);
      expect((await world.batches.get('run-no-table', 0))?.status).toBe('PENDING');
    });

    it('counts a redelivered batch once and does not copy it again', async () => {
      const {
        world,
        sent: [first],
      } = await plannedRun('run-dup', SMALL_EXPORT, { copy: { batchMaxObjects: 4 } });
      const client = s3rver.client();
      const copies = instrument(client, 'CopyObjectCommand');
      await world.handler(client)(snsEvent(first));
      await world.handler(client)(snsEvent(first));
      client.destroy();
      expect(copies.count()).toBe(4);
      expect((await world.store.mustGet('run-dup')).copy).toMatchObject({
        batchesDone: 1,
        batchesTotal: 2,
        objectsCopied: 4,
      });
    });

    it('re-queues its batch with the progress kept when the function is about to time out', async () => {
      const {
        world,
        sent: [first],
      } = await plannedRun('run-time', MEDIUM_EXPORT, { copy: { batchMaxObjects: 100, concurrency: 1 } });
      // Each copy takes 3 s of the 120 s left; a worker stops taking objects with less than 60 s left.
      const copies = instrument(s3, 'CopyObjectCommand');
      const before = copies.count();
      await world.handler(s3, { checkpointEvery: 5 })(snsEvent(first), {
        getRemainingTimeInMillis: () => 120_000 - (copies.count() - before) * 3_000,
      });
      const batch = await world.batches.get('run-time', 0);
      expect(batch?.status).toBe('PENDING');
      expect(copies.count() - before).toBe(21);
      expect(batch?.done.size).toBe(21);
      // Handed on exactly once, with the lease of that one message on the batch.
      expect(world.publisher.takeBatches()).toEqual([first]);
      expect(batch?.lease?.owner).toMatch(/^dispatch:/);
    });

    it("lists the manifest's objects in key order across batches, the export's own files in _export/ among the databases", async () => {
      seedExport(
        s3rver,
        'exports/ordered/task-1',
        ['zeta', 'analytics', 'Audit'].map((db) => ({ key: `${db}/public.t/1/part-0.gz.parquet`, body: db })),
        [{ target: 'analytics.public.t', status: 'COMPLETE' }],
      );
      const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 2 } });
      await world.store.createRun(copyingRun('run-ordered', 'exports/ordered/task-1'));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-ordered' }));
      await drain(world);
      const keys = (await readJson<Manifest>('lake/orders/2024-03-07/run-ordered/_manifest.json')).objects.map((o) =>
        o.key.slice('lake/orders/2024-03-07/run-ordered/'.length),
      );
      expect(keys).toEqual([
        'Audit/public.t/1/part-0.gz.parquet',
        '_export/export_info_task-1.json',
        '_export/export_tables_info_task-1_from_1_to_2.json',
        'analytics/public.t/1/part-0.gz.parquet',
        'zeta/public.t/1/part-0.gz.parquet',
      ]);
    });

    it('delivers an empty export as a manifest without objects and _SUCCESS', async () => {
      const world = await copyWorld(dynalite, s3);
      await world.store.createRun(copyingRun('run-empty', 'exports/nothing-here/task-1'));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-empty' }));
      const run = await world.store.mustGet('run-empty');
      expect(run.outcome).toBe('SUCCEEDED');
      expect((await readJson<Manifest>('lake/orders/2024-03-07/run-empty/_manifest.json')).totals).toEqual({
        objects: 0,
        bytes: 0,
      });
      expect(await exists(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-empty/_SUCCESS')).toBe(true);
    });

    it('sends each batch once when two plan messages arrive at the same moment', async () => {
      const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 4 } });
      await world.store.createRun(copyingRun('run-plan-twice', SMALL_EXPORT));
      await Promise.all([
        world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-plan-twice' })),
        world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-plan-twice' })),
      ]);
      expect(world.publisher.takeBatches()).toEqual([
        { kind: 'copy-batch', runId: 'run-plan-twice', batch: 0 },
        { kind: 'copy-batch', runId: 'run-plan-twice', batch: 1 },
      ]);
    });

    it('re-sends no batch while its message is on its way', async () => {
      const { world, sent } = await plannedRun('run-in-flight', SMALL_EXPORT, { copy: { batchMaxObjects: 4 } });
      expect(sent).toHaveLength(2);
      await world.handler()(snsEvent({ kind: 'advance', runId: 'run-in-flight' }));
      expect(world.publisher.takeBatches()).toEqual([]);
    });

    it('does nothing with a delivery of a batch another worker holds', async () => {
      const {
        world,
        sent: [first],
      } = await plannedRun('run-held', SMALL_EXPORT, { copy: { batchMaxObjects: 4 } });
      expect(await world.batches.acquireLease('run-held', 0, 'other-worker', 300)).toBeDefined();
      const copies = instrument(s3, 'CopyObjectCommand');
      await world.handler()(snsEvent(first));
      expect(copies.count()).toBe(0);
      expect((await world.batches.get('run-held', 0))?.lease?.owner).toBe('other-worker');
    });

    it('re-sends only unfinished batches whose message lease ran out when the plan message comes again', async () => {
      const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 4 } });
      await world.store.createRun(copyingRun('run-replan', SMALL_EXPORT));
      // Messages that hold their batch for no time at all: as if each had been lost on its way.
      await world.handler(s3, { dispatchLeaseSeconds: 0 })(snsEvent({ kind: 'copy-plan', runId: 'run-replan' }));
      const [first] = world.publisher.takeBatches();
      await world.handler()(snsEvent(first));
      await world.handler()(snsEvent({ kind: 'advance', runId: 'run-replan' }));
      expect(world.publisher.takeBatches()).toEqual([{ kind: 'copy-batch', runId: 'run-replan', batch: 1 }]);
      expect((await world.batches.list('run-replan')).map((b) => b.status)).toEqual(['DONE', 'PENDING']);
    });
  });

  describe('Bounded fan-out', () => {
    it('sends at most maxWorkers batches; a worker takes the batches never sent on in its own invocation, sending nothing', async () => {
      const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 20, concurrency: 4, maxWorkers: 2 } });
      await world.store.createRun(copyingRun('run-bounded', MEDIUM_EXPORT));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-bounded' }));
      const total = (await world.store.mustGet('run-bounded')).copy?.batchesTotal ?? 0;
      expect(total).toBeGreaterThan(4);

      const wave = world.publisher.takeBatches();
      expect(wave.map((b) => b.batch)).toEqual([0, 1]);
      // Nothing more goes out while both are on their way, whatever the reconciler asks.
      await world.handler()(snsEvent({ kind: 'advance', runId: 'run-bounded' }));
      expect(world.publisher.takeBatches()).toEqual([]);

      // The worker of batch 0 goes on with every batch that never had a message; batch 1 waits for its own.
      await world.handler()(snsEvent(wave[0] as PipelineMessage));
      expect(world.publisher.takeBatches()).toEqual([]);
      expect(await world.batches.pendingIndexes('run-bounded')).toEqual([1]);
      expect((await world.batches.attendance('run-bounded')).attended).toBe(1);

      await world.handler()(snsEvent(wave[1] as PipelineMessage));
      expect(world.publisher.takeBatches()).toEqual([]);
      const run = await world.store.mustGet('run-bounded');
      expect(run.stage).toBe('CLEANING_UP');
      expect(run.copy).toMatchObject({ batchesDone: total, objectsCopied: run.copy?.objects });
    });

    it('tops the workers back up from batches never sent when a finished worker could not send the next', async () => {
      const { world, sent } = await plannedRun('run-topup', MEDIUM_EXPORT, {
        copy: { batchMaxObjects: 40, concurrency: 4, maxWorkers: 1 },
      });
      expect(sent.map((b) => b.batch)).toEqual([0]);
      // The worker of batch 0 died after copying, before it sent the next: the batch is done, nothing is leased.
      await world.batches.markBatchDone('run-topup', 0);
      await world.handler()(snsEvent({ kind: 'advance', runId: 'run-topup' }));
      expect(world.publisher.takeBatches().map((b) => b.batch)).toEqual([1]);
    });
  });

  describe('Taking the next batch on', () => {
    /** A run of the medium export in batches of 10, planned with one worker: only batch 0 has a message. */
    async function oneWorkerRun(runId: string) {
      const {
        world,
        sent: [first, ...others],
      } = await plannedRun(runId, MEDIUM_EXPORT, { copy: { batchMaxObjects: 10, concurrency: 4, maxWorkers: 1 } });
      expect(first?.batch).toBe(0);
      expect(others).toEqual([]);
      return { world, first: first as PipelineMessage };
    }

    it("starts the next batch's copies on the lanes the last copies of its batch free, never more lanes at once", async () => {
      const { world, first } = await oneWorkerRun('run-lanes');
      const lastOfFirst = (await world.batches.get('run-lanes', 0))?.keys.at(-1) as string;
      const client = s3rver.client();
      const copies: Array<{ key: string; start: number; end: number }> = [];
      let inFlight = 0;
      let most = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName !== 'CopyObjectCommand') return next(args);
          const key = (args.input as { Key: string }).Key;
          const copy = { key, start: performance.now(), end: 0 };
          most = Math.max(most, ++inFlight);
          try {
            // The last copy of batch 0 is slow: the lanes the others free go to batch 1 meanwhile.
            if (key.endsWith(lastOfFirst)) await new Promise((resolve) => setTimeout(resolve, 400));
            return await next(args);
          } finally {
            inFlight--;
            copy.end = performance.now();
            copies.push(copy);
          }
        },
        { step: 'initialize', name: 'timeCopies' },
      );
      try {
        await world.handler(client)(snsEvent(first));
      } finally {
        client.destroy();
      }
      const slow = copies.find((c) => c.key.endsWith(lastOfFirst));
      const secondBatch = new Set((await world.batches.get('run-lanes', 1))?.keys);
      const startedMeanwhile = copies.filter(
        (c) => secondBatch.has(c.key.split('/').slice(-4).join('/')) && c.start < (slow?.end ?? 0),
      );
      expect(startedMeanwhile.length).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(4);
      expect(world.publisher.takeBatches()).toEqual([]);
      expect((await world.store.mustGet('run-lanes')).stage).toBe('CLEANING_UP');
    });

    it('sends the next batch as a message instead when no more than twice the reserve is left', async () => {
      const { world, first } = await oneWorkerRun('run-late');
      // 100 s left: enough to copy (the reserve is 60 s), not to take a batch on (120 s).
      await world.handler()(snsEvent(first), { getRemainingTimeInMillis: () => 100_000 });
      expect(await world.batches.pendingIndexes('run-late')).not.toContain(0);
      expect(world.publisher.takeBatches().map((b) => b.batch)).toEqual([1]);
    });

    it('sends the next batch when it is done if it could not take it on', async () => {
      const { world, first } = await oneWorkerRun('run-no-claim');
      jest.spyOn(world.batches, 'nextUndispatched').mockRejectedValueOnce(new Error('ProvisionedThroughputExceeded'));
      await world.handler()(snsEvent(first));
      expect(await world.batches.pendingIndexes('run-no-claim')).not.toContain(0);
      expect(world.publisher.takeBatches().map((b) => b.batch)).toEqual([1]);
    });

    it('hands a batch it took on that fails on with a message of its own, and does not fail the invocation', async () => {
      const { world, first } = await oneWorkerRun('run-taken-fails');
      const client = s3rver.client();
      // Batch 0 copies its 10 objects; every copy after those fails as a broken connection would.
      instrument(client, 'CopyObjectCommand', {
        call: 11,
        error: () => Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }),
      });
      try {
        await world.handler(client)(snsEvent(first));
      } finally {
        client.destroy();
      }
      const [batch0, batch1] = await Promise.all([
        world.batches.get('run-taken-fails', 0),
        world.batches.get('run-taken-fails', 1),
      ]);
      expect(batch0?.status).toBe('DONE');
      expect(batch1?.status).toBe('PENDING');
      expect(batch1?.lease?.owner).toMatch(/^dispatch:/);
      expect(world.publisher.takeBatches().map((b) => b.batch)).toEqual([1]);
    });
  });

  describe('Copying while the listing is planned', () => {
    /** A client that lists in pages of 30 keys, so that the planner records its batches over several pages. */
    function pagedClient(): S3Client {
      const client = s3rver.client();
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'ListObjectsV2Command') (args.input as { MaxKeys?: number }).MaxKeys = 30;
          return next(args);
        },
        { step: 'initialize' },
      );
      return client;
    }

    /**
     * A publisher that delivers every copy-batch message at once, inside the publish that sends it, as a worker
     * that takes it immediately would; it notes whether the plan's totals were recorded at that moment.
     */
    function deliverAtOnce(world: CopyWorld, runId: string, handler: () => CopyHandler) {
      const deliveries: Array<{ batch: number; planRecorded: boolean }> = [];
      const publisher = {
        publish: async (target: StageFunction, message: PipelineMessage) => {
          await world.publisher.publish(target, message);
          if (message.kind !== 'copy-batch') return;
          const run = await world.store.mustGet(runId);
          deliveries.push({ batch: message.batch, planRecorded: run.copy?.batchesTotal !== undefined });
          await handler()(snsEvent(message));
        },
      };
      return { deliveries, publisher };
    }

    it('hands out batches as the planner records them, so copying starts before the listing is read to its end', async () => {
      const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 10, maxWorkers: 2 } });
      await world.store.createRun(copyingRun('run-early', MEDIUM_EXPORT));
      const client = pagedClient();
      let handler: CopyHandler | undefined;
      const { deliveries, publisher } = deliverAtOnce(world, 'run-early', () => handler as CopyHandler);
      handler = world.handler(client, { publisher });
      try {
        await handler(snsEvent({ kind: 'copy-plan', runId: 'run-early' }));
      } finally {
        client.destroy();
      }

      const run = await world.store.mustGet('run-early');
      expect(run.outcome).toBe('SUCCEEDED');
      const total = run.copy?.batchesTotal ?? 0;
      expect(total).toBe(13);
      // Every batch went out once, each while the plan's totals were still unknown: the listing was still being read.
      expect(deliveries.map((d) => d.batch)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(deliveries.every((d) => !d.planRecorded)).toBe(true);
      // Counted once each: by the planner, since none could be counted before the plan was recorded.
      expect(run.copy).toMatchObject({ batchesDone: total, objectsCopied: 122, objects: 122 });
      const manifest = await readJson<Manifest>('lake/orders/2024-03-07/run-early/_manifest.json');
      expect(manifest.objects).toHaveLength(122);
      expect(await exists(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-early/_SUCCESS')).toBe(true);
    });

    it('asks for the next listing page while it records the batches of the page before', async () => {
      const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 10 } });
      await world.store.createRun(copyingRun('run-prefetch', MEDIUM_EXPORT));
      const client = pagedClient();
      const events: string[] = [];
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'ListObjectsV2Command' && !(args.input as { Delimiter?: string }).Delimiter)
            events.push('list');
          return next(args);
        },
        { step: 'initialize' },
      );
      const put = world.batches.putIfAbsent.bind(world.batches);
      const spy = jest.spyOn(world.batches, 'putIfAbsent').mockImplementation(async (...args) => {
        events.push('put');
        return put(...args);
      });
      try {
        await world.handler(client)(snsEvent({ kind: 'copy-plan', runId: 'run-prefetch' }));
      } finally {
        spy.mockRestore();
        client.destroy();
      }
      // Pages of 30 keys: the second page is asked for before the first page's batches are written.
      expect(events.slice(0, 3)).toEqual(['list', 'list', 'put']);
      expect(events.filter((e) => e === 'list')).toHaveLength(5);
      expect((await world.store.mustGet('run-prefetch')).copy?.batchesTotal).toBe(13);
    });

    it('keeps at most maxWorkers - 1 batches out while planning (the planner holds one execution), the rest after', async () => {
      const client = pagedClient();
      try {
        for (const maxWorkers of [1, 3]) {
          const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 10, maxWorkers } });
          const runId = `run-bound-${maxWorkers}`;
          await world.store.createRun(copyingRun(runId, MEDIUM_EXPORT));
          const sentWhilePlanning: number[] = [];
          const publisher = {
            publish: async (target: StageFunction, message: PipelineMessage) => {
              await world.publisher.publish(target, message);
              const run = await world.store.mustGet(runId);
              if (message.kind === 'copy-batch' && run.copy?.batchesTotal === undefined)
                sentWhilePlanning.push(message.batch);
            },
          };
          await world.handler(client, { publisher })(snsEvent({ kind: 'copy-plan', runId }));
          expect(sentWhilePlanning).toEqual(Array.from({ length: maxWorkers - 1 }, (_, i) => i));
          // Once the plan is recorded, the planner's execution is free: one batch more goes out.
          expect(world.publisher.takeBatches().map((b) => b.batch)).toEqual(
            Array.from({ length: maxWorkers }, (_, i) => i),
          );
        }
      } finally {
        client.destroy();
      }
    });

    it('counts the batches finished during planning on the next pass when the planner stopped before counting them', async () => {
      const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 50, maxWorkers: 2 } });
      await world.store.createRun(copyingRun('run-early-crash', MEDIUM_EXPORT));
      let handler: CopyHandler | undefined;
      const { deliveries, publisher } = deliverAtOnce(world, 'run-early-crash', () => handler as CopyHandler);
      handler = world.handler(s3, { publisher });
      const crash = jest
        .spyOn(world.batches, 'uncounted')
        .mockRejectedValueOnce(new Error('the planner stopped after recording the plan'));
      await expect(handler(snsEvent({ kind: 'copy-plan', runId: 'run-early-crash' }))).rejects.toThrow(/stopped/);
      crash.mockRestore();
      const stuck = await world.store.mustGet('run-early-crash');
      expect(stuck.copy).toMatchObject({ batchesTotal: 3, batchesDone: 0 });
      expect(deliveries).toHaveLength(3);

      // The reconciler's advance: the batches are counted from their own items, and the copy is finalized.
      await handler(snsEvent({ kind: 'advance', runId: 'run-early-crash' }));
      const run = await world.store.mustGet('run-early-crash');
      expect(run.outcome).toBe('SUCCEEDED');
      expect(run.copy).toMatchObject({ batchesDone: 3, objectsCopied: 122 });
      expect(deliveries).toHaveLength(3);
    });
  });

  describe('Finalization', () => {
    it('refuses to write _SUCCESS when the recorded progress misses an object', async () => {
      const { world } = await plannedRun('run-partial', SMALL_EXPORT, { copy: { batchMaxObjects: 100 } });
      // The counters and the batch status say everything is in, but the batch's own record lacks objects.
      const batch = await world.batches.get('run-partial', 0);
      await world.batches.markBatchDone('run-partial', 0);
      await world.batches.countBatchDone('run-partial', 0, batch?.keys.length ?? 0, batch?.bytes ?? 0);
      await expect(world.handler()(snsEvent({ kind: 'advance', runId: 'run-partial' }))).rejects.toThrow(
        /not complete .*_SUCCESS is not written/,
      );
      expect(await exists(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-partial/_SUCCESS')).toBe(false);
      expect(await exists(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-partial/_manifest.json')).toBe(false);
      expect((await world.store.mustGet('run-partial')).stage).toBe('COPYING');
    });
  });

  describe('Permanent errors', () => {
    it('fails the run at once when the destination denies the copy, naming principal, action, object and policies', async () => {
      const world = await copyWorld(dynalite, s3, {
        destination: { kmsKeyArn: 'arn:aws:kms:eu-west-1:210987654321:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b' },
      });
      await world.store.createRun(copyingRun('run-denied', SMALL_EXPORT));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-denied' }));
      const [batch] = world.publisher.takeBatches();
      const denied = s3rver.client();
      instrument(denied, 'CopyObjectCommand', {
        call: 1,
        error: () =>
          Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
      });

      await world.handler(denied)(snsEvent(batch));
      denied.destroy();

      const run = await world.store.mustGet('run-denied');
      expect(run.stage).toBe('CLEANING_UP');
      expect(run.outcome).toBe('FAILED');
      expect(run.error?.kind).toBe('DestinationAccessDenied');
      expect(run.error?.message).toContain(PRINCIPAL);
      expect(run.error?.message).toContain('s3:PutObject');
      expect(run.error?.message).toContain('on arn:aws:s3:::client-lake/lake/orders/2024-03-07/run-denied/');
      expect(run.error?.message).toContain('bucket policy of client-lake');
      expect(run.error?.message).toContain('key policy of the client');
      expect(world.publisher.to('cleanup')).toEqual([{ kind: 'cleanup', runId: 'run-denied' }]);
      expect(await exists(s3, DEST_BUCKET, 'lake/orders/2024-03-07/run-denied/_SUCCESS')).toBe(false);
    });

    it('fails the run when the destination bucket does not exist', async () => {
      const {
        world,
        sent: [batch],
      } = await plannedRun('run-nobucket', SMALL_EXPORT, { destination: { bucket: 'no-such-lake' } });
      await world.handler()(snsEvent(batch));
      const run = await world.store.mustGet('run-nobucket');
      expect(run.outcome).toBe('FAILED');
      expect(run.error?.kind).toBe('NoSuchBucket');
      expect(run.error?.message).toContain('arn:aws:s3:::no-such-lake does not exist');
      expect(run.error?.message).toContain('destination.bucket');
    });

    it('throws a transient failure so that Lambda retries it', async () => {
      const {
        world,
        sent: [batch],
      } = await plannedRun('run-flaky', SMALL_EXPORT);
      const flaky = s3rver.client();
      instrument(flaky, 'CopyObjectCommand', {
        call: 1,
        error: () =>
          Object.assign(new Error('We encountered an internal error'), {
            name: 'InternalError',
            $metadata: { httpStatusCode: 500 },
          }),
      });
      await expect(world.handler(flaky)(snsEvent(batch))).rejects.toThrow(/internal error/);
      flaky.destroy();
      expect((await world.store.mustGet('run-flaky')).stage).toBe('COPYING');
    });

    it('refuses to write over the delivery of another snapshot at the same prefix', async () => {
      const world = await copyWorld(dynalite, s3, { destination: { keyPrefixTemplate: 'lake/{cluster}/{dt}' } });
      await world.store.createRun(copyingRun('run-first', SMALL_EXPORT));
      await world.store.createRun(copyingRun('run-second', SMALL_EXPORT));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-first' }));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-second' }));
      const second = await world.store.mustGet('run-second');
      expect(second.outcome).toBe('FAILED');
      expect(second.error?.kind).toBe('DestinationTaken');
      expect(second.error?.message).toContain('lake/orders/dt=2024-03-07');
      expect(second.error?.message).toContain('run-first');
      expect((await world.store.mustGet('run-first')).stage).toBe('COPYING');
    });
  });

  describe('A retry at the prefix of an earlier attempt of the same snapshot', () => {
    const SNAPSHOT = {
      sourceSnapshotId: 'rds:orders-2024-03-07-03-00',
      sourceSnapshotArn: 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2024-03-07-03-00',
    };
    const sharedPrefix = { destination: { keyPrefixTemplate: 'lake/{cluster}/{dt}' } };

    /** The first attempt plans its copy, copies `batches` of its batches, then fails. */
    async function failedFirstAttempt(world: CopyWorld, runId: string, batches: number): Promise<void> {
      await world.store.createRun(copyingRun(runId, SMALL_EXPORT, SNAPSHOT));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId }));
      const planned = world.publisher.takeBatches();
      for (const b of planned.slice(0, batches)) await world.handler()(snsEvent(b));
      await world.store.apply(runId, 'COPYING', { type: 'CopyFailed', kind: 'AccessDenied', message: 'denied' });
    }

    it('fails fast instead of delivering beside what the earlier attempt copied, naming the prefix, the run and both ways out', async () => {
      const world = await copyWorld(dynalite, s3, { ...sharedPrefix, copy: { batchMaxObjects: 4 } });
      await failedFirstAttempt(world, 'run-p1', 1);
      await world.store.createRun(copyingRun('run-p2', SMALL_EXPORT, { ...SNAPSHOT, attempt: 2 }));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-p2' }));
      const second = await world.store.mustGet('run-p2');
      expect(second).toMatchObject({
        stage: 'CLEANING_UP',
        outcome: 'FAILED',
        error: { kind: 'PartialDeliveryPresent' },
      });
      expect(second.error?.message).toContain('lake/orders/dt=2024-03-07/');
      expect(second.error?.message).toContain('run-p1');
      expect(second.error?.message).toContain('runs retry run-p2 --reuse-destination');
      expect(second.error?.message).toContain('add {runId} to destination.keyPrefixTemplate');
      expect(world.publisher.takeBatches()).toEqual([]);
      expect(await world.batches.list('run-p2')).toEqual([]);
    });

    it('takes the prefix over from an earlier attempt that copied nothing there', async () => {
      const world = await copyWorld(dynalite, s3, { ...sharedPrefix, copy: { batchMaxObjects: 4 } });
      await failedFirstAttempt(world, 'run-n1', 0);
      await world.store.createRun(copyingRun('run-n2', SMALL_EXPORT, { ...SNAPSHOT, attempt: 2 }));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-n2' }));
      await drain(world);
      expect(await world.store.mustGet('run-n2')).toMatchObject({
        stage: 'CLEANING_UP',
        outcome: 'SUCCEEDED',
        destinationPrefix: 'lake/orders/dt=2024-03-07',
      });
    });

    it('counts a worker killed before it recorded its copies as having written', async () => {
      const world = await copyWorld(dynalite, s3, { ...sharedPrefix, copy: { batchMaxObjects: 4 } });
      await failedFirstAttempt(world, 'run-k1', 0);
      await world.batches.acquireLease('run-k1', 0, 'killed-worker', 300);
      await world.store.createRun(copyingRun('run-k2', SMALL_EXPORT, { ...SNAPSHOT, attempt: 2 }));
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-k2' }));
      expect((await world.store.mustGet('run-k2')).error?.kind).toBe('PartialDeliveryPresent');
    });

    it('delivers there once the operator retried with reuseDestination, after the client removed the partial objects', async () => {
      const world = await copyWorld(dynalite, s3, { ...sharedPrefix, copy: { batchMaxObjects: 4 } });
      await failedFirstAttempt(world, 'run-r1', 1);
      await world.store.createRun(
        copyingRun('run-r2', SMALL_EXPORT, { ...SNAPSHOT, attempt: 2, reuseDestination: true }),
      );
      await world.handler()(snsEvent({ kind: 'copy-plan', runId: 'run-r2' }));
      await drain(world);
      expect(await world.store.mustGet('run-r2')).toMatchObject({ stage: 'CLEANING_UP', outcome: 'SUCCEEDED' });
      expect(
        await world.batches.destinationStatus(DEST_BUCKET, 'lake/orders/dt=2024-03-07', {
          runId: 'run-r2',
          sourceSnapshotArn: SNAPSHOT.sourceSnapshotArn,
        }),
      ).toEqual({ kind: 'free' });
    });
  });

  describe('Several records', () => {
    it('handles every record of an event and throws the failure of one only after the others are done', async () => {
      const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 4 } });
      await world.store.createRun(copyingRun('run-first', SMALL_EXPORT));
      await world.store.createRun(copyingRun('run-second', SMALL_EXPORT));
      const client = s3rver.client();
      let lists = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'ListObjectsV2Command' && lists++ === 0)
            throw Object.assign(new Error('socket hang up'), { name: 'ECONNRESET' });
          return next(args);
        },
        { step: 'initialize', name: 'fail-first-listing' },
      );
      const [first] = snsEvent({ kind: 'copy-plan', runId: 'run-first' }).Records;
      const [second] = snsEvent({ kind: 'copy-plan', runId: 'run-second' }).Records;
      await expect(world.handler(client)({ Records: [first, second] })).rejects.toThrow('socket hang up');
      client.destroy();
      expect(world.publisher.takeBatches().map((b) => b.runId)).toEqual(['run-second', 'run-second']);
      expect((await world.store.mustGet('run-first')).copy).toBeUndefined();
    });
  });

  describe('Bad input', () => {
    it('ignores messages that are not JSON, not for the copy stage, or for runs that are not copying', async () => {
      const world = await copyWorld(dynalite, s3);
      await world.store.createRun(copyingRun('run-done', SMALL_EXPORT, { stage: 'SUCCEEDED' }));
      const handler = world.handler();
      await handler(snsEvent('not json'));
      await handler(snsEvent({ kind: 'start', clusterId: 'orders' }));
      await handler(snsEvent({ kind: 'copy-plan', runId: 'no-such-run' }));
      await handler(snsEvent({ kind: 'copy-plan', runId: 'run-done' }));
      await handler(snsEvent({ kind: 'copy-batch', runId: 'run-done', batch: 0 }));
      await world.store.createRun(copyingRun('run-odd-batch', SMALL_EXPORT));
      await handler(snsEvent({ kind: 'copy-batch', runId: 'run-odd-batch', batch: 10 ** 6 }));
      expect(world.publisher.sent).toEqual([]);
      expect(await world.batches.list('run-done')).toEqual([]);
    });
  });
});
