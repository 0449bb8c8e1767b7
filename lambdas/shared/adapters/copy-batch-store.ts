/**
 * Copy batches on the run table, next to their run: `sk` = `BATCH#<nnnnnn>` items holding the batch's objects
 * and per-object progress, plus the few attributes of the run item that make completion exactly-once.
 *
 * DynamoDB conditional updates do all the coordination (no transactions):
 * - per-object progress is written as small progress items (`BATCH#<nnnnnn>#P#<unique>`) as objects finish,
 *   never by rewriting the batch item, so a checkpoint costs the same at the end of a batch as at its start
 *   and a worker killed mid-batch redoes only the objects it had not recorded;
 * - marking a batch done adds its id to the run's string set `copyBatchesDoneIds` and bumps the counters in
 *   `copy` in one update, on the condition that the id is not in the set yet: counted once, however often
 *   it is retried;
 * - finalization is claimed with a conditional write on `copyFinalizeClaim`, so of two workers that finish
 *   the last batches together exactly one finalizes;
 * - a worker adds one to its batch's `inFlight` counter (on the lease item) before it copies and takes it off once what it copied
 *   is recorded, so a batch left above zero names a worker killed in between, whose copies may have landed
 *   unrecorded: with the progress items, that tells whether a run wrote anything at its destination;
 * - a batch is worked by whoever holds its lease (`lease` = `{ owner, expiresAt }`, epoch milliseconds, on the
 *   batch's small lease item `BATCH#<nnnnnn>#L`): a message on its way holds a `dispatch` lease, a worker
 *   holds its own and renews it at every checkpoint.
 *   A batch is only sent again, and only taken by a worker, once no live lease is on it, so duplicate
 *   deliveries and repeated reconciler passes never put two workers on one batch;
 * - a multipart copy records its upload id and then each completed part (number and ETag) as progress items
 *   too, so the next invocation continues the same upload where the last one stopped.
 */
import { randomUUID } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type NativeAttributeValue,
} from '@aws-sdk/lib-dynamodb';
import { RunTableLayout } from '../contracts/table-layout';
import { BATCH_ID_DIGITS, batchId, type CopyBatch } from '../copy/batching';

const L = RunTableLayout;

/** Attributes of the run item owned by the copy stage (beside the engine's `copy` progress map). */
export const CopyRunAttributes = {
  /** String set of batch ids counted as done. */
  doneIds: 'copyBatchesDoneIds',
  /** `{ owner, at }`: who finalizes the copy, since when. */
  finalizeClaim: 'copyFinalizeClaim',
  /** How many batches, in index order, have been handed out for their first message. */
  dispatched: 'copyBatchesDispatched',
  /** How many batches, in index order, the planner has recorded so far: what may be handed out before the plan's totals are. */
  planned: 'copyBatchesPlanned',
  /** Batches handed out for their first message and not marked done yet: the bound while the plan is being made. */
  inFlight: 'copyBatchesInFlight',
} as const;

/** Batch lifecycle. */
export const BatchStatus = { PENDING: 'PENDING', DONE: 'DONE' } as const;
export type BatchStatus = (typeof BatchStatus)[keyof typeof BatchStatus];

/** A batch as recorded: its objects (keys relative to the export task prefix) and what has been copied. */
export interface StoredBatch {
  readonly runId: string;
  readonly index: number;
  readonly id: string;
  readonly status: BatchStatus;
  /** Export task prefix in the export bucket the keys are relative to (ends with `/`). */
  readonly sourcePrefix: string;
  /** Delivery prefix at the destination. */
  readonly destinationPrefix: string;
  readonly keys: readonly string[];
  readonly sizes: readonly number[];
  readonly bytes: number;
  /** Destination ETag per object index, for the objects copied so far. */
  readonly done: ReadonlyMap<number, string>;
  /** Multipart copies started and not finished, by object index (the latest upload of each). */
  readonly uploads: ReadonlyMap<number, UploadProgress>;
  /** The lease on the batch, if any (it may have expired). */
  readonly lease?: BatchLease;
}

/** Who holds a destination prefix: the run that claimed it, and the snapshot that run exports. */
export interface DestinationHolder {
  readonly runId: string;
  readonly sourceSnapshotArn: string;
}

/**
 * Whether a run may deliver under a destination prefix:
 * - `free`: nobody claimed it, or the run itself did;
 * - `taken`: a run of another snapshot holds it;
 * - `partial`: an earlier run of the same snapshot holds it and wrote objects there (or may have);
 * - `reusable`: an earlier run of the same snapshot holds it and wrote nothing, or the run may reuse it anyway.
 */
