/**
 * Messages on the internal pipeline topic. Every message has the String message attribute `target` (a
 * {@link StageFunction}) that the subscriptions filter on; the body is JSON `{ kind, runId?, ... }`.
 * Anyone moves work along by publishing here: stages, the reconciler, the operator CLI.
 */
import { z } from 'zod';
import { StageFunction } from './run';
import { MAX_BATCH_INDEX } from '../copy/batching';

const runId = z.string().min(1).max(128);

/** Start (or continue) the run of a cluster's snapshot: the newest automated one unless `snapshotArn` names one (ARN or id). */
export const startMessageSchema = z.object({
  kind: z.literal('start'),
  clusterId: z.string().min(1),
  snapshotArn: z.string().min(1).optional(),
});
/**
 * Start a new attempt for the snapshot of a finished (FAILED or CANCELLED) run. Target: start.
 * `reuseDestination`: the client removed the partial delivery an earlier attempt left under the destination
 * prefix, so the new attempt may deliver there.
 */
export const retryMessageSchema = z.object({
  kind: z.literal('retry'),
  runId,
  reuseDestination: z.boolean().optional(),
});
/** Cancel a live run: it goes to CLEANING_UP with outcome CANCELLED. Target: cleanup. */
export const cancelMessageSchema = z.object({ kind: z.literal('cancel'), runId });
/** Do the work of the run's current stage again, because its wake-up event is overdue. Sent by the reconciler to any stage. */
export const advanceMessageSchema = z.object({ kind: z.literal('advance'), runId });
/** Delete the run's temporary resources and finish it. Target: cleanup. */
export const cleanupMessageSchema = z.object({ kind: z.literal('cleanup'), runId });
/** Plan the copy of the run's export (list it, split it in batches, fan them out). Target: copy. */
export const copyPlanMessageSchema = z.object({ kind: z.literal('copy-plan'), runId });
/** Copy one batch of a run (a batch index the planner can have made). Target: copy. Extra fields belong to the copier. */
export const copyBatchMessageSchema = z.looseObject({
  kind: z.literal('copy-batch'),
  runId,
  batch: z.number().int().nonnegative().max(MAX_BATCH_INDEX),
});

/** Any pipeline-topic message. */
export const pipelineMessageSchema = z.discriminatedUnion('kind', [
  startMessageSchema,
  retryMessageSchema,
  cancelMessageSchema,
  advanceMessageSchema,
  cleanupMessageSchema,
  copyPlanMessageSchema,
  copyBatchMessageSchema,
]);
export type PipelineMessage = z.output<typeof pipelineMessageSchema>;
export type PipelineMessageKind = PipelineMessage['kind'];
export type PipelineMessageOf<K extends PipelineMessageKind> = Extract<PipelineMessage, { kind: K }>;

/** Name of the message attribute the subscriptions filter on. */
export const TARGET_ATTRIBUTE = 'target';

/** Port: publishes a message on the pipeline topic for one stage function. */
export interface PipelinePublisher {
  publish(target: StageFunction, message: PipelineMessage): Promise<void>;
}

/** Port: sends a short human message to the alert topics. */
export interface AlertPublisher {
  alert(subject: string, text: string): Promise<void>;
}

/** Parses a message body; `undefined` when it is not JSON or not a known message. */
export function parsePipelineMessage(body: string): PipelineMessage | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const r = pipelineMessageSchema.safeParse(json);
  return r.success ? r.data : undefined;
}

/** The stage names, for validating a `target` attribute. */
export const STAGE_FUNCTIONS: readonly StageFunction[] = Object.values(StageFunction);

/** A message to publish and the stage it is for. */
export interface Addressed {
  readonly target: StageFunction;
  readonly message: PipelineMessage;
}

/**
 * The message that sets a run's next stage going once it has entered `stage`, when no RDS event will:
 * COPYING starts the copy planner, CLEANING_UP starts the cleanup. Other stages wait for RDS events.
 */
export function nextMessageFor(runId: string, stage: string): Addressed | undefined {
  if (stage === 'COPYING') return { target: StageFunction.COPY, message: { kind: 'copy-plan', runId } };
  if (stage === 'CLEANING_UP') return { target: StageFunction.CLEANUP, message: { kind: 'cleanup', runId } };
  return undefined;
}
