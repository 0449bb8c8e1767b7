/**
 * What every stage function is built from, and the loop that feeds it SNS records: parse each record,
 * skip bad input with a log line, let a lost race (StaleTransition) end quietly, and rethrow genuine
 * failures after the other records are done so Lambda's retries and the dead-letter queue mean something.
 */
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SNSEvent } from 'aws-lambda';
import { settingsFromEnv, type RuntimeSettings } from './settings';
import { RunStore, defaultDocumentClient } from './adapters/run-store';
import { RdsGateway } from './adapters/rds';
import { SnsAlertPublisher, SnsPipelinePublisher } from './adapters/sns';
import type { AlertPublisher, PipelinePublisher } from './domain/messages';
import { parseSnsRecord, type InboundRecord } from './domain/rds-event';
import { createLogger, type Logger } from './logger';
import { Metrics } from './metrics';
import { StaleTransition, errorMessage, errorName } from './errors';

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

/** Builds a function's deps from the environment and the SDK's standard configuration, once per container. */
export function defaultStageDeps(service: string, env: NodeJS.ProcessEnv = process.env): () => StageDeps {
  return memoDeps(() => {
    const settings = settingsFromEnv(env);
    const sns = new SNSClient({});
    return {
      settings,
      store: storeFor(settings, defaultDocumentClient(new DynamoDBClient({}))),
      rds: new RdsGateway(new RDSClient({})),
      s3: new S3Client({}),
      publisher: new SnsPipelinePublisher(settings.pipelineTopicArn, sns),
      alerts: new SnsAlertPublisher(settings.alertTopicArns, sns),
      logger: createLogger(service),
      metrics: new Metrics(settings.namePrefix),
      now: () => new Date(),
    };
  });
}

/** A run store configured from the settings. */
export function storeFor(settings: RuntimeSettings, client: RunStore['client'], now?: () => Date): RunStore {
  return new RunStore({ tableName: settings.tableName, client, deadlinesMinutes: settings.stageDeadlinesMinutes, retentionDays: settings.runRetentionDays, now });
}

const LOGGED = new WeakSet<object>();

/**
 * Runs `fn` for one run with its id on every log line; a lost race is logged as such and a failure is
 * logged (with the run id) before it propagates.
 */
export async function forRun<T>(logger: Logger, runId: string, fn: () => Promise<T>): Promise<T | undefined> {
  logger.appendKeys({ runId });
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StaleTransition) {
      logger.info('run already moved on; nothing to do', { detail: e.message });
      return undefined;
    }
    logger.error('run step failed', { error: errorName(e), message: errorMessage(e) });
    if (e && typeof e === 'object') LOGGED.add(e);
    throw e;
  } finally {
    logger.removeKeys(['runId']);
  }
}

/**
 * Feeds every record of an SNS event to `handle`. Ignorable input is logged and skipped; a
 * StaleTransition (another delivery got there first) is logged and ends that record; any other error
 * is logged and, once every record had its turn, the first one is thrown.
 */
export async function forEachRecord(event: SNSEvent, logger: Logger, handle: (record: Exclude<InboundRecord, { type: 'ignored' }>) => Promise<void>): Promise<void> {
  const failures: unknown[] = [];
  for (const raw of event?.Records ?? []) {
    const record = parseSnsRecord(raw);
    if (record.type === 'ignored') {
      logger.warn('ignoring input', { reason: record.reason, body: record.body });
      continue;
    }
    try {
      await handle(record);
    } catch (e) {
      if (e instanceof StaleTransition) {
        logger.info('run already moved on; nothing to do', { detail: e.message });
        continue;
      }
      if (!LOGGED.has(e as object)) logger.error('record failed', { error: errorName(e), message: errorMessage(e) });
      failures.push(e);
    }
  }
  if (failures.length > 0) throw failures[0];
}
