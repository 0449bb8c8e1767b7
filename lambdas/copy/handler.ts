/**
 * The copy stage. Two kinds of pipeline-topic messages wake it:
 *
 * - `copy-plan` (and the reconciler's `advance`): list the run's export, split it into batches recorded on the
 *   run table, record the totals on the run, and publish one `copy-batch` message per batch;
 * - `copy-batch`: take the batch's lease, copy it with bounded concurrency, recording each copied object (and
 *   each part of a multipart copy) and renewing the lease at every checkpoint, then count the batch done; the
 *   worker that completes the last batch writes the manifest and then `_SUCCESS`, and moves the run on to
 *   CLEANING_UP through the engine's `finishStage`. Once every object of its batch has started, a worker takes
 *   the next batch that never had a message on in the same invocation, on the lanes its last copies free.
 *
 * Leases keep one worker per batch: a message for a batch is only sent when no live lease covers it, a
 * delivery that finds the batch leased does nothing, and a worker running out of time hands its batch on
 * with exactly one message. So duplicated deliveries and reconciler passes during a long copy add no copies.
 *
 * A permanent refusal (access denied, missing bucket, KMS denied, wrong owner) fails the run at once with a
 * message that names the principal, the action, the resource and the policy to change. Anything else is
 * thrown so that Lambda retries the message; a retry redoes only the objects not yet recorded.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Context, SNSEvent } from 'aws-lambda';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import type { S3Client } from '@aws-sdk/client-s3';
import { RunStage, StageFunction, type Run } from '../shared/domain/run';
import type { PipelinePublisher } from '../shared/domain/messages';
import { forEachRecord } from '../shared/runtime/records';
import { RunStore, defaultDocumentClient } from '../shared/adapters/run-store';
import { SnsPipelinePublisher } from '../shared/adapters/sns';
import { createCopyS3Client, createDirectCopy, S3CopyCallError, S3ObjectCopier } from '../shared/adapters/s3-copy';
import type { DirectCopyObject } from '../shared/adapters/s3-direct-copy';
import {
  DestinationTextWriter,
  listPages,
  putDestinationObject,
  readText,
  type ListedObject,
} from '../shared/adapters/s3-copy-source';
import { BatchStatus, CopyBatchStore, type StoredBatch } from '../shared/adapters/copy-batch-store';
import { planListing, type PlannedObject } from '../shared/copy/batching';
import {
  classifyExportKey,
  destinationKey,
  exportTaskPrefix,
  manifestKey,
  successMarkerKey,
} from '../shared/copy/layout';
import { destinationOf, destinationRefusal, runDestinationPrefix } from '../shared/stage/destination';
import { ManifestText, parseExportTablesInfo, type ExportTableInfo } from '../shared/copy/manifest';
import { classifyCopyError, type CopyCallContext, type PermanentCopyFailure } from '../shared/copy/permanent-errors';
import { Lanes, mapWithConcurrency } from '../shared/copy/concurrency';
import { copyWorkers } from '../../config/schema';
import { finishStage } from '../shared/stage/finish-stage';
import { DestinationAccessDenied, StaleTransition, errorMessage } from '../shared/errors';
import { createLogger, withRunId, type Logger } from '../shared/runtime/logger';
import { lambdaEntry, type InvocationDeps } from '../shared/runtime/invocation';
import { LeaseKeeper } from './lease-keeper';
import { settingsFromEnv, type RuntimeSettings } from '../shared/contracts/settings';
import { isSnsEvent, makeProbeHandler, type ProbeResult } from './probe';

/** How a worker's pass over its batch ended. */
type CopyOutcome = 'done' | 'time' | 'run' | 'lease';