export type DestinationStatus =
  | { readonly kind: 'free' }
  | ({ readonly kind: 'taken' } & DestinationHolder)
  | ({ readonly kind: 'partial' } & DestinationHolder)
  | ({ readonly kind: 'reusable' } & DestinationHolder);

/** The run asking for a destination prefix. */
export interface DestinationClaimant {
  readonly runId: string;
  readonly sourceSnapshotArn: string;
  /** The operator confirmed that an earlier attempt's partial delivery there was removed. */
  readonly reuseDestination?: boolean;
}

/** Result of counting a batch as done on the run. */
export interface MarkDoneResult {
  /** False when the batch had already been counted (a retry or a duplicate delivery). */
  readonly counted: boolean;
  readonly batchesDone: number;
  readonly batchesTotal: number;
  /**
   * False when the plan's totals are not recorded yet (the batch was copied while the listing was still being
   * planned): the batch is not counted, and the planner counts it once it records the plan.
   */
  readonly planRecorded: boolean;
}

export interface CopyBatchStoreOptions {
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Days batch items stay after they are written (TTL). @default 90 */
  readonly retentionDays?: number;
}

const runKey = (runId: string) => ({ [L.partitionKey]: runId, [L.sortKey]: L.runSortKey });
/** The claim of a delivery prefix: one item per destination and prefix, beside the runs. */
const destinationKey = (destination: string, prefix: string) => ({
  [L.partitionKey]: `DESTINATION#${destination}/${prefix}`,
  [L.sortKey]: 'CLAIM',
});
const batchKey = (runId: string, index: number) => ({
  [L.partitionKey]: runId,
  [L.sortKey]: `${L.batchSortKeyPrefix}${batchId(index)}`,
});
/** Marker between a batch's sort key and the suffix of its progress items. */
const PROGRESS = '#P#';
/** Suffix of a batch's lease item (`BATCH#<nnnnnn>#L`), which sorts between the batch item and its progress. */
const LEASE = '#L';
/**
 * The lease item of a batch: its lease, its in-flight count and whether it is done. Kept apart from the batch
 * item, which holds up to ~300 KB of keys, because DynamoDB bills an update by the size of the whole item: a
 * lease renewal on a small item is one write unit, on the batch item it would be a hundred.
 */
const leaseKey = (runId: string, index: number) => ({
  [L.partitionKey]: runId,
  [L.sortKey]: `${L.batchSortKeyPrefix}${batchId(index)}${LEASE}`,
});
const isLeaseItem = (sk: string) => sk.endsWith(LEASE);
/** Owner prefix of a lease held by a message on its way to a worker. */
const DISPATCH = 'dispatch:';

interface DoneEntry {
  i: number;
  e: string;
}

/** A multipart copy's progress entry: object index, upload id, part size, and parts completed (`[number, etag]`). */
interface UploadEntry {
  i: number;
  u: string;
  s: number;
  p?: Array<[number, string]>;
}

/** Who may work a batch, until when (epoch milliseconds). */
export interface BatchLease {
  readonly owner: string;
  readonly expiresAt: number;
}

/** A multipart copy in progress: the upload, its part size, and the parts completed so far (part number → ETag). */
export interface UploadProgress {
  readonly uploadId: string;
  readonly partSizeBytes: number;
  readonly parts: ReadonlyMap<number, string>;
}

function isConditionFailure(e: unknown): boolean {
  return (e as { name?: string })?.name === 'ConditionalCheckFailedException';
}

function toBatch(
  item: Record<string, NativeAttributeValue>,
  progress: readonly Record<string, NativeAttributeValue>[],
  leaseItem?: Record<string, NativeAttributeValue>,
): StoredBatch {
  const sk = String(item[L.sortKey]);
  const id = sk.slice(L.batchSortKeyPrefix.length);
  const done = new Map<number, string>();
  const uploads = new Map<number, { uploadId: string; partSizeBytes: number; parts: Map<number, string> }>();
  for (const p of progress) {
    for (const entry of (p.done ?? []) as DoneEntry[]) done.set(entry.i, entry.e);
    // Progress items sort by write time, so a later upload of the same object replaces an earlier one.
    for (const u of (p.uploads ?? []) as UploadEntry[]) {
      let upload = uploads.get(u.i);
      if (upload?.uploadId !== u.u) {
        upload = { uploadId: u.u, partSizeBytes: u.s, parts: new Map() };
        uploads.set(u.i, upload);
      }
      for (const [n, etag] of u.p ?? []) upload.parts.set(n, etag);
    }
  }
  for (const i of done.keys()) uploads.delete(i);
  const lease = leaseItem?.lease as BatchLease | undefined;
  return {
    runId: String(item[L.partitionKey]),
    index: Number(id),
    id,
    status: item.status as BatchStatus,
    sourcePrefix: item.sourcePrefix as string,
    destinationPrefix: item.destinationPrefix as string,
    keys: item.keys as string[],
    sizes: item.sizes as number[],
    bytes: item.bytes as number,
    done,
    uploads,
    ...(lease ? { lease: { owner: String(lease.owner), expiresAt: Number(lease.expiresAt) } } : {}),
  };
}

