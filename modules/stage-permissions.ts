import type { DestinationConfig } from '../config/schema';
import { StageFunction } from '../lambdas/shared/domain/run';
import { CLIENT_KMS_ACTIONS, copyObjectActions, destinationObjectPrefixes } from './client-policy';
import type { AwsContext } from './aws-context';
import { allow, type Statement } from './iam';

/**
 * The AWS calls each stage function makes, as least-privilege statements: RDS writes only on the configured
 * source clusters' snapshots and on temporary resources (`<namePrefix>-tmp-*`), S3 only under the export
 * prefix and the destination prefixes, PassRole only for the export role and only to RDS.
 */

/** What the statements are scoped to. */
export interface StagePermissionScope {
  readonly aws: AwsContext;
  /** `<namePrefix>-tmp-`: every temporary cluster, snapshot and export task id starts with it. */
  readonly tempResourcePrefix: string;
  /** Identifiers of the configured source clusters. */
  readonly sourceClusterIds: readonly string[];
  /** Customer-managed keys the source clusters' snapshots are encrypted with (none for `aws/rds`). */
  readonly sourceSnapshotKmsKeyArns?: readonly string[];
  readonly exportRoleArn: string;
  /** The pipeline key: exports are encrypted with it. */
  readonly kmsKeyArn: string;
  readonly exportBucketArn: string;
  readonly exportPrefix: string;
  /** ExportBucket.exportObjectsArn. */
  readonly exportObjectsArn: string;
  /** DB subnet group temporary clusters are restored into. @default any (the source cluster's) */
  readonly dbSubnetGroupName?: string;
  readonly destination: DestinationConfig;
}

/**
 * Actions AWS authorizes on no resource but `*` (the Service Authorization Reference lists no resource type
 * for them); each is kept region-bound by a condition.
 */
export const RESOURCELESS_ACTIONS = [
  'rds:CancelExportTask',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
] as const;

/** RDS ARNs the statements use. */
function rdsArns(s: StagePermissionScope) {
  const ids = s.sourceClusterIds.map((id) => id.toLowerCase());
  return {
    sourceClusters: ids.map((id) => s.aws.rds(`cluster:${id}`)),
    /** Automated snapshots are `rds:<cluster>-<timestamp>`; a manual start may name `<cluster>-...` snapshots. */
    sourceSnapshots: ids.flatMap((id) => [
      s.aws.rds(`cluster-snapshot:rds:${id}-*`),
      s.aws.rds(`cluster-snapshot:${id}-*`),
    ]),
    tempClusters: s.aws.rds(`cluster:${s.tempResourcePrefix}*`),
    tempSnapshots: s.aws.rds(`cluster-snapshot:${s.tempResourcePrefix}*`),
    anyCluster: s.aws.rds('cluster:*'),
    anySnapshot: s.aws.rds('cluster-snapshot:*'),
  };
}

function passExportRole(s: StagePermissionScope): Statement[] {
  return [
    allow('PassExportRoleToRds', ['iam:PassRole'], [s.exportRoleArn], {
      StringEquals: { 'iam:PassedToService': ['rds.amazonaws.com', 'export.rds.amazonaws.com'] },
    }),
    allow('LetRdsUseExportKey', ['kms:CreateGrant', 'kms:DescribeKey'], [s.kmsKeyArn]),
  ];
}

/**
 * Grants on the customer-managed keys the source clusters are encrypted with (the AWS-managed `aws/rds` key needs
 * none), through RDS in this region only. Restoring needs them: the restored cluster is encrypted with the
 * snapshot's key. AWS documents no such need for StartExportTask (only kms:CreateGrant and kms:DescribeKey on the
 * export's own key), but IAM cannot confine these grants to the restore, so the start stage's direct exports
 * would run with them: the export stage, which exports the same snapshots when they waited for a slot and the
 * temporary snapshots encrypted with the same keys, holds the same statement, so an export behaves the same
 * whichever stage starts it.
 */
function sourceKeysThroughRds(s: StagePermissionScope): Statement[] {
  const keys = [...new Set(s.sourceSnapshotKmsKeyArns ?? [])].sort();
  if (keys.length === 0) return [];
  return [
    allow('SourceKeysThroughRds', ['kms:CreateGrant', 'kms:DescribeKey'], keys, {
      StringEquals: { 'kms:ViaService': `rds.${s.aws.region}.amazonaws.com` },
    }),
  ];
}