/** A batch worked in an invocation, and the one it took on next (worked alongside its end). */
interface BatchChain {
  readonly next?: Promise<BatchChain>;
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** What the copy handler needs; tests build it around emulator-backed clients. */
export interface CopyDeps {
  readonly settings: RuntimeSettings;
  readonly store: Pick<RunStore, 'get' | 'apply'>;
  readonly batches: CopyBatchStore;
  /** S3 client for the export bucket and the destination (adaptive retry in production). */
  readonly s3: S3Client;
  /**
   * Sends the single-request copies (CopyObject) as hand-signed requests with `s3`'s endpoint, credentials and
   * region, falling back to `s3` on anything but success (production); through `s3` when absent.
   */
  readonly directCopy?: DirectCopyObject;
  readonly publisher: PipelinePublisher;
  readonly logger: Logger;
  /** Who the function runs as, for error messages (the role ARN). */
  readonly principal: () => Promise<string>;
  /** Most objects recorded in one progress write. @default 250 */
  readonly checkpointEvery?: number;
  /**
   * Longest a copied small object waits for its progress write: once this long has passed since the last
   * write, the next object to finish writes everything done. @default 1000
   */
  readonly checkpointMillis?: number;
  /** A worker stops taking new objects when less than this is left before the Lambda timeout, and re-queues its batch. @default 60000 */
  readonly reserveMillis?: number;
  /** Age after which a finalization claim by a worker that died may be taken over. @default 900 */
  readonly finalizeLeaseSeconds?: number;
  /**
   * Lease a worker takes on its batch, renewed at every checkpoint and whenever less than half of it is left;
   * a worker that dies frees its batch after at most this long. @default 300
   */
  readonly leaseSeconds?: number;
  /** Lease a `copy-batch` message holds on its batch until a worker takes it: how long a message may take to arrive. @default 900 */
  readonly dispatchLeaseSeconds?: number;
  /** Least time between two activity marks on the run (see CopyBatchStore.touchRun). @default 60000 */
  readonly activityEveryMillis?: number;
  /** Parts copied at once for one multipart object. @default 8 */
  readonly partConcurrency?: number;
  /** Objects above this size are copied part by part. @default 5 GiB (the CopyObject limit) */
  readonly multipartThresholdBytes?: number;
  /** The clock (epoch milliseconds). @default Date.now */
  readonly now?: () => number;
}

/** What the copy stage reads from the Lambda context: the time left, and the request id that names its lease. */
export type CopyContext = Pick<Context, 'getRemainingTimeInMillis'> & Partial<Pick<Context, 'awsRequestId'>>;

/** The copy stage's handler: SNS events, or a direct `{ "kind": "probe" }` invocation answered with a {@link ProbeResult} (see ./probe). */
export interface CopyHandler {
  (event: SNSEvent, context?: CopyContext): Promise<void>;
  (event: unknown, context?: CopyContext): Promise<undefined | ProbeResult>;
}

/** Builds the handler around its dependencies. */
export function makeHandler(deps: CopyDeps): CopyHandler {
  const copy = new CopyStage(deps);
  const probe = makeProbeHandler(deps);
  const handle = async (event: unknown, context?: CopyContext): Promise<undefined | ProbeResult> => {
    if (!isSnsEvent(event)) return probe(event);
    await forEachRecord(event as SNSEvent, deps.logger, async (record) => {
      const message = record.type === 'pipeline' && record.target === StageFunction.COPY ? record.message : undefined;
      if (message?.kind !== 'copy-plan' && message?.kind !== 'copy-batch' && message?.kind !== 'advance') {
        return void deps.logger.warn('ignoring a message that is not for the copy stage', {
          kind: message?.kind,
          type: record.type,
        });
      }
      await withRunId(deps.logger, message.runId, async () => {
        if (message.kind === 'copy-batch') await copy.work(message.runId, message.batch, context);
        else await copy.plan(message.runId, message.kind === 'advance' ? 'advance' : 'plan');
      });
    });
    return undefined;
  };
  return handle as CopyHandler;
}

/** Checkpoints of progress a worker may have unwritten before its copies wait for the writes to catch up. */
export const PROGRESS_BACKLOG_CHECKPOINTS = 8;
/** Most objects recorded in one progress write unless `checkpointEvery` says otherwise. */
export const DEFAULT_CHECKPOINT_EVERY = 250;

/** Objects and bytes of each planned batch, by index: what counting a batch done adds to the run. */
type PlannedSizes = Map<number, { objects: number; bytes: number }>;

class CopyStage {
  private readonly s: RuntimeSettings;
  /** Access point ARN or bucket name: what every destination call passes as Bucket. */
  private readonly destination: string;
  private readonly copier: S3ObjectCopier;
  private readonly now: () => number;

  constructor(private readonly deps: CopyDeps) {
    this.s = deps.settings;
    this.now = deps.now ?? Date.now;
    this.destination = destinationOf(this.s);
    this.copier = new S3ObjectCopier({
      client: deps.s3,
      direct: deps.directCopy,
      sourceBucket: this.s.exportBucket,
      sourceOwnerAccountId: this.s.accountId,
      destinationBucket: this.destination,
      destinationOwnerAccountId: this.s.destination.expectedOwnerAccountId,
      kmsKeyArn: this.s.destination.kmsKeyArn,
      bucketOwnerFullControl: this.s.destination.aclMode === 'bucket-owner-full-control',
      partSizeBytes: this.s.copy.partSizeMiB * MiB,
      partConcurrency: deps.partConcurrency,
      multipartThresholdBytes: deps.multipartThresholdBytes,
    });
  }

  /** Loads the run if it is COPYING; logs and returns undefined otherwise. */
  private async copyingRun(runId: string): Promise<Run | undefined> {
    const run = await this.deps.store.get(runId);
    if (!run) {
      this.deps.logger.warn('no such run; ignoring the message');
      return undefined;
    }
    if (run.stage !== RunStage.COPYING) {
      this.deps.logger.info('run is not copying; nothing to do', { stage: run.stage });
      return undefined;
    }
    return run;
  }

  private sourcePrefix(run: Run): string {
    if (run.exportS3Prefix) return run.exportS3Prefix.endsWith('/') ? run.exportS3Prefix : `${run.exportS3Prefix}/`;
    if (!run.exportTaskId) throw new Error(`run ${run.runId} is COPYING without an export task id`);
    return exportTaskPrefix(this.s.exportPrefix, run.runId, run.exportTaskId);
  }

  /** Plans the copy (once), then makes sure every unfinished batch has a worker on its way. */
  async plan(runId: string, reason: 'plan' | 'advance'): Promise<void> {
    const run = await this.copyingRun(runId);
    if (!run) return;
    const dispatchSeconds = this.deps.dispatchLeaseSeconds ?? 900;
    let batchesTotal = run.copy?.batchesTotal;
    let sizes: PlannedSizes = new Map();
    if (batchesTotal === undefined) {
      const planned = await this.guard(run, () => this.recordPlan(run, dispatchSeconds));
      if (planned === false) return;
      batchesTotal = planned.batches;
      sizes = planned.sizes;
    } else {
      this.deps.logger.info('copy already planned; re-sending the batches no worker or message holds', {
        reason,
        batchesTotal: batchesTotal,
      });
    }
    // One reading of the batches' state serves both: counting leaves leases and messages as they are.
    const attendance = await this.deps.batches.attendance(runId);
    await this.countBatchesDoneBeforePlan(runId, attendance.done, sizes);
    const sent = await this.dispatch(runId, batchesTotal, dispatchSeconds, attendance);
    if (sent === 0 && (await this.deps.batches.pendingIndexes(runId)).length === 0) {
      await this.finalizeIfComplete(runId, `plan:${reason}`);
    }
  }

