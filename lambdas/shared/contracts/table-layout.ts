/**
 * Layout of the run table, shared by the infrastructure that creates it, the adapters that use it and
 * the tests that create it on the emulator, so the three cannot drift apart.
 *
 * One partition per run (`pk` = run id). The run itself is the item with `sk` = `RUN`; copy batches of
 * the run are items with `sk` = `BATCH#<nnnnnn>`. Only run items carry the index attributes, so both
 * indexes are sparse and hold runs alone.
 */
export const RunTableLayout = {
  partitionKey: 'pk',
  sortKey: 'sk',
  runSortKey: 'RUN',
  batchSortKeyPrefix: 'BATCH#',
  /** Runs of one source snapshot, oldest first: finds the live run of a snapshot. */
  bySourceSnapshotIndex: { name: 'bySourceSnapshot', partitionKey: 'sourceSnapshotArn', sortKey: 'createdAt' },
  /** Runs in one stage by last update: what the reconciler and `runs list --status` read. */
  byStageIndex: { name: 'byStage', partitionKey: 'stage', sortKey: 'updatedAt' },
  /** Epoch seconds after which DynamoDB deletes a finished run's items. */
  ttlAttribute: 'expiresAt',
} as const;

/** Metric namespace and dimension for the pipeline's own metrics (emitted as CloudWatch EMF log lines). */
export const PipelineMetrics = {
  namespace: 'AuroraDatalakeExport',
  dimension: 'Pipeline',
  /** Count of runs that ended FAILED. */
  runFailed: 'RunFailed',
  /** Count of runs found past a stage deadline by the reconciler. */
  runPastDeadline: 'RunPastDeadline',
  /** Count of runs that ended SUCCEEDED. */
  runSucceeded: 'RunSucceeded',
} as const;
