/**
 * Reconcile (scheduled): RDS events are best effort, so this looks at the real resources behind every open
 * run. It fails runs past their stage deadline (cleanup follows), re-sends `advance` to the stage whose
 * wake-up event is overdue, retries runs waiting for an export slot (after adopting a task an earlier
 * attempt started without recording it), and deletes tagged temporary resources older than the grace
 * period whose run is finished or unknown. It also starts the newest
 * automated snapshot of a configured cluster when no run exists for it (its RDS-EVENT-0169 was lost), and
 * sends again the alert of a run finished in the last hours whose delivery was never confirmed.
 */
import type { DBCluster, DBClusterSnapshot, Tag } from '@aws-sdk/client-rds';
import { OPEN_STAGES, RunStage, StageFunction, TERMINAL_STAGES, isTerminal, type Run } from '../shared/domain/run';
import { TagKeys, runIdFromTempId } from '../shared/domain/naming';
import { finishStage } from '../shared/stage/finish-stage';
import { ENDED_EXPORT_STATES, adoptEarlierExport } from '../shared/stage/export-attempts';
import { errorMessage, errorName } from '../shared/errors';
import { PipelineMetrics } from '../shared/contracts/table-layout';
import { alertOwed, redeliverRunAlert } from '../shared/stage/run-alert';
import { defaultStageDeps, forRun, memoDeps, type DepsSource, type StageDeps } from '../shared/runtime/stage-deps';
import { lambdaEntry } from '../shared/runtime/invocation';
import { CopyBatchStore } from '../shared/adapters/copy-batch-store';

/** What one pass did, returned (and logged) for operators and tests. */
export interface ReconcileReport {
  readonly pastDeadline: string[];
  readonly advanced: { runId: string; target: StageFunction }[];
  /** Runs waiting for an export slot found to have an export task after all, which they now record. */
  readonly adoptedExports: { runId: string; exportTaskId: string }[];
  readonly failed: string[];
  readonly orphansDeleted: string[];
  /** Snapshots whose RDS-EVENT-0169 never started a run. */
  readonly started: string[];
  /** Finished runs whose unconfirmed alert was sent again. */
  readonly alertsResent: string[];
  readonly errors: { item: string; error: string }[];
}

/** The reconciler's dependencies: a stage's, plus how long a run may sit idle before it is nudged. */
export interface ReconcileDeps extends StageDeps {
  /** Minutes without an update after which PENDING, COPYING and CLEANING_UP runs get an `advance`. @default 10 */
  readonly stallMinutes?: number;
  /** Hours back in which an automated snapshot with no run is still started (a missed RDS-EVENT-0169). @default 24 */
  readonly missedSnapshotLookbackHours?: number;
  /** Hours after a run finished in which its unconfirmed alert is still sent again. @default 6 */
  readonly alertRedeliveryHours?: number;
  /**
   * The copy batches of COPYING runs: a run whose copy is active (its `updatedAt` moves at every worker's
   * checkpoint) is still nudged when one of its batches has no live lease (its worker died or its message was
   * lost), and the copy stage then re-sends only such batches.
   */
  readonly copyBatches?: Pick<CopyBatchStore, 'unattendedIndexes'>;
}

const BROKEN_CLUSTER = [
  'failed',
  'inaccessible-encryption-credentials',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
];

/** Where an idle run's work is, judged from the real resource: advance a stage, fail the run, or wait. */
async function nextStep(
  d: ReconcileDeps,
  run: Run,
  stalled: boolean,
): Promise<{ advance?: StageFunction; fail?: string; adopted?: string }> {
  switch (run.stage) {
    case RunStage.PENDING:
      return stalled ? { advance: StageFunction.START } : {};
    case RunStage.RESTORING: {
      const c = run.tempClusterId ? await d.rds.describeCluster(run.tempClusterId) : undefined;
      if (!c) return { fail: `temporary cluster ${run.tempClusterId} disappeared while restoring` };
      if (BROKEN_CLUSTER.includes(c.Status ?? ''))
        return { fail: `temporary cluster ${run.tempClusterId} is ${c.Status}` };
      return c.Status === 'available' ? { advance: StageFunction.SNAPSHOT } : {};
    }
    case RunStage.SNAPSHOTTING: {
      const s = run.tempSnapshotId ? await d.rds.describeClusterSnapshot(run.tempSnapshotId) : undefined;
      if (!s) return { fail: `temporary snapshot ${run.tempSnapshotId} disappeared while being taken` };
      if (s.Status === 'failed') return { fail: `temporary snapshot ${run.tempSnapshotId} failed` };
      return s.Status === 'available' ? { advance: StageFunction.EXPORT } : {};
    }
    case RunStage.WAITING_FOR_EXPORT_SLOT: {
      // A task an earlier attempt started is adopted rather than left running beside the next attempt's.
      const earlier = await adoptEarlierExport(d, run);
      if (earlier.kind === 'too-early') return {};
      if (earlier.kind === 'none') return { advance: StageFunction.EXPORT };
      return {
        adopted: earlier.exportTaskId,
        ...(ENDED_EXPORT_STATES.includes(earlier.status) ? { advance: StageFunction.EXPORT_FINISHED } : {}),
      };
    }
    case RunStage.EXPORTING: {
      const t = run.exportTaskId ? await d.rds.describeExportTask(run.exportTaskId) : undefined;
      // A task that was just started may not be listed yet; only one missing for a while is lost.
      if (!t) return stalled ? { fail: `export task ${run.exportTaskId} does not exist` } : {};
      const status = t.Status?.toUpperCase() ?? '';
      return ENDED_EXPORT_STATES.includes(status) ? { advance: StageFunction.EXPORT_FINISHED } : {};
    }
    case RunStage.COPYING: {
      if (stalled) return { advance: StageFunction.COPY };
      if (run.copy?.batchesTotal === undefined || !d.copyBatches) return {};
      const unattended = await d.copyBatches.unattendedIndexes(run.runId);
      return unattended.length > 0 ? { advance: StageFunction.COPY } : {};
    }
    case RunStage.CLEANING_UP:
      return stalled ? { advance: StageFunction.CLEANUP } : {};
    default:
      return {};
  }
}