  /**
   * Keeps at most `maxWorkers` batches leased (held by a worker, or by a message on its way): first re-sends
   * batches that had a message and lost it (their worker died, or the message was lost), then hands out
   * batches that never had one, in index order. The rest wait: each worker takes the next on when its batch
   * nears its end, or sends it when it finishes ({@link sendNext}). So the copy function's reserved
   * concurrency is never asked for more, and no message waits throttled while its lease runs out. Returns how
   * many were sent.
   */
  private async dispatch(
    runId: string,
    batchesTotal: number,
    dispatchSeconds: number,
    { unattended, attended }: { unattended: number[]; attended: number },
  ): Promise<number> {
    const dispatched = await this.deps.batches.dispatchedCount(runId);
    let room = Math.max(0, copyWorkers(this.s.copy) - attended);
    const send: number[] = [];
    for (const batch of unattended.filter((i) => i < dispatched)) {
      if (send.length >= room) break;
      if (await this.deps.batches.claimDispatch(runId, batch, dispatchSeconds)) send.push(batch);
    }
    room -= send.length;
    for (; room > 0; room--) {
      const next = await this.deps.batches.nextUndispatched(runId, batchesTotal, copyWorkers(this.s.copy));
      if (next === undefined) break;
      if (await this.deps.batches.claimDispatch(runId, next, dispatchSeconds)) send.push(next);
    }
    await mapWithConcurrency(send, 16, (batch) =>
      this.deps.publisher.publish(StageFunction.COPY, { kind: 'copy-batch', runId, batch }),
    );
    if (send.length > 0) this.deps.logger.info('copy batches sent', { batches: send.length });
    return send.length;
  }

  /**
   * Counts on the run the batches a worker finished before the plan's totals were recorded (it could not count
   * them then), with their sizes from the plan in memory or, after a planner that died, from their items.
   */
  private async countBatchesDoneBeforePlan(runId: string, done: number[], sizes: PlannedSizes): Promise<void> {
    for (const index of await this.deps.batches.uncounted(runId, done)) {
      let size = sizes.get(index);
      if (!size) {
        const batch = await this.deps.batches.get(runId, index);
        if (!batch) continue;
        size = { objects: batch.keys.length, bytes: batch.bytes };
      }
      await this.deps.batches.countBatchDone(runId, index, size.objects, size.bytes);
    }
  }

  /**
   * Workers that may hold batches while the plan is being made: the copy's worker bound (the function's reserved
   * concurrency) less the planner's own execution, so no message waits throttled behind the planner.
   */
  private workersWhilePlanning(): number {
    return copyWorkers(this.s.copy) - 1;
  }

  /**
   * Hands out planned batches that never had a message while the listing is still being planned, as long as
   * fewer than {@link workersWhilePlanning} are unfinished: copying starts with the first batches instead of
   * after the whole listing.
   */
  private async dispatchPlanned(runId: string, dispatchSeconds: number): Promise<void> {
    for (;;) {
      const next = await this.deps.batches.nextUndispatched(runId, undefined, this.workersWhilePlanning());
      if (next === undefined) return;
      if (!(await this.deps.batches.claimDispatch(runId, next, dispatchSeconds))) continue;
      await this.deps.publisher.publish(StageFunction.COPY, { kind: 'copy-batch', runId, batch: next });
    }
  }

  /**
   * A worker that finished its batch hands its place to the next batch that never had a message: within the
   * plan's total, or before that is recorded, within the batches planned so far.
   */
  private async sendNext(runId: string, batchesTotal: number | undefined): Promise<void> {
    const next = await this.deps.batches.nextUndispatched(runId, batchesTotal, this.workersWhilePlanning());
    if (next === undefined) return;
    if (!(await this.deps.batches.claimDispatch(runId, next, this.deps.dispatchLeaseSeconds ?? 900))) return;
    await this.deps.publisher.publish(StageFunction.COPY, { kind: 'copy-batch', runId, batch: next });
  }