/** The batch store. */
export class CopyBatchStore {
  private readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly now: () => Date;
  private readonly retentionDays: number;

  private writes = 0;
  /** A per-instance counter that orders two progress items written in the same millisecond. */
  private sequence(): string {
    return (this.writes++).toString(36).padStart(6, '0');
  }

  constructor(options: CopyBatchStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.client;
    this.now = options.now ?? (() => new Date());
    this.retentionDays = options.retentionDays ?? 90;
  }

  /**
   * Records a planned batch unless it is already there: a second planner of the same export computes the
   * same batches and must not reset the progress of one already being copied.
   */
  async putIfAbsent(
    runId: string,
    batch: CopyBatch,
    sourcePrefix: string,
    destinationPrefix: string,
    dispatchLease?: { readonly seconds: number },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...batchKey(runId, Number(batch.id)),
            status: BatchStatus.PENDING,
            sourcePrefix,
            destinationPrefix,
            keys: batch.objects.map((o) => o.key),
            sizes: batch.objects.map((o) => o.size),
            bytes: batch.bytes,
            createdAt: this.now().toISOString(),
            [L.ttlAttribute]: Math.floor(this.now().getTime() / 1000) + this.retentionDays * 86_400,
          },
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': L.sortKey },
        }),
      );
      await this.putLeaseItem(runId, Number(batch.id), dispatchLease);
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  /** Creates the batch's lease item unless it exists, with a message's lease when one is about to be sent. */
  private async putLeaseItem(
    runId: string,
    index: number,
    dispatchLease?: { readonly seconds: number },
  ): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...leaseKey(runId, index),
            inFlight: 0,
            ...(dispatchLease ? { lease: this.dispatchLease(dispatchLease.seconds) } : {}),
            [L.ttlAttribute]: Math.floor(this.now().getTime() / 1000) + this.retentionDays * 86_400,
          },
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': L.sortKey },
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
  }

  /** One batch with its progress, read consistently. */
  async get(runId: string, index: number): Promise<StoredBatch | undefined> {
    for await (const batch of this.batchesFrom(runId, `${L.batchSortKeyPrefix}${batchId(index)}`)) return batch;
    return undefined;
  }

  /** Every batch of a run with its progress, in order. Holds them all: for small runs and tests; prefer {@link each}. */
  async list(runId: string): Promise<StoredBatch[]> {
    const batches: StoredBatch[] = [];
    for await (const batch of this.each(runId)) batches.push(batch);
    return batches;
  }

  /**
   * Every batch of a run with its progress, in order, read consistently page by page: one batch at a time is
   * in memory, whatever the size of the export.
   */
  each(runId: string): AsyncGenerator<StoredBatch> {
    return this.batchesFrom(runId, L.batchSortKeyPrefix);
  }

  /**
   * Indexes of the run's batches not yet done. Reads only sort keys and statuses, so finding the unfinished
   * batches of a large export costs neither their object lists nor their progress in memory.
   */
  async pendingIndexes(runId: string): Promise<number[]> {
    const pending: number[] = [];
    for await (const item of this.items(runId, L.batchSortKeyPrefix, { projection: true })) {
      const sk = String(item[L.sortKey]);
      if (!sk.includes(PROGRESS) && !isLeaseItem(sk) && item.status !== BatchStatus.DONE)
        pending.push(Number(sk.slice(L.batchSortKeyPrefix.length)));
    }
    return pending;
  }

  /**
   * Indexes of the run's unfinished batches that no live lease covers: no worker holds them and no message
   * for them is on its way. These, and only these, need a `copy-batch` message.
   */
  async unattendedIndexes(runId: string): Promise<number[]> {
    return (await this.attendance(runId)).unattended;
  }

  /**
   * The run's unfinished batches split by lease: those no live lease covers (see {@link unattendedIndexes}),
   * and how many a worker or a message on its way holds, which is how many workers are or will soon be busy.
   */
  async attendance(runId: string): Promise<{ unattended: number[]; attended: number; done: number[] }> {
    const now = this.now().getTime();
    const unfinished: number[] = [];
    const done: number[] = [];
    const leases = new Map<number, BatchLease | undefined>();
    for await (const item of this.items(runId, L.batchSortKeyPrefix, { projection: true })) {
      const sk = String(item[L.sortKey]);
      if (sk.includes(PROGRESS)) continue;
      const index = Number(sk.slice(L.batchSortKeyPrefix.length, L.batchSortKeyPrefix.length + BATCH_ID_DIGITS));
      if (isLeaseItem(sk)) leases.set(index, item.lease as BatchLease | undefined);
      else if (item.status !== BatchStatus.DONE) unfinished.push(index);
      else done.push(index);
    }
    const unattended = unfinished.filter((i) => {
      const lease = leases.get(i);
      return !lease || Number(lease.expiresAt) <= now;
    });
    return { unattended, attended: unfinished.length - unattended.length, done };
  }

  /** Those of `done` (batches marked done on their own item, see {@link attendance}) not yet counted on the run. */
  async uncounted(runId: string, done: readonly number[]): Promise<number[]> {
    if (done.length === 0) return [];
    const run = await this.readRunCopy(runId);
    return done.filter((i) => !run?.doneIds.has(batchId(i)));
  }

  /**
   * Takes a `dispatch` lease on an unfinished batch whose lease has expired (or that has none), for a message
   * about to be sent for it. Of two senders exactly one wins; false means a worker or a message has it.
   */
  async claimDispatch(runId: string, index: number, seconds: number): Promise<boolean> {
    return this.conditionalLeaseWrite(runId, index, {
      update: 'SET #lease = :lease',
      condition: 'attribute_not_exists(#done) AND (attribute_not_exists(#lease) OR #lease.#expiresAt <= :now)',
      values: { ':lease': this.dispatchLease(seconds) },
      names: { '#done': 'done' },
    });
  }

  /**
   * A worker takes the batch: wins when the batch is unfinished and its lease is a message's (the one that
   * woke this worker), expired, absent, or already this owner's. Adds the worker to `inFlight` in the same
   * write. False means another worker holds it, or it is done.
   */
  async acquireLease(runId: string, index: number, owner: string, seconds: number): Promise<BatchLease | undefined> {
    const lease = { owner, expiresAt: this.now().getTime() + seconds * 1000 };
    const take = () =>
      this.conditionalLeaseWrite(runId, index, {
        update: 'SET #lease = :lease ADD #inFlight :one',
        condition:
          'attribute_not_exists(#done) AND (attribute_not_exists(#lease) OR #lease.#expiresAt <= :now OR ' +
          'begins_with(#lease.#owner, :dispatch) OR #lease.#owner = :owner)',
        values: { ':lease': lease, ':dispatch': DISPATCH, ':owner': owner, ':one': 1 },
        names: { '#done': 'done', '#owner': 'owner', '#inFlight': 'inFlight' },
      });
    if (await take()) return lease;
    // A batch planned before batches had lease items gets one now, and is then taken like any other.
    if (await this.missingLeaseItem(runId, index)) {
      await this.putLeaseItem(runId, index);
      if (await take()) return lease;
    }
    return undefined;
  }

  /** Extends the owner's lease; false when the owner lost it (it expired and another took the batch). */
  async renewLease(runId: string, index: number, owner: string, seconds: number): Promise<BatchLease | undefined> {
    const expiresAt = this.now().getTime() + seconds * 1000;
    const won = await this.conditionalLeaseWrite(runId, index, {
      update: 'SET #lease.#expiresAt = :expiresAt',
      condition: '#lease.#owner = :owner',
      values: { ':expiresAt': expiresAt, ':owner': owner },
      names: { '#owner': 'owner' },
      noNow: true,
    });
    return won ? { owner, expiresAt } : undefined;
  }

  /**
   * The worker is done with the batch (its copies recorded): takes it off `inFlight` and gives up the lease;
   * with `handOffSeconds`, turns it into the `dispatch` lease of the one message the worker then sends to
   * continue the batch; with `retainSeconds` (the worker failed and Lambda retries the same request, which
   * owns the lease), keeps it that long so that nothing else is sent for the batch meanwhile. Returns false when the lease was no longer the owner's (it is then left alone).
   */
  async releaseLease(
    runId: string,
    index: number,
    owner: string,
    options: { handOffSeconds?: number; retainSeconds?: number } = {},
  ): Promise<boolean> {
    const lease =
      options.handOffSeconds !== undefined
        ? this.dispatchLease(options.handOffSeconds)
        : options.retainSeconds !== undefined
          ? { owner, expiresAt: this.now().getTime() + options.retainSeconds * 1000 }
          : undefined;
    const won = await this.conditionalLeaseWrite(runId, index, {
      update: lease ? 'SET #lease = :lease ADD #inFlight :minus' : 'REMOVE #lease ADD #inFlight :minus',
      condition: '#lease.#owner = :owner',
      values: { ':owner': owner, ':minus': -1, ...(lease ? { ':lease': lease } : {}) },
      names: { '#owner': 'owner', '#inFlight': 'inFlight' },
      noNow: true,
    });
    if (!won) await this.addInFlight(runId, index, -1);
    return won;
  }

  private dispatchLease(seconds: number): BatchLease {
    return { owner: `${DISPATCH}${randomUUID()}`, expiresAt: this.now().getTime() + seconds * 1000 };
  }

  private async conditionalLeaseWrite(
    runId: string,
    index: number,
    w: {
      update: string;
      condition: string;
      values: Record<string, NativeAttributeValue>;
      names: Record<string, string>;
      noNow?: boolean;
    },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: leaseKey(runId, index),
          UpdateExpression: w.update,
          ConditionExpression: `attribute_exists(#sk) AND ${w.condition}`,
          ExpressionAttributeNames: {
            '#sk': L.sortKey,
            '#lease': 'lease',
            ...(`${w.update} ${w.condition}`.includes('#expiresAt') ? { '#expiresAt': 'expiresAt' } : {}),
            ...w.names,
          },
          ExpressionAttributeValues: { ...(w.noNow ? {} : { ':now': this.now().getTime() }), ...w.values },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  /**
   * Hands out the next batch, in index order, that never had a message: of concurrent callers each gets a
   * different one. Undefined when every batch of the plan was handed out, or the run left COPYING.
   */
  async nextUndispatched(
    runId: string,
    batchesTotal: number | undefined,
    maxInFlight: number,
  ): Promise<number | undefined> {
    // Before the plan's totals are recorded, only the batches the planner has recorded so far may go out, and
    // only while fewer than `maxInFlight` handed-out batches are unfinished (after, the dispatcher counts leases).
    if (batchesTotal === undefined && maxInFlight < 1) return undefined;
    const bound =
      batchesTotal === undefined
        ? {
            condition:
              'attribute_exists(#planned) AND (attribute_not_exists(#dispatched) OR #dispatched < #planned) AND ' +
              '(attribute_not_exists(#inFlight) OR #inFlight < :max)',
            names: { '#planned': CopyRunAttributes.planned },
            values: { ':max': maxInFlight },
          }
        : {
            condition: '(attribute_not_exists(#dispatched) OR #dispatched < :total)',
            values: { ':total': batchesTotal },
          };
    const out = await this.updateCopyingRun(runId, {
      update: 'ADD #dispatched :one, #inFlight :one',
      condition: bound.condition,
      names: { '#dispatched': CopyRunAttributes.dispatched, '#inFlight': CopyRunAttributes.inFlight, ...bound.names },
      values: { ':one': 1, ...bound.values },
      returnValues: 'UPDATED_NEW',
    });
    return out ? Number(out[CopyRunAttributes.dispatched]) - 1 : undefined;
  }

  /** How many batches {@link nextUndispatched} has handed out. */
  async dispatchedCount(runId: string): Promise<number> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: runKey(runId),
        ConsistentRead: true,
        ProjectionExpression: '#dispatched',
        ExpressionAttributeNames: { '#dispatched': CopyRunAttributes.dispatched },
      }),
    );
    return Number(out.Item?.[CopyRunAttributes.dispatched] ?? 0);
  }

  /**
   * Records that the planner has written batches 0 … `planned` - 1, so that they may be handed out before the
   * plan's totals are known; the run's `updatedAt` moves with it, so a long listing is not a stalled run. A
   * count below the one recorded (a second planner behind the first) changes nothing.
   */
  async recordPlanned(runId: string, planned: number): Promise<void> {
    await this.updateCopyingRun(runId, {
      update: 'SET #planned = :planned, #updatedAt = :now',
      condition: '(attribute_not_exists(#planned) OR #planned < :planned)',
      names: { '#planned': CopyRunAttributes.planned, '#updatedAt': 'updatedAt' },
      values: { ':planned': planned, ':now': this.now().toISOString() },
    });
  }

  /**
   * Marks the run active: its `updatedAt` moves while its batches are being copied, so a long copy whose
   * batches take hours is not mistaken for a stalled one. A no-op once the run left COPYING.
   */
  async touchRun(runId: string): Promise<void> {
    await this.updateCopyingRun(runId, {
      update: 'SET #updatedAt = :now',
      names: { '#updatedAt': 'updatedAt' },
      values: { ':now': this.now().toISOString() },
    });
  }

  /**
   * Updates the run item on the condition that the run is COPYING (and `condition`, when given). Returns the
   * attributes `returnValues` asks for ({} without it), or undefined when the condition failed.
   */
  private async updateCopyingRun(
    runId: string,
    w: {
      update: string;
      condition?: string;
      names: Record<string, string>;
      values: Record<string, NativeAttributeValue>;
      returnValues?: 'UPDATED_NEW';
    },
  ): Promise<Record<string, NativeAttributeValue> | undefined> {
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: runKey(runId),
          UpdateExpression: w.update,
          ConditionExpression: w.condition ? `#stage = :copying AND ${w.condition}` : '#stage = :copying',
          ExpressionAttributeNames: { '#stage': 'stage', ...w.names },
          ExpressionAttributeValues: { ':copying': 'COPYING', ...w.values },
          ...(w.returnValues ? { ReturnValues: w.returnValues } : {}),
        }),
      );
      return out.Attributes ?? {};
    } catch (e) {
      if (isConditionFailure(e)) return undefined;
      throw e;
    }
  }

  /** Items of the run whose sort key starts with `prefix`, page by page; `projection` keeps only sort key, status, in-flight count and lease. */
  private async *items(
    runId: string,
    prefix: string,
    options: { projection?: boolean } = {},
  ): AsyncGenerator<Record<string, NativeAttributeValue>> {
    const page = (start: Record<string, NativeAttributeValue> | undefined) =>
      this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: {
            '#pk': L.partitionKey,
            '#sk': L.sortKey,
            ...(options.projection
              ? { '#status': 'status', '#inFlight': 'inFlight', '#lease': 'lease', '#done': 'done' }
              : {}),
          },
          ExpressionAttributeValues: { ':pk': runId, ':prefix': prefix },
          ...(options.projection ? { ProjectionExpression: '#sk, #status, #inFlight, #lease, #done' } : {}),
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
    // The next page is asked for as soon as a page arrives, so it is on its way while this one is read.
    for (let next = page(undefined); ; ) {
      const out = await next;
      const start = out.LastEvaluatedKey;
      if (start) {
        next = page(start);
        next.catch(() => undefined); // awaited on the next turn, unless the reader stops first
      }
      yield* out.Items ?? [];
      if (!start) return;
    }
  }

  private async *batchesFrom(runId: string, prefix: string): AsyncGenerator<StoredBatch> {
    let current:
      | {
          item: Record<string, NativeAttributeValue>;
          progress: Record<string, NativeAttributeValue>[];
          lease?: Record<string, NativeAttributeValue>;
        }
      | undefined;
    // Sort keys order each batch item right before its progress items (`BATCH#000001` < `BATCH#000001#P#...`).
    for await (const item of this.items(runId, prefix)) {
      const sk = String(item[L.sortKey]);
      if (sk.includes(PROGRESS)) {
        if (current && sk.startsWith(`${String(current.item[L.sortKey])}${PROGRESS}`)) current.progress.push(item);
        continue;
      }
      if (isLeaseItem(sk)) {
        if (current && sk === `${String(current.item[L.sortKey])}${LEASE}`) current.lease = item;
        continue;
      }
      if (current) yield toBatch(current.item, current.progress, current.lease);
      current = { item, progress: [] };
    }
    if (current) yield toBatch(current.item, current.progress, current.lease);
  }

  /**
   * Records copied objects (index and destination ETag) of a batch, and the progress of multipart copies
   * (upload started, parts completed), as one new progress item.
   */
  async recordCopied(
    runId: string,
    index: number,
    entries: ReadonlyArray<{ index: number; etag: string }>,
    uploads: ReadonlyArray<{
      index: number;
      uploadId: string;
      partSizeBytes: number;
      parts: ReadonlyArray<{ partNumber: number; etag: string }>;
    }> = [],
  ): Promise<void> {
    if (entries.length === 0 && uploads.length === 0) return;
    // Sort keys carry a zero-padded write time, so reading them in order replays the progress as it happened.
    const at = this.now().getTime().toString(36).padStart(10, '0');
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          [L.partitionKey]: runId,
          [L.sortKey]: `${L.batchSortKeyPrefix}${batchId(index)}${PROGRESS}${at}-${this.sequence()}-${randomUUID()}`,
          done: entries.map((e) => ({ i: e.index, e: e.etag })),
          ...(uploads.length > 0
            ? {
                uploads: uploads.map((u) => ({
                  i: u.index,
                  u: u.uploadId,
                  s: u.partSizeBytes,
                  p: u.parts.map((p) => [p.partNumber, p.etag]),
                })),
              }
            : {}),
          [L.ttlAttribute]: Math.floor(this.now().getTime() / 1000) + this.retentionDays * 86_400,
        },
      }),
    );
  }

  /** Marks the batch item done (idempotent); true only for the call that marked it. */
  async markBatchDone(runId: string, index: number): Promise<boolean> {
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: batchKey(runId, index),
        UpdateExpression: 'SET #status = :done, #doneAt = if_not_exists(#doneAt, :now)',
        ConditionExpression: 'attribute_exists(#sk)',
        ExpressionAttributeNames: { '#status': 'status', '#doneAt': 'doneAt', '#sk': L.sortKey },
        ExpressionAttributeValues: { ':done': BatchStatus.DONE, ':now': this.now().toISOString() },
        ReturnValues: 'UPDATED_OLD',
      }),
    );
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: leaseKey(runId, index),
        UpdateExpression: 'SET #done = :true',
        ExpressionAttributeNames: { '#done': 'done' },
        ExpressionAttributeValues: { ':true': true },
      }),
    );
    const first = out.Attributes?.status !== BatchStatus.DONE;
    // One handed-out batch fewer in flight (see nextUndispatched); a no-op once the run left COPYING.
    if (first)
      await this.updateCopyingRun(runId, {
        update: 'ADD #inFlight :minusOne',
        names: { '#inFlight': CopyRunAttributes.inFlight },
        values: { ':minusOne': -1 },
      });
    return first;
  }

  /** True when the batch exists without a lease item (planned before batches had one). */
  private async missingLeaseItem(runId: string, index: number): Promise<boolean> {
    const [lease, batch] = await Promise.all(
      [leaseKey(runId, index), batchKey(runId, index)].map((Key) =>
        this.client.send(
          new GetCommand({
            TableName: this.tableName,
            Key,
            ConsistentRead: true,
            ProjectionExpression: '#sk',
            ExpressionAttributeNames: { '#sk': L.sortKey },
          }),
        ),
      ),
    );
    return !lease?.Item && Boolean(batch?.Item);
  }

  /**
   * Counts the batch as done on the run, once: adds its id to the run's set of done batches and its
   * objects and bytes to the run's `copy` counters, on the condition that the run is still COPYING and the
   * id is not counted yet. Returns the counters as they stand after the call.
   */
  async countBatchDone(
    runId: string,
    index: number,
    objects: number,
    bytes: number,
  ): Promise<MarkDoneResult | undefined> {
    const id = batchId(index);
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: runKey(runId),
          UpdateExpression:
            'ADD #ids :id, #copy.#batchesDone :one, #copy.#objectsCopied :objects, #copy.#bytesCopied :bytes SET #updatedAt = :now',
          ConditionExpression:
            '#stage = :copying AND attribute_exists(#copy.#batchesTotal) AND NOT contains(#ids, :idString)',
          ExpressionAttributeNames: {
            '#ids': CopyRunAttributes.doneIds,
            '#copy': 'copy',
            '#batchesDone': 'batchesDone',
            '#batchesTotal': 'batchesTotal',
            '#objectsCopied': 'objectsCopied',
            '#bytesCopied': 'bytesCopied',
            '#updatedAt': 'updatedAt',
            '#stage': 'stage',
          },
          ExpressionAttributeValues: {
            ':id': new Set([id]),
            ':idString': id,
            ':one': 1,
            ':objects': objects,
            ':bytes': bytes,
            ':now': this.now().toISOString(),
            ':copying': 'COPYING',
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const copy = (out.Attributes?.copy ?? {}) as { batchesDone?: number; batchesTotal?: number };
      return {
        counted: true,
        batchesDone: copy.batchesDone ?? 0,
        batchesTotal: copy.batchesTotal ?? 0,
        planRecorded: true,
      };
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
    const run = await this.readRunCopy(runId);
    if (run?.stage !== 'COPYING') return undefined;
    return {
      counted: false,
      batchesDone: run.doneIds.size,
      batchesTotal: run.batchesTotal ?? 0,
      planRecorded: run.batchesTotal !== undefined,
    };
  }

  /**
   * Claims the finalization of the run's copy. Wins when every batch is counted and nobody holds the claim,
   * or the holder is `owner` itself (its own retry), or the claim is older than `leaseSeconds` (the holder
   * died). Of concurrent claimers exactly one wins.
   */
  async claimFinalization(runId: string, owner: string, leaseSeconds: number): Promise<boolean> {
    const now = this.now();
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: runKey(runId),
          UpdateExpression: 'SET #claim = :claim',
          ConditionExpression:
            '#stage = :copying AND #copy.#batchesDone = #copy.#batchesTotal AND ' +
            '(attribute_not_exists(#claim) OR #claim.#owner = :owner OR #claim.#at < :expired)',
          ExpressionAttributeNames: {
            '#claim': CopyRunAttributes.finalizeClaim,
            '#stage': 'stage',
            '#copy': 'copy',
            '#batchesDone': 'batchesDone',
            '#batchesTotal': 'batchesTotal',
            '#owner': 'owner',
            '#at': 'at',
          },
          ExpressionAttributeValues: {
            ':claim': { owner, at: now.toISOString() },
            ':owner': owner,
            ':expired': new Date(now.getTime() - leaseSeconds * 1000).toISOString(),
            ':copying': 'COPYING',
          },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  /**
   * Whether `claimant` may deliver under `prefix` of `destination` (see {@link DestinationStatus}), without
   * claiming it. The copy role cannot list or delete at the destination, so what an earlier run wrote there
   * is read from its own records: objects counted or recorded as copied, a manifest, or a batch a worker was
   * killed in the middle of.
   */
  async destinationStatus(
    destination: string,
    prefix: string,
    claimant: DestinationClaimant,
  ): Promise<DestinationStatus> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: destinationKey(destination, prefix), ConsistentRead: true }),
    );
    if (!out.Item || out.Item.claimRunId === claimant.runId) return { kind: 'free' };
    const holder = { runId: String(out.Item.claimRunId), sourceSnapshotArn: String(out.Item.claimSnapshotArn) };
    if (holder.sourceSnapshotArn !== claimant.sourceSnapshotArn) return { kind: 'taken', ...holder };
    if (claimant.reuseDestination || !(await this.mayHaveWritten(holder.runId))) return { kind: 'reusable', ...holder };
    return { kind: 'partial', ...holder };
  }

  /**
   * Reserves a delivery prefix for one run, so that no other run writes over it or beside it. The prefix is
   * claimed when it is free; an earlier run of the same snapshot (a retry's predecessor) gives it up when it
   * wrote nothing there, or when the claimant may reuse it; otherwise the answer says who holds it. Of two
   * claimants of one prefix exactly one wins. Returns the status the prefix had (`free` or `reusable` when
   * the claimant now holds it).
   */
  async claimDestination(
    destination: string,
    prefix: string,
    claimant: DestinationClaimant,
  ): Promise<DestinationStatus> {
    const key = destinationKey(destination, prefix);
    for (;;) {
      const status = await this.destinationStatus(destination, prefix, claimant);
      if (status.kind === 'taken' || status.kind === 'partial') return status;
      const heldBy = status.kind === 'reusable' ? status.runId : undefined;
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...key,
              claimRunId: claimant.runId,
              claimSnapshotArn: claimant.sourceSnapshotArn,
              claimedAt: this.now().toISOString(),
              ...(heldBy ? { takenOverFrom: heldBy } : {}),
            },
            // Claimed only in the state just read: free (or ours), or still held by the run we take over from.
            ConditionExpression: heldBy ? '#run = :held' : 'attribute_not_exists(#pk) OR #run = :me',
            ExpressionAttributeNames: heldBy
              ? { '#run': 'claimRunId' }
              : { '#pk': L.partitionKey, '#run': 'claimRunId' },
            ExpressionAttributeValues: heldBy ? { ':held': heldBy } : { ':me': claimant.runId },
          }),
        );
        return status;
      } catch (e) {
        if (!isConditionFailure(e)) throw e;
      }
    }
  }

  /**
   * True when the run wrote, or may have written, objects at its destination: it counted or recorded a
   * copied object, wrote a manifest, left a batch in flight (a worker killed before recording its copies),
   * or is unknown (its records expired) or still copying.
   */
  async mayHaveWritten(runId: string): Promise<boolean> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: runKey(runId), ConsistentRead: true }),
    );
    const run = out.Item;
    if (!run) return true;
    if (run.stage === 'COPYING') return true;
    const copy = (run.copy ?? {}) as { objectsCopied?: number; batchesDone?: number; manifestKey?: string };
    if ((copy.objectsCopied ?? 0) > 0 || (copy.batchesDone ?? 0) > 0 || copy.manifestKey) return true;
    for await (const item of this.items(runId, L.batchSortKeyPrefix, { projection: true })) {
      if (
        String(item[L.sortKey]).includes(PROGRESS) ||
        item.status === BatchStatus.DONE ||
        Number(item.inFlight ?? 0) > 0
      )
        return true;
    }
    return false;
  }

  private async addInFlight(runId: string, index: number, delta: number): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: leaseKey(runId, index),
        UpdateExpression: 'ADD #inFlight :delta',
        ConditionExpression: 'attribute_exists(#sk)',
        ExpressionAttributeNames: { '#inFlight': 'inFlight', '#sk': L.sortKey },
        ExpressionAttributeValues: { ':delta': delta },
      }),
    );
  }

  private async readRunCopy(
    runId: string,
  ): Promise<{ stage: string; doneIds: Set<string>; batchesTotal: number | undefined } | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: runKey(runId), ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const ids = out.Item[CopyRunAttributes.doneIds] as Set<string> | undefined;
    const total = (out.Item.copy as { batchesTotal?: number } | undefined)?.batchesTotal;
    return {
      stage: String(out.Item.stage),
      doneIds: ids ?? new Set(),
      batchesTotal: total === undefined ? undefined : Number(total),
    };
  }
}