async function reconcileRun(d: ReconcileDeps, run: Run, report: ReconcileReport): Promise<void> {
  const now = d.now();
  const stallMs = (d.stallMinutes ?? 10) * 60_000;
  if (run.deadline && Date.parse(run.deadline) < now.getTime()) {
    d.metrics.count(PipelineMetrics.runPastDeadline, 1, { runId: run.runId, stage: run.stage });
    report.pastDeadline.push(run.runId);
    if (run.stage === RunStage.CLEANING_UP) {
      d.logger.warn('cleanup is past its deadline; trying again');
      await d.publisher.publish(StageFunction.CLEANUP, { kind: 'advance', runId: run.runId });
      report.advanced.push({ runId: run.runId, target: StageFunction.CLEANUP });
      return;
    }
    d.logger.warn('run is past its stage deadline; failing it', { stage: run.stage, deadline: run.deadline });
    await finishStage(d, run.runId, run.stage, { type: 'DeadlinePassed', deadline: run.deadline });
    return;
  }
  const stalled = now.getTime() - Date.parse(run.updatedAt) >= stallMs;
  const step = await nextStep(d, run, stalled);
  if (step.adopted) report.adoptedExports.push({ runId: run.runId, exportTaskId: step.adopted });
  if (step.fail) {
    d.logger.warn('run cannot go on; failing it', { reason: step.fail });
    await finishStage(d, run.runId, run.stage, {
      type: 'Failed',
      stage: run.stage,
      kind: 'ResourceLost',
      message: step.fail,
    });
    report.failed.push(run.runId);
  } else if (step.advance) {
    d.logger.info('next event overdue; advancing the run', { stage: run.stage, target: step.advance });
    await d.publisher.publish(step.advance, { kind: 'advance', runId: run.runId });
    report.advanced.push({ runId: run.runId, target: step.advance });
  }
}