  /**
   * Plans the copy: streams the export's listing page by page into batches recorded on the run table, handing
   * out the first of them to workers as they are recorded (within the copy's worker bound), then records the
   * totals on the run. Returns how many batches the plan has with their sizes, or false when the run cannot go on.
   */
  private async recordPlan(
    run: Run,
    dispatchSeconds: number,
  ): Promise<{ batches: number; sizes: PlannedSizes } | false> {
    const prefix = runDestinationPrefix(this.s, run);
    const status = await this.deps.batches.claimDestination(this.destination, prefix, run);
    const refusal = destinationRefusal(status, this.destination, prefix, run);
    if (refusal) {
      await this.fail(run.runId, { kind: refusal.name, message: refusal.message });
      return false;
    }
    if (status.kind === 'reusable')
      this.deps.logger.info('delivering under the prefix of an earlier attempt of this snapshot', {
        destinationPrefix: prefix,
        earlierRunId: status.runId,
        reuseDestination: run.reuseDestination ?? false,
      });
    const sourcePrefix = this.sourcePrefix(run);
    const listing = { bucket: this.s.exportBucket, prefix: sourcePrefix, expectedOwner: this.s.accountId };
    const relative = (page: readonly ListedObject[]) =>
      page
        .map((o) => ({ key: o.key.slice(sourcePrefix.length), size: o.size }))
        .filter((o) => o.key.length > 0 && !o.key.endsWith('/'));
    const list = { action: 's3:ListBucket', side: 'source' } as const;
    const topLevel: PlannedObject[] = [];
    await this.s3Call(list, async () => {
      for await (const page of listPages(this.deps.s3, { ...listing, delimiter: '/' }))
        topLevel.push(...relative(page));
    });
    const s3Call = this.s3Call.bind(this);
    // The next page is requested while the current one is planned (its batches written and handed out).
    async function* pages(s3: S3Client) {
      const it = listPages(s3, listing);
      const request = () => {
        const page = s3Call(list, () => it.next());
        page.catch(() => undefined); // awaited below; not an unhandled rejection while the page before is planned
        return page;
      };
      for (let next = request(); ; ) {
        const page = await next;
        if (page.done) return;
        next = request();
        yield relative(page.value);
      }
    }
    const sizes: PlannedSizes = new Map();
    const totals = await planListing(
      topLevel,
      pages(this.deps.s3),
      { maxObjects: this.s.copy.batchMaxObjects, maxBytes: this.s.copy.batchMaxGiB * GiB },
      async (batches) => {
        await mapWithConcurrency(batches, 8, (b) => this.deps.batches.putIfAbsent(run.runId, b, sourcePrefix, prefix));
        for (const b of batches) sizes.set(Number(b.id), { objects: b.objects.length, bytes: b.bytes });
        await this.deps.batches.recordPlanned(run.runId, Number(batches[batches.length - 1]?.id) + 1);
        await this.dispatchPlanned(run.runId, dispatchSeconds);
      },
    );
    try {
      await this.deps.store.apply(run.runId, RunStage.COPYING, {
        type: 'CopyPlanned',
        objects: totals.objects,
        bytes: totals.bytes,
        batchesTotal: totals.batches,
        destinationPrefix: prefix,
      });
    } catch (e) {
      if (!(e instanceof StaleTransition)) throw e;
      // Another planner recorded the same plan first (or the run moved on): messages go out under the same
      // bound either way; a worker checks the run before it copies.
      this.deps.logger.info('the plan was recorded by another delivery, or the run moved on', { error: e.message });
      return { batches: totals.batches, sizes };
    }
    this.deps.logger.info('copy planned', { ...totals, destinationPrefix: prefix });
    return { batches: totals.batches, sizes };
  }

  /**
   * Works one batch: takes its lease (a delivery that finds another worker on it does nothing), copies what
   * is left, then counts the batch done and finalizes when it was the last one.
   *
   * Once every object of the batch has started, the worker takes the next batch that never had a message and
   * works it in the same invocation, its copies taking the lanes the batch's last copies free: no lane waits
   * for the slowest copies of a batch, and no message is sent for the next. It does so while more than twice
   * the reserve is left before the timeout and no multipart copy of the batch is under way (one that pauses
   * for time would leave two batches to hand on); a batch worked that way that fails is handed on with a
   * message of its own instead of failing the invocation.
   */
  async work(runId: string, index: number, context?: CopyContext): Promise<void> {
    const lanes = new Lanes(this.s.copy.concurrency);
    // Each batch resolves with the batch it took on, if any, once it is done itself.
    let next: Promise<BatchChain> | undefined = this.workBatch(runId, index, context, lanes, false);
    while (next) next = (await next).next;
  }

  /** One batch of {@link work}; resolves, once the batch is done, with the next batch it took on. */
  private async workBatch(
    runId: string,
    index: number,
    context: CopyContext | undefined,
    lanes: Lanes,
    takenOn: boolean,
  ): Promise<BatchChain> {
    const run = await this.copyingRun(runId);
    if (!run) return {};
    const owner = context?.awsRequestId ?? randomUUID();
    const reserve = this.deps.reserveMillis ?? 60_000;
    // The next batch this invocation claimed (undefined when none could be), and its work.
    let claim: Promise<number | undefined> | undefined;
    let successor: Promise<BatchChain> | undefined;
    const takeNext = (multipartUnderWay: boolean) => {
      if (multipartUnderWay || (context && context.getRemainingTimeInMillis() <= 2 * reserve)) return;
      const claimed = this.claimNext(runId, run.copy?.batchesTotal);
      claim = claimed;
      successor = claimed.then((next) => (next === undefined ? {} : this.takeOn(runId, next, context, lanes)));
    };
    const nextTaken = async () => (claim ? (await claim) !== undefined : false);
    try {
      await this.copyAndCount(run, index, owner, context, lanes, takeNext, nextTaken, takenOn);
    } catch (e) {
      // The invocation ends with the batches it took on: this failure is thrown once they are done.
      for (let rest = successor; rest; ) rest = (await rest).next;
      throw e;
    }
    return { next: successor };
  }

