/**
 * Finishing a stage, the same way in every stage function: move the run with a conditional write, then
 * publish the message that wakes the next stage.
 */
import type { Run, RunStage } from '../domain/run';
import type { RunEvent } from '../domain/transitions';
import { nextMessageFor, type PipelinePublisher } from '../domain/messages';
import type { RunStore } from '../adapters/run-store';

/** What {@link finishStage} needs: the run store and the pipeline publisher. */
export interface FinishStageDeps {
  readonly store: Pick<RunStore, 'apply'>;
  readonly publisher: PipelinePublisher;
}

/**
 * Applies `event` to the run, on the condition that it is still in `expectedStage`, and, when that moved
 * the run into another stage, publishes the message that starts it: `{target: copy, kind: copy-plan}` on
 * entering COPYING, `{target: cleanup, kind: cleanup}` on entering CLEANING_UP (nothing for stages that RDS
 * events drive). Returns the run as written.
 *
 * Throws `StaleTransition` when another delivery moved the run first: the caller logs it and stops,
 * since the winner publishes. A crash between the write and the publish is caught by the reconciler,
 * which re-sends an `advance` for runs that stay idle in a stage.
 *
 * @example
 * // the copy stage, when the last batch is in:
 * await finishStage({ store, publisher }, runId, RunStage.COPYING, { type: 'CopySucceeded', objects, bytes });
 */
export async function finishStage(
  deps: FinishStageDeps,
  runId: string,
  expectedStage: RunStage,
  event: RunEvent,
): Promise<Run> {
  const run = await deps.store.apply(runId, expectedStage, event);
  if (run.stage !== expectedStage) {
    const next = nextMessageFor(run.runId, run.stage);
    if (next) await deps.publisher.publish(next.target, next.message);
  }
  return run;
}