function tag(tags: Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

/** Deletes tagged temporary clusters and snapshots older than the grace period whose run is finished or unknown. */
async function removeOrphans(d: ReconcileDeps, report: ReconcileReport): Promise<void> {
  const s = d.settings;
  const cutoff = d.now().getTime() - s.orphanGraceMinutes * 60_000;
  const candidates: {
    kind: 'cluster' | 'cluster-snapshot';
    id: string;
    status?: string;
    tags?: Tag[];
    created?: Date;
  }[] = [
    ...(await d.rds.listClusters(s.tempResourcePrefix)).map((c: DBCluster) => ({
      kind: 'cluster' as const,
      id: c.DBClusterIdentifier as string,
      status: c.Status,
      tags: c.TagList,
      created: c.ClusterCreateTime,
    })),
    ...(await d.rds.listManualSnapshots(s.tempResourcePrefix)).map((x: DBClusterSnapshot) => ({
      kind: 'cluster-snapshot' as const,
      id: x.DBClusterSnapshotIdentifier as string,
      status: x.Status,
      tags: x.TagList,
      created: x.SnapshotCreateTime,
    })),
  ];
  for (const c of candidates) {
    // Resources on their way out, or still being made, are deleted by a later pass.
    if (c.status === 'deleting' || c.status === 'creating') continue;
    if (tag(c.tags, TagKeys.MANAGED_BY) !== s.managedByTag) continue;
    if (!c.created || c.created.getTime() > cutoff) continue;
    const runId = tag(c.tags, TagKeys.RUN_ID) ?? runIdFromTempId(s.tempResourcePrefix, c.id);
    const run = runId ? await d.store.get(runId) : undefined;
    if (run && !isTerminal(run.stage)) continue;
    try {
      if (c.kind === 'cluster') await d.rds.deleteCluster(c.id);
      else await d.rds.deleteClusterSnapshot(c.id);
      d.logger.warn('deleted an orphaned temporary resource', {
        resource: `${c.kind}:${c.id}`,
        runId,
        runStage: run?.stage ?? 'unknown',
      });
      report.orphansDeleted.push(`${c.kind}:${c.id}`);
    } catch (e) {
      report.errors.push({ item: `${c.kind}:${c.id}`, error: `${errorName(e)}: ${errorMessage(e)}` });
    }
  }
}

/** Starts runs for the newest automated snapshot of each configured cluster when its 0169 never came. */
async function startMissedSnapshots(d: ReconcileDeps, report: ReconcileReport): Promise<void> {
  const now = d.now().getTime();
  const stallMs = (d.stallMinutes ?? 10) * 60_000;
  const lookbackMs = (d.missedSnapshotLookbackHours ?? 24) * 3_600_000;
  for (const cluster of d.settings.sourceClusters) {
    try {
      const snapshot = await d.rds.newestAutomatedSnapshot(cluster.identifier);
      const created = snapshot?.SnapshotCreateTime?.getTime();
      if (!snapshot?.DBClusterSnapshotArn || created === undefined) continue;
      if (now - created < stallMs || now - created > lookbackMs) continue;
      if ((await d.store.findBySnapshot(snapshot.DBClusterSnapshotArn)).length > 0) continue;
      d.logger.warn('automated snapshot has no run; its event was missed, starting it', {
        cluster: cluster.identifier,
        snapshot: snapshot.DBClusterSnapshotIdentifier,
      });
      await d.publisher.publish(StageFunction.START, {
        kind: 'start',
        clusterId: cluster.identifier,
        snapshotArn: snapshot.DBClusterSnapshotArn,
      });
      report.started.push(snapshot.DBClusterSnapshotIdentifier ?? snapshot.DBClusterSnapshotArn);
    } catch (e) {
      report.errors.push({ item: `cluster:${cluster.identifier}`, error: `${errorName(e)}: ${errorMessage(e)}` });
    }
  }
}

/**
 * Sends again the alerts of runs that finished between the stall time and `alertRedeliveryHours` ago and
 * whose delivery was never confirmed (a crash between the final write and the publish). Younger runs are
 * left to the cleanup that is finishing them.
 */
async function redeliverAlerts(d: ReconcileDeps, report: ReconcileReport): Promise<void> {
  const now = d.now().getTime();
  const stallMs = (d.stallMinutes ?? 10) * 60_000;
  const windowMs = (d.alertRedeliveryHours ?? 6) * 3_600_000;
  for (const stage of TERMINAL_STAGES) {
    for (const run of await d.store.listByStage(stage, { updatedAfter: new Date(now - windowMs) })) {
      const age = now - Date.parse(run.stageEnteredAt[stage] ?? run.updatedAt);
      if (!alertOwed(d.settings, run) || age < stallMs || age > windowMs) continue;
      try {
        if (await forRun(d.logger, run.runId, () => redeliverRunAlert(d, run))) report.alertsResent.push(run.runId);
      } catch (e) {
        report.errors.push({ item: `alert:${run.runId}`, error: `${errorName(e)}: ${errorMessage(e)}` });
      }
    }
  }
}

/** Builds the reconcile function from its dependencies. */
export function makeHandler(source: DepsSource<ReconcileDeps>) {
  const deps = memoDeps(source);
  return async (_event?: unknown): Promise<ReconcileReport> => {
    const d = deps();
    const report: ReconcileReport = {
      pastDeadline: [],
      advanced: [],
      adoptedExports: [],
      failed: [],
      orphansDeleted: [],
      started: [],
      alertsResent: [],
      errors: [],
    };
    // A run this pass moved into a later stage (an adopted export) shows up again there: it is handled once.
    const seen = new Set<string>();
    for (const stage of OPEN_STAGES) {
      for (const run of await d.store.listByStage(stage)) {
        if (seen.has(run.runId)) continue;
        seen.add(run.runId);
        try {
          await forRun(d.logger, run.runId, () => reconcileRun(d, run, report));
        } catch (e) {
          report.errors.push({ item: run.runId, error: `${errorName(e)}: ${errorMessage(e)}` });
        }
      }
    }
    await startMissedSnapshots(d, report);
    try {
      await redeliverAlerts(d, report);
    } catch (e) {
      report.errors.push({ item: 'alerts', error: `${errorName(e)}: ${errorMessage(e)}` });
    }
    try {
      await removeOrphans(d, report);
    } catch (e) {
      report.errors.push({ item: 'orphans', error: `${errorName(e)}: ${errorMessage(e)}` });
    }
    d.logger.info('reconcile pass done', { ...report });
    if (report.errors.length > 0)
      throw new Error(
        `reconcile pass had ${report.errors.length} error(s): ${report.errors.map((e) => `${e.item}: ${e.error}`).join('; ')}`,
      );
    return report;
  };
}

/** The deployed function. */
export const handler = lambdaEntry(() => {
  const d = defaultStageDeps(StageFunction.RECONCILE)();
  // The run table's (traced) client serves the copy batches too: they live in the same table.
  const copyBatches = new CopyBatchStore({
    tableName: d.settings.tableName,
    client: d.store.client,
    retentionDays: d.settings.runRetentionDays,
  });
  return { ...d, copyBatches };
}, makeHandler);