  private async copyAndCount(
    run: Run,
    index: number,
    owner: string,
    context: CopyContext | undefined,
    lanes: Lanes,
    takeNext: (multipartUnderWay: boolean) => void,
    nextTaken: () => Promise<boolean>,
    takenOn: boolean,
  ): Promise<void> {
    const runId = run.runId;
    const leaseSeconds = this.deps.leaseSeconds ?? 300;
    const lease = await this.deps.batches.acquireLease(runId, index, owner, leaseSeconds);
    const batch = await this.deps.batches.get(runId, index);
    if (!batch) {
      this.deps.logger.warn('no such batch; ignoring the message', { batch: index });
      return;
    }
    if (!lease && batch.status !== BatchStatus.DONE) {
      this.deps.logger.info('another worker holds the batch; nothing to do', {
        batch: index,
        leaseExpiresAt: batch.lease ? new Date(batch.lease.expiresAt).toISOString() : undefined,
      });
      return;
    }
    // True for the one delivery that marked the batch done: before the plan is recorded, it sends the next batch.
    let markedDone = false;
    if (lease) {
      const keeper = new LeaseKeeper(this.deps.batches, runId, index, lease, leaseSeconds, this.now);
      let outcome: CopyOutcome | false | 'failed' = 'failed';
      try {
        outcome = await this.guard(run, () => this.copyBatch(batch, keeper, lanes, takeNext, context));
        if (outcome === 'done') markedDone = await this.deps.batches.markBatchDone(runId, index);
      } finally {
        keeper.stop();
        if (outcome === 'time' || (outcome === 'failed' && takenOn)) {
          // The one message that carries the batch on holds its lease from now on, so no other is sent. A
          // batch this invocation took on has no Lambda retry to carry it after a failure: the message does.
          const handedOn = await this.handOn(runId, index, owner);
          if (handedOn && outcome === 'time')
            this.deps.logger.info('running out of time; batch handed on with its progress', { batch: index });
          if (handedOn && outcome === 'failed')
            this.deps.logger.warn('a batch taken on in this invocation failed; handed on with a message', {
              batch: index,
            });
        } else {
          // A failure is retried by Lambda as the same request, which owns the lease: it keeps the batch.
          const retain = outcome === 'failed' && context?.awsRequestId ? { retainSeconds: leaseSeconds } : {};
          await this.deps.batches
            .releaseLease(runId, index, owner, retain)
            .catch((e) => this.deps.logger.error('could not release the batch lease', { error: errorMessage(e) }));
        }
      }
      if (outcome !== 'done') return;
    }
    await this.countDone(runId, index, batch, markedDone, await nextTaken());
  }

  /**
   * Claims the next batch that never had a message for this invocation: undefined when there is none, or none
   * may go out yet (a failure to claim is logged: the batch is then sent when this one is done, as always).
   * A worker that started while the plan was made reads the run again, so it sees the plan's totals once recorded.
   */
  private async claimNext(runId: string, batchesTotal: number | undefined): Promise<number | undefined> {
    try {
      const total = batchesTotal ?? (await this.deps.store.get(runId))?.copy?.batchesTotal;
      const next = await this.deps.batches.nextUndispatched(runId, total, this.workersWhilePlanning());
      if (next === undefined) return undefined;
      if (!(await this.deps.batches.claimDispatch(runId, next, this.deps.dispatchLeaseSeconds ?? 900)))
        return undefined;
      this.deps.logger.info('taking the next batch on in this invocation', { batch: next });
      return next;
    } catch (e) {
      this.deps.logger.error('could not claim the next batch', { error: errorMessage(e) });
      return undefined;
    }
  }

  /**
   * Works a batch this invocation claimed, on the same lanes; resolves with the batch after it. It never
   * rejects: a failure once the batch is leased hands it on with a message of its own; one before leaves it to
   * the reconciler, which sends it again once the lease of this claim runs out.
   */
  private async takeOn(
    runId: string,
    index: number,
    context: CopyContext | undefined,
    lanes: Lanes,
  ): Promise<BatchChain> {
    try {
      return await this.workBatch(runId, index, context, lanes, true);
    } catch (e) {
      this.deps.logger.error('the batch taken on in this invocation failed', { batch: index, error: errorMessage(e) });
      return {};
    }
  }

  /** Turns the owner's lease into the lease of one message that carries the batch on, and sends that message. */
  private async handOn(runId: string, index: number, owner: string): Promise<boolean> {
    const handedOn = await this.deps.batches.releaseLease(runId, index, owner, {
      handOffSeconds: this.deps.dispatchLeaseSeconds ?? 900,
    });
    if (handedOn) await this.deps.publisher.publish(StageFunction.COPY, { kind: 'copy-batch', runId, batch: index });
    return handedOn;
  }

  /**
   * Counts a finished batch on the run, then hands its place to the next batch (unless this invocation already
   * took the next one on) and finalizes when it was the last.
   */
  private async countDone(
    runId: string,
    index: number,
    batch: StoredBatch,
    markedDone: boolean,
    nextTaken: boolean,
  ): Promise<void> {
    const counted = await this.deps.batches.countBatchDone(runId, index, batch.keys.length, batch.bytes);
    if (!counted) return;
    if (!counted.planRecorded) {
      if (markedDone && !nextTaken) await this.sendNext(runId, undefined);
      this.deps.logger.info('batch done while the copy is being planned; the planner counts it', { batch: index });
      return;
    }
    if (counted.counted && !nextTaken) await this.sendNext(runId, counted.batchesTotal);
    this.deps.logger.info('batch done', {
      batch: index,
      objects: batch.keys.length,
      bytes: batch.bytes,
      batchesDone: counted.batchesDone,
      batchesTotal: counted.batchesTotal,
    });
    if (counted.batchesDone >= counted.batchesTotal) await this.finalizeIfComplete(runId, `batch:${batch.id}`);
  }

