import { ExportPath, RunStage, newRun, type Run } from '../../lambdas/shared/domain/run';
import type { RunStore } from '../../lambdas/shared/adapters/run-store';
import { exportS3PrefixFor, exportTaskIdFor, runIdFor, tempResourceId } from '../../lambdas/shared/domain/naming';

/** The serverless snapshot the fixtures' temporary resources belong to. */
export const FIXTURE_SNAPSHOT_ID = 'rds:me3-serverless-2026-05-15-09-10';
export const FIXTURE_RUN_ID = runIdFor(FIXTURE_SNAPSHOT_ID);
/** The temporary cluster and snapshot id of the fixture run, under the simulated `sim-tmp-` prefix. */
export const FIXTURE_TEMP_ID = tempResourceId('sim-tmp-', FIXTURE_RUN_ID);

/**
 * Puts a run straight into `stage` in the store, with the fields a run there has (temporary ids, export
 * task), as the earlier stages would have left it.
 */
export async function seedRun(
  store: RunStore,
  stage: RunStage,
  options: { prefix?: string; runId?: string; path?: ExportPath; extra?: Partial<Run> } = {},
): Promise<Run> {
  const prefix = options.prefix ?? 'sim-tmp-';
  const runId = options.runId ?? FIXTURE_RUN_ID;
  const path = options.path ?? ExportPath.RESTORE;
  const base = newRun({
    runId,
    attempt: 1,
    sourceClusterId: path === ExportPath.RESTORE ? 'me3-serverless' : 'orders-provisioned',
    sourceSnapshotId: FIXTURE_SNAPSHOT_ID,
    sourceSnapshotArn: `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:${FIXTURE_SNAPSHOT_ID}`,
    path,
    now: new Date('2026-05-15T09:11:00Z'),
    pendingDeadlineMinutes: 120,
  });
  const temp = tempResourceId(prefix, runId);
  const task = exportTaskIdFor(prefix, runId, 1);
  const run: Run = {
    ...base,
    stage,
    ...(path === ExportPath.RESTORE && stage !== RunStage.PENDING ? { tempClusterId: temp, tempSnapshotId: temp } : {}),
    ...([RunStage.EXPORTING, RunStage.COPYING, RunStage.CLEANING_UP].includes(stage as never)
      ? { exportTaskId: task, exportS3Prefix: exportS3PrefixFor('exports', runId, task) }
      : {}),
    ...options.extra,
  };
  await store.createRun(run);
  return run;
}