/**
 * DeleteDBCluster on temporary clusters. The Service Authorization Reference lists cluster-snapshot as a required
 * resource type of DeleteDBCluster (the final snapshot's ARN), so temporary snapshot names are granted too; every
 * call skips the final snapshot, and none of these roles may create a snapshot (rds:CreateDBClusterSnapshot).
 */
function deleteTemporaryClusters(a: ReturnType<typeof rdsArns>): Statement {
  return allow('DeleteTemporaryClusters', ['rds:DeleteDBCluster'], [a.tempClusters, a.tempSnapshots]);
}

/**
 * DescribeExportTasks by task identifier names no cluster or snapshot (its resource types are all optional in
 * the Service Authorization Reference), so IAM evaluates `*`: read-only, kept to this region.
 */
function describeExportTasks(s: StagePermissionScope): Statement {
  return allow('DescribeExportTasks', ['rds:DescribeExportTasks'], ['*'], {
    StringEquals: { 'aws:RequestedRegion': s.aws.region },
  });
}

function readExports(s: StagePermissionScope): Statement[] {
  return [
    allow('ListExports', ['s3:ListBucket'], [s.exportBucketArn], {
      StringLike: { 's3:prefix': [s.exportPrefix, `${s.exportPrefix}/*`] },
    }),
    allow('ReadExports', ['s3:GetObject'], [s.exportObjectsArn]),
    allow('DecryptExports', ['kms:Decrypt'], [s.kmsKeyArn]),
  ];
}

/** ARNs of the destination objects our copies may write. */
export function destinationObjectArns(
  s: Pick<StagePermissionScope, 'aws' | 'destination' | 'sourceClusterIds'>,
): string[] {
  const prefixes = destinationObjectPrefixes(s.destination.keyPrefixTemplate, s.sourceClusterIds);
  return prefixes.map((p) =>
    s.destination.accessPointArn
      ? `${s.destination.accessPointArn}/object/${p}`
      : s.aws.s3(s.destination.bucket as string, p),
  );
}

function writeDestination(s: StagePermissionScope): Statement[] {
  const statements = [
    allow('WriteDestination', copyObjectActions(s.destination.aclMode), destinationObjectArns(s), {
      StringEquals: { 's3:ResourceAccount': s.destination.expectedOwnerAccountId },
    }),
  ];
  if (s.destination.kmsKeyArn) {
    statements.push(allow('EncryptWithDestinationKey', CLIENT_KMS_ACTIONS, [s.destination.kmsKeyArn]));
  }
  return statements;
}