  /**
   * Copies the objects of a batch not yet recorded, continuing multipart copies where they stopped. Progress
   * is written once a second (`checkpointMillis`) or every `checkpointEvery` objects, whichever comes first,
   * after each large object and after each part, and each write renews the lease; copies of small objects go
   * on while a write is under way (what they finish goes into the next write) unless the writes fall several
   * checkpoints behind. Stops early when time runs short, the lease is lost, or the run moved on; fails when
   * progress cannot be written. Each copy holds one of `lanes`; once every object has started, `allStarted` is
   * told whether a multipart copy is still under way.
   */
  private async copyBatch(
    batch: StoredBatch,
    lease: LeaseKeeper,
    lanes: Lanes,
    allStarted: (multipartUnderWay: boolean) => void,
    context?: CopyContext,
  ): Promise<CopyOutcome> {
    const todo = batch.keys.map((_, i) => i).filter((i) => !batch.done.has(i));
    const every = this.deps.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    const checkpointMillis = this.deps.checkpointMillis ?? 1000;
    let lastCheckpoint = this.now();
    const reserve = this.deps.reserveMillis ?? 60_000;
    const activityEvery = this.deps.activityEveryMillis ?? 60_000;
    const largeBytes = this.s.copy.partSizeMiB * MiB;
    let done: Array<{ index: number; etag: string }> = [];
    // Multipart copies: each object's upload, and what of it is not recorded yet (the upload itself, parts).
    const uploadOf = new Map<number, { uploadId: string; partSizeBytes: number }>();
    for (const [i, u] of batch.uploads) uploadOf.set(i, { uploadId: u.uploadId, partSizeBytes: u.partSizeBytes });
    let unrecorded = new Map<number, Array<{ partNumber: number; etag: string }>>();
    // Progress writes run one after the other; a write waiting its turn takes everything done by the time it
    // starts, so a slow table coalesces writes instead of holding the copies up.
    let writing: Promise<void> = Promise.resolve();
    let waiting: Promise<void> | undefined;
    let progressError: unknown;
    let stopped: 'time' | 'run' | 'lease' | undefined;
    let lastStageCheck = this.now();
    let lastActivity = this.now();
    // Requests in flight are cancelled shortly before the invocation ends, so that none outlives it.
    const abort = new AbortController();
    // Every request in flight listens to the one signal: objects at once × parts at once per object.
    setMaxListeners(this.s.copy.concurrency * (this.deps.partConcurrency ?? 8) + 16, abort.signal);
    const deadline = context
      ? setTimeout(() => abort.abort(), Math.max(0, context.getRemainingTimeInMillis() - 5_000))
      : undefined;
    lease.onLost(() => {
      stopped ??= 'lease';
      abort.abort();
    });
    const timeShort = () => {
      if (context && context.getRemainingTimeInMillis() < reserve) stopped ??= 'time';
      return stopped !== undefined;
    };
    /** Records what is done (and renews the lease); resolves once a write that includes it has finished. */
    const flush = (): Promise<void> => {
      if (waiting) return waiting;
      const write = writing.then(async () => {
        waiting = undefined;
        const entries = done;
        done = [];
        const parts = [...unrecorded.entries()].map(([index, list]) => ({
          index,
          ...(uploadOf.get(index) as { uploadId: string; partSizeBytes: number }),
          parts: list,
        }));
        unrecorded = new Map();
        if (entries.length === 0 && parts.length === 0) return;
        await this.deps.batches.recordCopied(batch.runId, batch.index, entries, parts);
        await lease.renew();
        if (this.now() - lastActivity >= activityEvery) {
          lastActivity = this.now();
          await this.deps.batches.touchRun(batch.runId);
        }
      });
      waiting = write;
      // A failed write stops the batch (no new object starts) and fails it once the copies in flight are done.
      writing = write.catch((e: unknown) => {
        progressError ??= e;
      });
      return write;
    };
    const checkStage = async () => {
      if (this.now() - lastStageCheck < 5000) return;
      lastStageCheck = this.now();
      const run = await this.deps.store.get(batch.runId);
      if (run?.stage !== RunStage.COPYING) stopped ??= 'run';
    };
    const copyOne = async (i: number) => {
      const leased = lease.ensure();
      if (leased !== true && !(await leased)) return;
      const size = batch.sizes[i] as number;
      const resume = batch.uploads.get(i);
      const result = await this.copier.copyResumable(
        {
          sourceKey: batch.sourcePrefix + batch.keys[i],
          destinationKey: destinationKey(batch.destinationPrefix, batch.keys[i] as string),
          size,
        },
        {
          resume,
          abortSignal: abort.signal,
          shouldStop: timeShort,
          onUpload: async (u) => {
            uploadOf.set(i, u);
            unrecorded.set(i, []);
            await flush();
          },
          onPart: async (p) => {
            uploadOf.set(i, { uploadId: p.uploadId, partSizeBytes: uploadOf.get(i)?.partSizeBytes ?? 0 });
            unrecorded.set(i, [...(unrecorded.get(i) ?? []), { partNumber: p.partNumber, etag: p.etag }]);
            await flush();
          },
        },
      );
      if ('paused' in result) return;
      done.push({ index: i, etag: result.etag });
      if (done.length >= every || size >= largeBytes || this.now() - lastCheckpoint >= checkpointMillis) {
        lastCheckpoint = this.now();
        const recorded = flush();
        // A large object waits for its record; small ones go on while progress is written, unless the
        // writes have fallen behind by several checkpoints.
        if (size >= largeBytes || done.length >= every * PROGRESS_BACKLOG_CHECKPOINTS) await recorded;
        else recorded.catch(() => undefined);
        await checkStage();
      }
    };
    // Copies under way, multipart ones among them, and the first failure (no copy starts after it).
    const running = new Set<Promise<void>>();
    let multipartUnderWay = 0;
    let failure: { error: unknown } | undefined;
    try {
      let started = 0;
      for (const i of todo) {
        await lanes.acquire();
        if (failure || stopped || progressError !== undefined || timeShort()) {
          lanes.release();
          break;
        }
        const multipart = this.copier.copiesPartByPart(batch.sizes[i] as number);
        if (multipart) multipartUnderWay++;
        const copying: Promise<void> = copyOne(i)
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => {
            if (multipart) multipartUnderWay--;
            lanes.release();
            running.delete(copying);
          });
        running.add(copying);
        started++;
      }
      if (started === todo.length) allStarted(multipartUnderWay > 0);
      while (running.size > 0) await Promise.all(running);
    } finally {
      if (deadline) clearTimeout(deadline);
      await flush().catch((e) => this.deps.logger.error('could not record copy progress', { error: errorMessage(e) }));
    }
    if (failure) throw failure.error;
    if (progressError !== undefined) throw progressError;
    if (stopped === 'run') {
      this.deps.logger.info('run left COPYING; batch abandoned', { batch: batch.index });
      return 'run';
    }
    if (stopped === 'lease') {
      this.deps.logger.warn('the batch lease was lost; another worker has the batch', { batch: batch.index });
      return 'lease';
    }
    return stopped === 'time' ? 'time' : 'done';
  }

