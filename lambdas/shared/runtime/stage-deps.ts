/**
 * What every stage function is built from: its dependencies, built once per container from the settings
 * and the SDK's standard configuration, and the common shape of a stage woken by RDS events and `advance`
 * messages. The record loop itself is in ./records.
 */
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SNSEvent } from 'aws-lambda';
import { settingsFromEnv, type RuntimeSettings } from '../contracts/settings';
import { RunStore, defaultDocumentClient } from '../adapters/run-store';
import { RdsGateway } from '../adapters/rds';
import { SnsAlertPublisher, SnsPipelinePublisher } from '../adapters/sns';
import type { AlertPublisher, PipelinePublisher } from '../domain/messages';
import type { RdsEvent } from '../domain/rds-event';
import { runIdFromTempId } from '../domain/naming';
import type { StageFunction } from '../domain/run';
import { createLogger, type Logger } from './logger';
import { Metrics } from './metrics';
import { createTracer, type Tracer } from './tracer';
import { forEachRecord, forRun } from './records';

export { forEachRecord, forRun } from './records';

/** Everything a stage function talks to. Tests build it with emulator-backed clients and fakes. */
export interface StageDeps {
  readonly settings: RuntimeSettings;
  readonly store: RunStore;
  readonly rds: RdsGateway;
  readonly s3: S3Client;
  readonly publisher: PipelinePublisher;
  readonly alerts: AlertPublisher;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => Date;
}

/** Deps, or a function that builds them on first use (so importing a handler never needs the environment). */
export type DepsSource<D> = D | (() => D);

/** Resolves a {@link DepsSource} once and keeps the result for the life of the container. */
export function memoDeps<D>(source: DepsSource<D>): () => D {
  let deps: D | undefined;
  return () => (deps ??= typeof source === 'function' ? (source as () => D)() : source);
}

/** A deployed function's deps: a stage's, and the tracer its SDK clients and invocations are traced by. */
export type DeployedStageDeps = StageDeps & { readonly tracer: Tracer };

/**
 * Builds a function's deps from the environment and the SDK's standard configuration, once per container,
 * every SDK client traced.
 */
export function defaultStageDeps(service: string, env: NodeJS.ProcessEnv = process.env): () => DeployedStageDeps {
  return memoDeps(() => {
    const settings = settingsFromEnv(env);
    const tracer = createTracer(service);
    const sns = tracer.captureAWSv3Client(new SNSClient({}));
    return {
      settings,
      store: storeFor(settings, defaultDocumentClient(tracer.captureAWSv3Client(new DynamoDBClient({})))),
      rds: new RdsGateway(tracer.captureAWSv3Client(new RDSClient({}))),
      s3: tracer.captureAWSv3Client(new S3Client({})),
      publisher: new SnsPipelinePublisher(settings.pipelineTopicArn, sns),
      alerts: new SnsAlertPublisher(settings.alertTopicArns, sns),
      logger: createLogger(service),
      metrics: new Metrics(settings.namePrefix),
      tracer,
      now: () => new Date(),
    };
  });
}

/** A run store configured from the settings. */
export function storeFor(settings: RuntimeSettings, client: RunStore['client'], now?: () => Date): RunStore {
  return new RunStore({
    tableName: settings.tableName,
    client,
    deadlinesMinutes: settings.stageDeadlinesMinutes,
    retentionDays: settings.runRetentionDays,
    now,
  });
}

/** What a stage woken by RDS events about a run's resources (and by the reconciler) is made of. */
export interface RunStageSpec<D extends StageDeps = StageDeps> {
  /** This function: `advance` messages targeted at it act on their run. */
  readonly target: StageFunction;
  /** The RDS event ids (`RDS-EVENT-NNNN`) that wake it; other events are logged and ignored. */
  readonly eventIds: readonly string[];
  /** What an event's source is, for the log line when it belongs to no run (e.g. `temporary cluster`). */
  readonly sourceKind: string;
  /**
   * The runs an event is about. @default the run whose temporary resource is the event's source
   * (`runIdFromTempId`), or none
   */
  readonly runsFor?: (d: D, e: RdsEvent) => Promise<readonly string[]>;
  /** The stage's work on one run, run with the run id on every log line (see {@link forRun}). */
  readonly act: (d: D, runId: string) => Promise<void>;
}

/**
 * Builds a stage function of the common shape: an `advance` for this target acts on its run; an RDS event
 * with one of the stage's event ids acts on the run(s) it is about, by default the run whose temporary
 * resource is the event's source. Anything else is logged and ignored, never thrown.
 *
 * @example
 * export const makeHandler = (source: DepsSource<StageDeps>) =>
 *   makeRunStageHandler(source, { target: StageFunction.SNAPSHOT, eventIds: [RdsEventId.CLUSTER_CREATED], sourceKind: 'temporary cluster', act: snapshotRun });
 */
export function makeRunStageHandler<D extends StageDeps>(
  source: DepsSource<D>,
  spec: RunStageSpec<D>,
): (event: SNSEvent) => Promise<void> {
  const deps = memoDeps(source);
  const ownRun = async (d: D, e: RdsEvent): Promise<readonly string[]> => {
    const runId = runIdFromTempId(d.settings.tempResourcePrefix, e.sourceId);
    return runId ? [runId] : [];
  };
  const runsFor = spec.runsFor ?? ownRun;
  return async (event: SNSEvent): Promise<void> => {
    const d = deps();
    await forEachRecord(event, d.logger, async (record) => {
      if (record.type === 'pipeline') {
        if (record.target !== spec.target || record.message.kind !== 'advance') {
          return void d.logger.info(`ignoring a message the ${spec.target} stage does not handle`, {
            target: record.target,
            kind: record.message.kind,
          });
        }
        const runId = record.message.runId;
        return void (await forRun(d.logger, runId, () => spec.act(d, runId)));
      }
      const e = record.event;
      if (!spec.eventIds.includes(e.eventId))
        return void d.logger.info('ignoring an RDS event for another stage', { eventId: e.eventId });
      const runIds = await runsFor(d, e);
      if (runIds.length === 0)
        return void d.logger.info(`ignoring an event whose ${spec.sourceKind} belongs to no run of this pipeline`, {
          sourceId: e.sourceId,
          eventId: e.eventId,
        });
      for (const runId of runIds) await forRun(d.logger, runId, () => spec.act(d, runId));
    });
  };
}
