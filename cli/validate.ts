/**
 * Checks of the command line's values, run before any AWS call so that a typo costs a usage error (exit 2)
 * that names the flag and the expected shape, not a round trip that fails somewhere less clear.
 * The shapes are AWS's: identifiers as the RDS, IAM and S3 documentation define them, regions as the SDK's
 * partition data matches them.
 */
import type { PipelineConfig, SourceClusterConfig } from '../config/schema';
import { isValidIdentifier, MAX_RUN_ID_LENGTH } from '../lambdas/shared/domain/naming';
import { UsageError } from './errors';

/** Region names of every AWS partition (`us-east-1`, `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`). */
const REGION = /^[a-z]{2,4}(?:-[a-z]+)+-\d+$/;
/** Run ids as `runIdFor` makes them: lowercase letters, digits and single hyphens, starting with a letter. */
const RUN_ID = /^[a-z](?:[a-z0-9]|-(?!-))*$/;
/** Snapshot names RDS gives automated snapshots: `rds:<cluster>-YYYY-MM-DD-HH-MM`. */
const AUTOMATED_SNAPSHOT = /^rds:([a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$/;
/** Longest DB cluster snapshot identifier RDS accepts (1 to 255 letters, numbers or hyphens). */
const MAX_SNAPSHOT_ID_LENGTH = 255;
/** `arn:<partition>:rds:<region>:<account>:cluster-snapshot:<name>`. */
const SNAPSHOT_ARN = /^arn:(aws[a-z-]*):rds:([a-z0-9-]+):(\d{12}):cluster-snapshot:(.+)$/;
/** `arn:<partition>:iam::<account>:role/<path/>name`: path segments of printable ASCII, names of `[\w+=,.@-]`. */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/(?:[\x21-\x2e\x30-\x7e]+\/)*([\w+=,.@-]+)$/;
const MAX_ROLE_NAME_LENGTH = 64;

/** `--region`: the shape of an AWS region name. */
export function checkRegion(value: string, flag = '--region'): string {
  if (!REGION.test(value))
    throw new UsageError(`${flag} "${value}" is not an AWS region name: use one such as eu-west-1 or us-east-1`);
  return value;
}

/** A run id argument: what the pipeline names runs, so a mistyped one is caught before the table is read. */
export function checkRunId(value: string): string {
  if (value.length <= MAX_RUN_ID_LENGTH && RUN_ID.test(value) && !value.endsWith('-')) return value;
  throw new UsageError(
    `"${value}" is not a run id: run ids are at most ${MAX_RUN_ID_LENGTH} lowercase letters, digits and single hyphens, ` +
      'starting with a letter (as `runs list` shows them)',
  );
}

/** A cluster identifier as RDS allows it: letters, digits and single hyphens, starting with a letter, at most 63. */
export function checkClusterId(value: string, flag = '--cluster'): string {
  if (isValidIdentifier(value, 63)) return value;
  throw new UsageError(
    `${flag} "${value}" is not a DB cluster identifier: 1 to 63 letters, digits and single hyphens, starting with a letter, not ending with a hyphen`,
  );
}

/** The configured source cluster with this identifier (case-insensitive, as RDS identifiers are), if any. */
export function configuredCluster(config: PipelineConfig, id: string): SourceClusterConfig | undefined {
  return config.sourceClusters.find((c) => c.identifier.toLowerCase() === id.toLowerCase());
}

/** The identifiers of the configured source clusters, for messages. */
export function configuredClusterList(config: PipelineConfig): string {
  return config.sourceClusters.map((c) => c.identifier).join(', ');
}

/** A parsed `--snapshot`: an ARN (with its region) or an identifier in the pipeline's region. */
export type SnapshotRef =
  | { readonly kind: 'arn'; readonly value: string; readonly region: string; readonly name: string }
  | { readonly kind: 'id'; readonly value: string; readonly automatedCluster?: string };

function checkSnapshotName(name: string, shown: string): { automatedCluster?: string } {
  const automated = AUTOMATED_SNAPSHOT.exec(name);
  if (automated) return { automatedCluster: automated[1] };
  if (isValidIdentifier(name, MAX_SNAPSHOT_ID_LENGTH)) return {};
  throw new UsageError(
    `--snapshot "${shown}" is not a DB cluster snapshot: give its ARN (arn:aws:rds:<region>:<account>:cluster-snapshot:<name>), ` +
      'an automated snapshot id (rds:<cluster>-YYYY-MM-DD-HH-MM) or a manual one (letters, digits and single hyphens, starting with a letter)',
  );
}

/**
 * `--snapshot`: an ARN or an identifier. A snapshot of another cluster, or an ARN in another region than the
 * pipeline's, is refused: the start function looks snapshots up in its own region and exports only snapshots
 * of the cluster it was asked for.
 */
export function checkSnapshot(value: string, clusterId: string, region: string): SnapshotRef {
  const arn = SNAPSHOT_ARN.exec(value);
  let ref: SnapshotRef;
  let automatedCluster: string | undefined;
  if (arn) {
    ({ automatedCluster } = checkSnapshotName(arn[4], value));
    if (arn[2] !== region)
      throw new UsageError(
        `--snapshot ${value} is in ${arn[2]}, the pipeline runs in ${region}: copy the snapshot to ${region} first (aws rds copy-db-cluster-snapshot) and start that copy`,
      );
    ref = { kind: 'arn', value, region: arn[2], name: arn[4] };
  } else {
    if (value.startsWith('arn:'))
      throw new UsageError(
        `--snapshot ${value} is not a DB cluster snapshot ARN: arn:aws:rds:<region>:<account>:cluster-snapshot:<name>`,
      );
    ({ automatedCluster } = checkSnapshotName(value, value));
    ref = { kind: 'id', value, ...(automatedCluster ? { automatedCluster } : {}) };
  }
  if (automatedCluster && automatedCluster.toLowerCase() !== clusterId.toLowerCase())
    throw new UsageError(
      `--snapshot ${value} is an automated snapshot of ${automatedCluster}, not of --cluster ${clusterId}; the start function exports only snapshots of the cluster it is asked for`,
    );
  return ref;
}

/** `--copy-role-arn`: an IAM role ARN (`arn:aws:iam::<account>:role/<name>`), the principal the client's policies name. */
export function checkRoleArn(value: string, flag: string): string {
  const m = ROLE_ARN.exec(value);
  if (m && m[1].length <= MAX_ROLE_NAME_LENGTH) return value;
  throw new UsageError(
    `${flag} "${value}" is not an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name> (a name of at most ${MAX_ROLE_NAME_LENGTH} letters, digits and _+=,.@-)`,
  );
}

/**
 * `--bucket`: a general purpose bucket name as S3's naming rules define it: 3 to 63 lowercase letters, digits,
 * dots and hyphens, starting and ending with a letter or digit, no two adjacent dots, not an IP address, none
 * of the reserved prefixes and suffixes.
 */
export function checkBucketName(value: string, flag = '--bucket'): string {
  const problems: string[] = [];
  if (value.length < 3 || value.length > 63) problems.push('3 to 63 characters');
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(value))
    problems.push('lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit');
  if (value.includes('..')) problems.push('no two adjacent dots');
  if (/^\d+\.\d+\.\d+\.\d+$/.test(value)) problems.push('not an IP address');
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(value)) problems.push('not starting with xn--, sthree- or amzn-s3-demo-');
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(value))
    problems.push('not ending with -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3');
  if (problems.length === 0) return value;
  throw new UsageError(`${flag} "${value}" is not an S3 bucket name: ${problems.join('; ')}`);
}

/** A flag that takes a positive number (`--limit`, `--timeout-minutes`); `integer` refuses fractions. */
export function checkPositive(raw: unknown, flag: string, fallback: number, integer = false): number {
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const n = text === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`--${flag} must be a positive ${integer ? 'whole number' : 'number'}, got "${String(raw)}"`);
  return n;
}