  /** Claims and runs the finalization when every batch is in; a no-op for everyone but the claim's winner. */
  private async finalizeIfComplete(runId: string, owner: string): Promise<void> {
    const won = await this.deps.batches.claimFinalization(runId, owner, this.deps.finalizeLeaseSeconds ?? 900);
    if (!won) {
      this.deps.logger.info('another worker finalizes the copy', { owner });
      return;
    }
    const run = await this.copyingRun(runId);
    if (!run) return;
    await this.guard(run, () => this.finalize(run));
  }

  /**
   * Writes the manifest, then `_SUCCESS`, then moves the run on. Refuses to mark a partial delivery. The
   * batches are read one at a time and the manifest is streamed to the destination, so memory stays flat
   * however many objects the export has; nothing is visible at the manifest's key unless every object is in.
   */
  private async finalize(run: Run): Promise<void> {
    const prefix = run.destinationPrefix ?? '';
    const key = manifestKey(prefix);
    const manifest = new ManifestText({
      runId: run.runId,
      cluster: run.sourceClusterId,
      snapshotArn: run.sourceSnapshotArn,
      exportTaskId: run.exportTaskId ?? '',
      destination: this.destination,
      prefix,
      completedAt: new Date(),
    });
    const writer = new DestinationTextWriter(this.deps.s3, {
      ...this.destinationTarget(),
      key,
      contentType: 'application/json',
    });
    const write = (text: string) =>
      this.s3Call({ action: 's3:PutObject', side: 'destination', key }, () => writer.write(text));
    try {
      await write(manifest.start());
      // The export's table status files, read while the manifest is written (each read is awaited below).
      const tablesInfo = new Map<string, Promise<string>>();
      const missing: string[] = [];
      let missingCount = 0;
      let batchesRead = 0;
      for await (const b of this.deps.batches.each(run.runId)) {
        batchesRead++;
        // A batch's entries go to the manifest in one write.
        let entries = '';
        for (const [i, relativeKey] of b.keys.entries()) {
          const etag = b.done.get(i);
          if (etag === undefined) {
            if (missingCount++ < 3) missing.push(relativeKey);
            continue;
          }
          const kind = classifyExportKey(relativeKey);
          if (kind.kind === 'tables-info') {
            const infoKey = b.sourcePrefix + relativeKey;
            const reading = this.s3Call({ action: 's3:GetObject', side: 'source', key: infoKey }, () =>
              readText(this.deps.s3, { bucket: this.s.exportBucket, key: infoKey, expectedOwner: this.s.accountId }),
            );
            reading.catch(() => undefined); // awaited below, unless the manifest fails first
            tablesInfo.set(infoKey, reading);
          }
          const table = kind.kind === 'data' ? { table: `${kind.db}.${kind.table}` } : {};
          entries += manifest.add({
            key: destinationKey(b.destinationPrefix, relativeKey),
            size: b.sizes[i] as number,
            etag,
            ...table,
          });
        }
        if (entries) await write(entries);
      }
      const recorded = manifest.totals.objects;
      const expected = run.copy?.objects ?? recorded;
      if (missingCount > 0 || recorded !== expected || batchesRead !== (run.copy?.batchesTotal ?? batchesRead)) {
        throw new Error(
          `copy of run ${run.runId} is not complete (${recorded} of ${expected} objects recorded, ${missingCount} missing, e.g. ${missing.join(', ')}); ` +
            `_SUCCESS is not written`,
        );
      }
      const exportTables: ExportTableInfo[] = [];
      for (const infoKey of [...tablesInfo.keys()].sort())
        exportTables.push(...parseExportTablesInfo(await (tablesInfo.get(infoKey) as Promise<string>)));
      await write(manifest.finish(exportTables));
      await this.s3Call({ action: 's3:PutObject', side: 'destination', key }, () => writer.end());
    } catch (e) {
      await writer.abort();
      throw e;
    }
    const successKey = successMarkerKey(prefix);
    await this.s3Call({ action: 's3:PutObject', side: 'destination', key: successKey }, () =>
      putDestinationObject(this.deps.s3, {
        ...this.destinationTarget(),
        key: successKey,
        body: '',
        contentType: 'text/plain',
      }),
    );
    const { objects, bytes } = manifest.totals;
    try {
      await finishStage({ store: this.deps.store, publisher: this.deps.publisher }, run.runId, RunStage.COPYING, {
        type: 'CopySucceeded',
        objects,
        bytes,
        destinationPrefix: prefix,
        manifestKey: key,
      });
      this.deps.logger.info('copy finished', { objects, bytes, destinationPrefix: prefix });
    } catch (e) {
      if (!(e instanceof StaleTransition)) throw e;
      this.deps.logger.info('run already moved on', { error: e.message });
    }
  }

