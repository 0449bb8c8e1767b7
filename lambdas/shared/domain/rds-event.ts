/**
 * RDS events as they reach the functions: an SNS record whose `Message` is the JSON RDS sends (or, once
 * after subscribing, plain text). Everything is parsed with a schema; anything else is reported as
 * ignorable input, never thrown.
 */
import { z } from 'zod';
import { STAGE_FUNCTIONS, TARGET_ATTRIBUTE, parsePipelineMessage, type PipelineMessage } from './messages';
import type { StageFunction } from './run';

/** RDS event ids the pipeline reacts to. */
export const RdsEventId = {
  AUTOMATED_CLUSTER_SNAPSHOT_CREATED: 'RDS-EVENT-0169',
  MANUAL_CLUSTER_SNAPSHOT_CREATED: 'RDS-EVENT-0075',
  CLUSTER_CREATED: 'RDS-EVENT-0170',
  SNAPSHOT_EXPORT_COMPLETED: 'RDS-EVENT-0164',
  SNAPSHOT_EXPORT_FAILED: 'RDS-EVENT-0162',
  SNAPSHOT_EXPORT_CANCELED: 'RDS-EVENT-0163',
  CLUSTER_EXPORT_COMPLETED: 'RDS-EVENT-0236',
  CLUSTER_EXPORT_FAILED: 'RDS-EVENT-0234',
  CLUSTER_EXPORT_CANCELED: 'RDS-EVENT-0235',
} as const;
export type RdsEventId = (typeof RdsEventId)[keyof typeof RdsEventId];

/** Event ids that mean an export ended. */
export const EXPORT_FINISHED_EVENT_IDS: readonly string[] = [
  RdsEventId.SNAPSHOT_EXPORT_COMPLETED,
  RdsEventId.SNAPSHOT_EXPORT_FAILED,
  RdsEventId.SNAPSHOT_EXPORT_CANCELED,
  RdsEventId.CLUSTER_EXPORT_COMPLETED,
  RdsEventId.CLUSTER_EXPORT_FAILED,
  RdsEventId.CLUSTER_EXPORT_CANCELED,
];

const rdsMessageSchema = z.looseObject({
  'Event Source': z.string(),
  'Event Time': z.string(),
  'Identifier Link': z.string().optional(),
  'Source ID': z.string().min(1),
  'Source ARN': z.string().optional(),
  'Event ID': z.string().regex(/#RDS-EVENT-\d{4}$/),
  'Event Message': z.string().optional(),
});

/** An RDS event, normalized. */
export interface RdsEvent {
  /** `RDS-EVENT-NNNN`, taken after the `#` of the Event ID URL. */
  readonly eventId: string;
  /** `db-cluster-snapshot`, `db-cluster`, ... */
  readonly source: string;
  readonly sourceId: string;
  readonly sourceArn?: string;
  /** ISO-8601 UTC. */
  readonly time: string;
  readonly message: string;
}

/** Parses an RDS event message; undefined when it is not one (plain text, other JSON). */
export function parseRdsEvent(message: string): RdsEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch {
    return undefined;
  }
  const r = rdsMessageSchema.safeParse(json);
  if (!r.success) return undefined;
  const m = r.data;
  const t = m['Event Time'].trim();
  // "2021-05-15 09:10:41.570" is UTC without a zone.
  const iso = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(t) ? `${t.replace(' ', 'T')}Z` : t;
  const parsed = new Date(iso);
  return {
    eventId: m['Event ID'].slice(m['Event ID'].lastIndexOf('#') + 1),
    source: m['Event Source'],
    sourceId: m['Source ID'],
    ...(m['Source ARN'] ? { sourceArn: m['Source ARN'] } : {}),
    time: Number.isNaN(parsed.getTime()) ? t : parsed.toISOString(),
    message: m['Event Message'] ?? '',
  };
}

const snsRecordSchema = z.looseObject({
  Sns: z.looseObject({
    Message: z.string(),
    TopicArn: z.string().optional(),
    MessageId: z.string().optional(),
    MessageAttributes: z
      .record(z.string(), z.looseObject({ Type: z.string().optional(), Value: z.string() }))
      .optional(),
  }),
});

/** What one SNS record holds, as far as the pipeline is concerned. */
export type InboundRecord =
  | { readonly type: 'rds'; readonly event: RdsEvent }
  | { readonly type: 'pipeline'; readonly target: StageFunction; readonly message: PipelineMessage }
  | { readonly type: 'ignored'; readonly reason: string; readonly body?: string };

/**
 * Classifies an SNS record: a pipeline message (it has the `target` attribute), an RDS event, or input
 * to ignore (with the reason to log).
 */
export function parseSnsRecord(record: unknown): InboundRecord {
  const r = snsRecordSchema.safeParse(record);
  if (!r.success) return { type: 'ignored', reason: 'not an SNS record' };
  const { Message, MessageAttributes } = r.data.Sns;
  const body = Message.slice(0, 500);
  const target = MessageAttributes?.[TARGET_ATTRIBUTE]?.Value;
  if (target !== undefined) {
    if (!STAGE_FUNCTIONS.includes(target as StageFunction))
      return { type: 'ignored', reason: `unknown target ${target}`, body };
    const message = parsePipelineMessage(Message);
    return message
      ? { type: 'pipeline', target: target as StageFunction, message }
      : { type: 'ignored', reason: 'not a pipeline message', body };
  }
  const event = parseRdsEvent(Message);
  return event
    ? { type: 'rds', event }
    : { type: 'ignored', reason: 'not an RDS event (plain text or unknown JSON)', body };
}
