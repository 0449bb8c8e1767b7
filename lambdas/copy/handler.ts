/**
 * The copy stage. Two kinds of pipeline-topic messages wake it:
 *
 * - `copy-plan` (and the reconciler's `advance`): list the run's export, split it into batches recorded on the
 *   run table, record the totals on the run, and publish one `copy-batch` message per batch;
 * - `copy-batch`: copy one batch with bounded concurrency, recording each copied object, then count the
 *   batch done; the worker that completes the last batch writes the manifest and then `_SUCCESS`, and moves
 *   the run on to CLEANING_UP through the engine's `finishStage`.
 *
 * A permanent refusal (access denied, missing bucket, KMS denied, wrong owner) fails the run at once with a
 * message that names the principal, the action, the resource and the policy to change. Anything else is
 * thrown so that Lambda retries the message; a retry redoes only the objects not yet recorded.
 */
import type { Context, SNSEvent } from 'aws-lambda';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { S3Client } from '@aws-sdk/client-s3';
import { RunStage, StageFunction, type Run } from '../shared/domain/run';
import type { PipelinePublisher } from '../shared/domain/messages';
import { forEachRecord } from '../shared/runtime/records';
import { RunStore, defaultDocumentClient } from '../shared/adapters/run-store';
import { SnsPipelinePublisher } from '../shared/adapters/sns';
import { createCopyS3Client, S3CopyCallError, S3ObjectCopier } from '../shared/adapters/s3-copy';
import { DestinationTextWriter, listPrefix, putDestinationObject, readText } from '../shared/adapters/s3-copy-source';
import { BatchStatus, CopyBatchStore, type StoredBatch } from '../shared/adapters/copy-batch-store';
import { planBatches } from '../shared/copy/batching';
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
import { mapWithConcurrency } from '../shared/copy/concurrency';
import { finishStage } from '../shared/stage/finish-stage';
import { DestinationAccessDenied, StaleTransition, errorMessage } from '../shared/errors';
import { createLogger, withRunId, type Logger } from '../shared/runtime/logger';
import { settingsFromEnv, type RuntimeSettings } from '../shared/contracts/settings';
import { isSnsEvent, makeProbeHandler, type ProbeResult } from './probe';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** What the copy handler needs; tests build it around emulator-backed clients. */
export interface CopyDeps {
  readonly settings: RuntimeSettings;
  readonly store: Pick<RunStore, 'get' | 'apply'>;
  readonly batches: CopyBatchStore;
  /** S3 client for the export bucket and the destination (adaptive retry in production). */
  readonly s3: S3Client;
  readonly publisher: PipelinePublisher;
  readonly logger: Logger;
  /** Who the function runs as, for error messages (the role ARN). */
  readonly principal: () => Promise<string>;
  /** Objects recorded per progress write. @default 25 */
  readonly checkpointEvery?: number;
  /** A worker stops taking new objects when less than this is left before the Lambda timeout, and re-queues its batch. @default 60000 */
  readonly reserveMillis?: number;
  /** Age after which a finalization claim by a worker that died may be taken over. @default 900 */
  readonly finalizeLeaseSeconds?: number;
}