  /** Where and how our own objects are written at the destination (the key and content type aside). */
  private destinationTarget() {
    const d = this.s.destination;
    return {
      bucket: this.destination,
      expectedOwner: d.expectedOwnerAccountId,
      kmsKeyArn: d.kmsKeyArn,
      bucketOwnerFullControl: d.aclMode === 'bucket-owner-full-control',
    };
  }

  /** Runs an S3 call, turning a failure into an {@link S3CopyCallError} that says which action and side failed. */
  private async s3Call<T>(
    call: { action: string; side: CopyCallContext['side']; key?: string },
    run: () => Promise<T>,
  ): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof S3CopyCallError) throw e;
      throw new S3CopyCallError(call.action, call.side, call.key ?? '', e);
    }
  }

  /**
   * Runs `work`; a permanent S3 refusal fails the run at once (and returns false), anything else is thrown
   * for Lambda to retry.
   */
  private async guard<T>(run: Run, work: () => Promise<T>): Promise<T | false> {
    try {
      return await work();
    } catch (e) {
      const failure = await this.permanent(e);
      if (!failure) throw e;
      this.deps.logger.error('permanent copy failure', {
        reason: failure.reason,
        action: failure.action,
        resource: failure.resource,
        error: failure.message,
      });
      const error = new DestinationAccessDenied(failure.message, failure.action, failure.resource, { cause: e });
      await this.fail(run.runId, {
        kind: failure.reason === 'AccessDenied' ? error.name : failure.reason,
        message: error.message,
      });
      return false;
    }
  }

  private async permanent(e: unknown): Promise<PermanentCopyFailure | undefined> {
    if (!(e instanceof S3CopyCallError)) return undefined;
    return classifyCopyError(e.cause, {
      action: e.action,
      side: e.side,
      key: e.key || undefined,
      principal: await this.deps.principal(),
      destination: {
        bucketOrAccessPoint: this.destination,
        ownerAccountId: this.s.destination.expectedOwnerAccountId,
        kmsKeyArn: this.s.destination.kmsKeyArn,
      },
      source: { bucket: this.s.exportBucket, ownerAccountId: this.s.accountId, kmsKeyArn: this.s.exportKmsKeyArn },
    });
  }

  private async fail(runId: string, error: { kind: string; message: string }): Promise<void> {
    try {
      await finishStage({ store: this.deps.store, publisher: this.deps.publisher }, runId, RunStage.COPYING, {
        type: 'CopyFailed',
        ...error,
      });
    } catch (e) {
      if (!(e instanceof StaleTransition)) throw e;
      this.deps.logger.info('run already moved on', { error: e.message });
    }
  }
}

/** Names the function's principal once per container (GetCallerIdentity needs no permission). */
export function callerPrincipal(sts: STSClient = new STSClient({})): () => Promise<string> {
  let cached: Promise<string> | undefined;
  return () =>
    (cached ??= sts
      .send(new GetCallerIdentityCommand({}))
      .then((out) => out.Arn ?? 'the copy function role')
      .catch(() => `the execution role of ${process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'the copy function'}`));
}

/**
 * Production dependencies, built once per container. Unlike the other stage functions, the copy function loads
 * no X-Ray SDK: its async hook tracks every promise of the process, and a copy of a small object is little
 * else (8% of the copy stage's CPU at 64 copies in flight per worker). Active tracing still records each
 * invocation with Lambda's own segments; the calls within it are not subsegments.
 */
export function defaultDeps(settings: RuntimeSettings = settingsFromEnv()): CopyDeps & InvocationDeps {
  const documentClient = defaultDocumentClient(new DynamoDBClient({}));
  const s3 = createCopyS3Client();
  return {
    settings,
    store: new RunStore({
      tableName: settings.tableName,
      client: documentClient,
      deadlinesMinutes: settings.stageDeadlinesMinutes,
      retentionDays: settings.runRetentionDays,
    }),
    batches: new CopyBatchStore({
      tableName: settings.tableName,
      client: documentClient,
      retentionDays: settings.runRetentionDays,
    }),
    s3,
    directCopy: createDirectCopy(s3),
    publisher: new SnsPipelinePublisher(settings.pipelineTopicArn, new SNSClient({})),
    logger: createLogger(StageFunction.COPY),
    principal: callerPrincipal(new STSClient({})),
  };
}

/** The Lambda entry point. */
export const handler = lambdaEntry(
  () => defaultDeps(),
  (deps) => makeHandler(deps()),
) as CopyHandler;