/** The statements specific to one stage (table, topics, logs and dead-letter queue are added by the caller). */
export function stagePermissions(fn: StageFunction, s: StagePermissionScope): Statement[] {
  const a = rdsArns(s);
  switch (fn) {
    case StageFunction.START:
      return [
        // Any snapshot event may name any cluster's snapshot; RDS tells which cluster it belongs to.
        allow('FindSnapshotsAndClusters', ['rds:DescribeDBClusterSnapshots'], [a.anySnapshot, ...a.sourceClusters]),
        // Without a configured subnet group, a temporary cluster goes into its source cluster's (and its groups).
        ...(s.dbSubnetGroupName
          ? []
          : [allow('DescribeSourceClusters', ['rds:DescribeDBClusters'], [...a.sourceClusters])]),
        allow(
          'RestoreToTemporaryCluster',
          ['rds:RestoreDBClusterFromSnapshot'],
          [
            a.tempClusters,
            s.aws.rds('cluster-pg:*'),
            s.aws.rds('og:*'),
            s.aws.rds(`subgrp:${s.dbSubnetGroupName ?? '*'}`),
          ],
        ),
        // Tags given to the restore are authorized as tagging the new cluster; start makes no snapshot.
        allow('TagTemporaryResources', ['rds:AddTagsToResource'], [a.tempClusters]),
        // A source snapshot is restored (the long way) or exported directly (a temporary snapshot is exported
        // by the export stage). One statement names each configured cluster's snapshots once for both, as the
        // list grows with every configured cluster.
        allow(
          'RestoreOrExportSourceSnapshots',
          ['rds:RestoreDBClusterFromSnapshot', 'rds:StartExportTask'],
          [...a.sourceSnapshots],
        ),
        ...passExportRole(s),
        ...sourceKeysThroughRds(s),
      ];
    case StageFunction.SNAPSHOT:
      return [
        allow('DescribeTemporaryClusters', ['rds:DescribeDBClusters'], [a.tempClusters]),
        allow('SnapshotTemporaryClusters', ['rds:CreateDBClusterSnapshot'], [a.tempClusters, a.tempSnapshots]),
        // Tags given to CreateDBClusterSnapshot are authorized as tagging the new snapshot.
        allow('TagTemporaryResources', ['rds:AddTagsToResource'], [a.tempSnapshots]),
      ];
    case StageFunction.EXPORT:
      return [
        // Only the run's temporary snapshot is described; its cluster is named as well, as the Service
        // Authorization Reference lists both resource types for this action.
        allow('DescribeSnapshots', ['rds:DescribeDBClusterSnapshots'], [a.tempSnapshots, a.tempClusters]),
        // Temporary snapshots, and source snapshots of direct-path runs that waited for an export slot.
        allow('StartExports', ['rds:StartExportTask'], [a.tempSnapshots, ...a.sourceSnapshots]),
        // The temporary cluster is no longer needed once its snapshot exists.
        deleteTemporaryClusters(a),
        ...passExportRole(s),
        ...sourceKeysThroughRds(s),
      ];
    case StageFunction.EXPORT_FINISHED:
      return [describeExportTasks(s), ...readExports(s)];
    case StageFunction.COPY:
      return [...readExports(s), ...writeDestination(s)];
    case StageFunction.CLEANUP:
      return [
        // A cluster is described before it is deleted (already deleting counts as done); a snapshot is not.
        allow('DescribeTemporaryClusters', ['rds:DescribeDBClusters'], [a.tempClusters]),
        deleteTemporaryClusters(a),
        allow('DeleteTemporarySnapshots', ['rds:DeleteDBClusterSnapshot'], [a.tempSnapshots]),
        describeExportTasks(s),
        // CancelExportTask has no resource type: "*" is the only resource IAM accepts for it.
        allow('CancelExportTasks', ['rds:CancelExportTask'], ['*'], {
          StringEquals: { 'aws:RequestedRegion': s.aws.region },
        }),
      ];
    case StageFunction.RECONCILE:
      return [
        // Finding orphans means listing: read-only, this account and region. The listings carry each
        // resource's tags, so no ListTagsForResource is needed.
        // One statement per action: DescribeDBClusters is authorized on clusters only, DescribeDBClusterSnapshots
        // on snapshots and, when filtered by cluster, on that cluster.
        allow('ListClusters', ['rds:DescribeDBClusters'], [a.anyCluster]),
        allow('ListSnapshots', ['rds:DescribeDBClusterSnapshots'], [a.anySnapshot, a.anyCluster]),
        describeExportTasks(s),
        deleteTemporaryClusters(a),
        allow('DeleteTemporarySnapshots', ['rds:DeleteDBClusterSnapshot'], [a.tempSnapshots]),
      ];
    default: {
      const unknown: never = fn;
      throw new Error(`No permissions defined for stage function ${String(unknown)}`);
    }
  }
}

/**
 * Which topics each stage publishes to: every stage but cleanup moves runs on through the pipeline topic;
 * only cleanup (a run's end) and the reconciler (an alert whose delivery was never confirmed) send alerts.
 */
export const STAGE_PUBLISHES: Readonly<
  Record<StageFunction, { readonly pipeline: boolean; readonly alerts: boolean }>
> = {
  start: { pipeline: true, alerts: false },
  snapshot: { pipeline: true, alerts: false },
  export: { pipeline: true, alerts: false },
  'export-finished': { pipeline: true, alerts: false },
  copy: { pipeline: true, alerts: false },
  cleanup: { pipeline: false, alerts: true },
  reconcile: { pipeline: true, alerts: true },
};

/** Stages that start exports with the pipeline key (RDS creates a grant with their permissions). */
export const EXPORT_STARTERS: readonly StageFunction[] = [StageFunction.START, StageFunction.EXPORT];

/** RDS events each stage is woken by (SNS filter on the `Event ID` suffix); none for the others. */
export const STAGE_RDS_EVENTS: Readonly<Record<StageFunction, readonly string[]>> = {
  start: ['RDS-EVENT-0169'],
  snapshot: ['RDS-EVENT-0170'],
  export: ['RDS-EVENT-0075'],
  'export-finished': [
    'RDS-EVENT-0164',
    'RDS-EVENT-0162',
    'RDS-EVENT-0163',
    'RDS-EVENT-0236',
    'RDS-EVENT-0234',
    'RDS-EVENT-0235',
  ],
  copy: [],
  cleanup: [],
  reconcile: [],
};