/** The copy stage's handler: SNS events, or a direct `{ "kind": "probe" }` invocation answered with a {@link ProbeResult} (see ./probe). */
export interface CopyHandler {
  (event: SNSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<void>;
  (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<undefined | ProbeResult>;
}

/** Builds the handler around its dependencies. */
export function makeHandler(deps: CopyDeps): CopyHandler {
  const copy = new CopyStage(deps);
  const probe = makeProbeHandler(deps);
  const handle = async (
    event: unknown,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<undefined | ProbeResult> => {
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

class CopyStage {
  private readonly s: RuntimeSettings;
  /** Access point ARN or bucket name: what every destination call passes as Bucket. */
  private readonly destination: string;
  private readonly copier: S3ObjectCopier;

  constructor(private readonly deps: CopyDeps) {
    this.s = deps.settings;
    this.destination = destinationOf(this.s);
    this.copier = new S3ObjectCopier({
      client: deps.s3,
      sourceBucket: this.s.exportBucket,
      sourceOwnerAccountId: this.s.accountId,
      destinationBucket: this.destination,
      destinationOwnerAccountId: this.s.destination.expectedOwnerAccountId,
      kmsKeyArn: this.s.destination.kmsKeyArn,
      bucketOwnerFullControl: this.s.destination.aclMode === 'bucket-owner-full-control',
      partSizeBytes: this.s.copy.partSizeMiB * MiB,
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
    if (run.copy?.batchesTotal === undefined) {
      const planned = await this.guard(run, () => this.recordPlan(run));
      if (!planned) return;
    } else {
      this.deps.logger.info('copy already planned; re-sending unfinished batches', {
        reason,
        batchesTotal: run.copy.batchesTotal,
      });
    }
    const pending = await this.deps.batches.pendingIndexes(runId);
    if (pending.length === 0) {
      await this.finalizeIfComplete(runId, `plan:${reason}`);
      return;
    }
    await mapWithConcurrency(pending, 16, (batch) =>
      this.deps.publisher.publish(StageFunction.COPY, { kind: 'copy-batch', runId, batch }),
    );
    this.deps.logger.info('copy batches sent', { batches: pending.length });
  }

  private async recordPlan(run: Run): Promise<boolean> {
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
    const listed = await this.s3Call({ action: 's3:ListBucket', side: 'source' }, () =>
      listPrefix(this.deps.s3, { bucket: this.s.exportBucket, prefix: sourcePrefix, expectedOwner: this.s.accountId }),
    );
    const objects = listed
      .map((o) => ({ key: o.key.slice(sourcePrefix.length), size: o.size }))
      .filter((o) => o.key.length > 0 && !o.key.endsWith('/'));
    const batches = planBatches(objects, {
      maxObjects: this.s.copy.batchMaxObjects,
      maxBytes: this.s.copy.batchMaxGiB * GiB,
    });
    await mapWithConcurrency(batches, 8, (b) => this.deps.batches.putIfAbsent(run.runId, b, sourcePrefix, prefix));
    const bytes = objects.reduce((sum, o) => sum + o.size, 0);
    try {
      await this.deps.store.apply(run.runId, RunStage.COPYING, {
        type: 'CopyPlanned',
        objects: objects.length,
        bytes,
        batchesTotal: batches.length,
        destinationPrefix: prefix,
      });
    } catch (e) {
      if (e instanceof StaleTransition) {
        this.deps.logger.info('run moved on while planning', { error: e.message });
        return false;
      }
      throw e;
    }
    this.deps.logger.info('copy planned', {
      objects: objects.length,
      bytes,
      batches: batches.length,
      destinationPrefix: prefix,
    });
    return true;
  }

  /** Copies one batch, then counts it done and finalizes when it was the last one. */
  async work(runId: string, index: number, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<void> {
    const run = await this.copyingRun(runId);
    if (!run) return;
    const batch = await this.deps.batches.get(runId, index);
    if (!batch) {
      this.deps.logger.warn('no such batch; ignoring the message', { batch: index });
      return;
    }
    if (batch.status !== BatchStatus.DONE) {
      const finished = await this.guard(run, () => this.copyBatch(batch, context));
      if (!finished) return;
      await this.deps.batches.markBatchDone(runId, index);
    }
    const counted = await this.deps.batches.countBatchDone(runId, index, batch.keys.length, batch.bytes);
    if (!counted) return;
    this.deps.logger.info('batch done', {
      batch: index,
      objects: batch.keys.length,
      bytes: batch.bytes,
      batchesDone: counted.batchesDone,
      batchesTotal: counted.batchesTotal,
    });
    if (counted.batchesDone >= counted.batchesTotal) await this.finalizeIfComplete(runId, `batch:${batch.id}`);
  }

  /** Copies the objects of a batch not yet recorded. Returns false when it stopped early (time or run moved on). */
  private async copyBatch(batch: StoredBatch, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<boolean> {
    const todo = batch.keys.map((_, i) => i).filter((i) => !batch.done.has(i));
    const every = this.deps.checkpointEvery ?? 25;
    const reserve = this.deps.reserveMillis ?? 60_000;
    let pending: Array<{ index: number; etag: string }> = [];
    let writing: Promise<void> = Promise.resolve();
    let stopped: 'time' | 'run' | undefined;
    let lastStageCheck = Date.now();
    const flush = () => {
      const entries = pending;
      pending = [];
      writing = writing.then(() => this.deps.batches.recordCopied(batch.runId, batch.index, entries));
      return writing;
    };
    const checkStage = async () => {
      if (Date.now() - lastStageCheck < 5000) return;
      lastStageCheck = Date.now();
      const run = await this.deps.store.get(batch.runId);
      if (run?.stage !== RunStage.COPYING) stopped = 'run';
    };
    // In flight until what this worker copied is recorded: a worker killed in between leaves the mark, and
    // its run then counts as having written at the destination (see CopyBatchStore.mayHaveWritten).
    await this.deps.batches.startCopying(batch.runId, batch.index);
    try {
      await mapWithConcurrency(todo, this.s.copy.concurrency, async (i) => {
        if (stopped) return;
        if (context && context.getRemainingTimeInMillis() < reserve) {
          stopped = 'time';
          return;
        }
        const sourceKey = batch.sourcePrefix + batch.keys[i];
        const destKey = destinationKey(batch.destinationPrefix, batch.keys[i] as string);
        const result = await this.copier.copy({ sourceKey, destinationKey: destKey, size: batch.sizes[i] as number });
        pending.push({ index: i, etag: result.etag });
        if (pending.length >= every) {
          await flush();
          await checkStage();
        }
      });
    } finally {
      await flush()
        .then(() => this.deps.batches.stopCopying(batch.runId, batch.index))
        .catch((e) => this.deps.logger.error('could not record copy progress', { error: errorMessage(e) }));
    }
    if (stopped === 'run') {
      this.deps.logger.info('run left COPYING; batch abandoned', { batch: batch.index });
      return false;
    }
    if (stopped === 'time') {
      this.deps.logger.info('running out of time; batch re-queued with its progress', { batch: batch.index });
      await this.deps.publisher.publish(StageFunction.COPY, {
        kind: 'copy-batch',
        runId: batch.runId,
        batch: batch.index,
      });
      return false;
    }
    return true;
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
      const tablesInfoKeys: string[] = [];
      const missing: string[] = [];
      let missingCount = 0;
      let batchesRead = 0;
      for await (const b of this.deps.batches.each(run.runId)) {
        batchesRead++;
        for (const [i, relativeKey] of b.keys.entries()) {
          const etag = b.done.get(i);
          if (etag === undefined) {
            if (missingCount++ < 3) missing.push(relativeKey);
            continue;
          }
          const kind = classifyExportKey(relativeKey);
          if (kind.kind === 'tables-info') tablesInfoKeys.push(b.sourcePrefix + relativeKey);
          const table = kind.kind === 'data' ? { table: `${kind.db}.${kind.table}` } : {};
          await write(
            manifest.add({
              key: destinationKey(b.destinationPrefix, relativeKey),
              size: b.sizes[i] as number,
              etag,
              ...table,
            }),
          );
        }
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
      for (const infoKey of tablesInfoKeys.sort()) {
        const text = await this.s3Call({ action: 's3:GetObject', side: 'source', key: infoKey }, () =>
          readText(this.deps.s3, { bucket: this.s.exportBucket, key: infoKey, expectedOwner: this.s.accountId }),
        );
        exportTables.push(...parseExportTablesInfo(text));
      }
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

/** Production dependencies, built once per container. */
export function defaultDeps(settings: RuntimeSettings = settingsFromEnv()): CopyDeps {
  const documentClient = defaultDocumentClient();
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
    s3: createCopyS3Client(),
    publisher: new SnsPipelinePublisher(settings.pipelineTopicArn),
    logger: createLogger(StageFunction.COPY),
    principal: callerPrincipal(),
  };
}

let lazy: CopyHandler | undefined;
/** The Lambda entry point. */
export const handler = ((event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
  lazy ??= makeHandler(defaultDeps());
  return lazy(event, context);
}) as CopyHandler;
