/**
 * The loop that feeds a function its SNS records, and the frame of the work on one run: parse each record,
 * skip bad input with a log line, let a lost race (StaleTransition) end quietly, and rethrow genuine
 * failures after the other records are done so Lambda's retries and the dead-letter queue mean something.
 * No AWS client here, so any function can use it without bundling one it does not call.
 */
import type { SNSEvent } from 'aws-lambda';
import { parseSnsRecord, type InboundRecord } from '../domain/rds-event';
import type { Logger } from './logger';
import { StaleTransition, errorMessage, errorName } from '../errors';

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
 * Feeds every record of an SNS event to `handle`. An event without a `Records` list, and ignorable records,
 * are logged and skipped; a
 * StaleTransition (another delivery got there first) is logged and ends that record; any other error
 * is logged and, once every record had its turn, the first one is thrown.
 */
export async function forEachRecord(
  event: SNSEvent,
  logger: Logger,
  handle: (record: Exclude<InboundRecord, { type: 'ignored' }>) => Promise<void>,
): Promise<void> {
  const failures: unknown[] = [];
  const records: unknown = (event as { Records?: unknown } | null | undefined)?.Records;
  if (!Array.isArray(records)) {
    // Not an SNS event (a test invocation, another trigger): nothing to retry, so nothing is thrown.
    logger.warn('ignoring an event without a Records list', {
      recordsType: records === null ? 'null' : typeof records,
      eventKeys: event && typeof event === 'object' ? Object.keys(event).slice(0, 20) : [],
    });
    return;
  }
  for (const raw of records) {
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
