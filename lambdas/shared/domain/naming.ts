/**
 * Names of runs and of their temporary resources. Deterministic, so every delivery of an event computes
 * the same names, and within the RDS identifier rules: letters, digits and single hyphens, starting with a
 * letter, no trailing hyphen; clusters and cluster snapshots at most 63 characters, export task ids at
 * most 60. Long names are shortened with a hash of the full name, never truncated into a collision.
 */
import { createHash } from 'node:crypto';
import { NamingError } from '../errors';

/** Longest run id: leaves room for a temporary-resource prefix of {@link MAX_TEMP_PREFIX_LENGTH}. */
export const MAX_RUN_ID_LENGTH = 38;
/** Longest `<namePrefix>-tmp-` (namePrefix is at most 20 characters). */
export const MAX_TEMP_PREFIX_LENGTH = 25;
/** DB cluster and cluster snapshot identifiers. */
export const MAX_RDS_IDENTIFIER_LENGTH = 63;
/** Export task ids (RDS allows a little more; 60 keeps a margin). */
export const MAX_EXPORT_TASK_ID_LENGTH = 60;

const IDENTIFIER = /^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*$/;

/** True for a valid RDS identifier of at most `max` characters. */
export function isValidIdentifier(id: string, max: number): boolean {
  return id.length > 0 && id.length <= max && IDENTIFIER.test(id) && !id.endsWith('-');
}

/** A short lowercase hex digest of `text`. */
export function shortHash(text: string, length = 6): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** Lowercase letters, digits and single hyphens, no leading or trailing hyphen. */
function sanitize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** Cuts `text` to at most `max` characters without leaving a trailing hyphen. */
function cut(text: string, max: number): string {
  return text.slice(0, Math.max(0, max)).replace(/-+$/, '');
}

const AUTOMATED = /^rds:(.+)-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$/;

/**
 * The run id of a source snapshot's attempt: `<cluster>-<yyyymmddhhmm>-<hash>` for automated snapshots
 * (`rds:<cluster>-YYYY-MM-DD-HH-MM`), `<snapshot id>-<hash>` otherwise, with `-r<n>` for attempts after the
 * first. The hash covers the whole snapshot id, so shortening a long cluster name cannot collide.
 */
export function runIdFor(sourceSnapshotId: string, attempt = 1): string {
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new NamingError(`attempt must be a positive integer, got ${attempt}`);
  const hash = shortHash(sourceSnapshotId);
  const suffix = attempt > 1 ? `-r${attempt}` : '';
  const budget = MAX_RUN_ID_LENGTH - hash.length - 1 - suffix.length;
  const m = AUTOMATED.exec(sourceSnapshotId);
  let readable: string;
  if (m) {
    const stamp = `${m[2]}${m[3]}${m[4]}${m[5]}${m[6]}`;
    const cluster = cut(sanitize(m[1]), budget - stamp.length - 1);
    readable = cluster ? `${cluster}-${stamp}` : stamp;
  } else {
    readable = cut(sanitize(sourceSnapshotId), budget);
  }
  if (!/^[a-z]/.test(readable)) readable = cut(`s${readable ? `-${readable}` : ''}`, budget);
  return `${readable}-${hash}${suffix}`;
}

function checkPrefix(tempResourcePrefix: string): void {
  if (
    tempResourcePrefix.length > MAX_TEMP_PREFIX_LENGTH ||
    !/^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*$/.test(tempResourcePrefix)
  ) {
    throw new NamingError(
      `temporary resource prefix "${tempResourcePrefix}" must be at most ${MAX_TEMP_PREFIX_LENGTH} letters, digits and single hyphens`,
    );
  }
}

/** Identifier of a run's temporary cluster and of its manual snapshot: `<tempResourcePrefix><runId>`. */
export function tempResourceId(tempResourcePrefix: string, runId: string): string {
  checkPrefix(tempResourcePrefix);
  const id = `${tempResourcePrefix}${runId}`;
  if (!isValidIdentifier(id, MAX_RDS_IDENTIFIER_LENGTH))
    throw new NamingError(
      `"${id}" is not a valid cluster identifier (at most ${MAX_RDS_IDENTIFIER_LENGTH} characters)`,
    );
  return id;
}

/** The run id a temporary resource belongs to, or undefined when the id is not one of ours. */
export function runIdFromTempId(tempResourcePrefix: string, id: string): string | undefined {
  return id.startsWith(tempResourcePrefix) && id.length > tempResourcePrefix.length
    ? id.slice(tempResourcePrefix.length)
    : undefined;
}

/**
 * Export task id of a run's export attempt: `<tempResourcePrefix><runId>-x<attempt>`, shortened with a hash
 * of the run id when it would pass 60 characters. Unique per attempt; RDS never lets an id be reused.
 */
export function exportTaskIdFor(tempResourcePrefix: string, runId: string, exportAttempt: number): string {
  checkPrefix(tempResourcePrefix);
  const suffix = `-x${exportAttempt}`;
  let id = `${tempResourcePrefix}${runId}${suffix}`;
  if (id.length > MAX_EXPORT_TASK_ID_LENGTH) {
    const hash = shortHash(runId, 6);
    const room = MAX_EXPORT_TASK_ID_LENGTH - tempResourcePrefix.length - suffix.length - hash.length - 1;
    id = `${tempResourcePrefix}${cut(runId, room)}-${hash}${suffix}`.replace(/--+/g, '-');
  }
  if (!isValidIdentifier(id, MAX_EXPORT_TASK_ID_LENGTH)) throw new NamingError(`"${id}" is not a valid export task id`);
  return id;
}

/** Key prefix given to StartExportTask (`S3Prefix`); RDS writes under `<this>/<exportTaskId>/`. */
export function exportTaskS3Prefix(exportPrefix: string, runId: string): string {
  return `${exportPrefix.replace(/\/+$/, '')}/${runId}`;
}

/** Key prefix of the export's files in the export bucket: `<exportPrefix>/<runId>/<exportTaskId>`. */
export function exportS3PrefixFor(exportPrefix: string, runId: string, exportTaskId: string): string {
  return `${exportTaskS3Prefix(exportPrefix, runId)}/${exportTaskId}`;
}

/** Tag keys every temporary resource carries. */
export const TagKeys = { MANAGED_BY: 'managed-by', RUN_ID: 'run-id' } as const;

/**
 * Tags for a temporary resource of a run: the configured `tags` (cost allocation, tag policies), then the
 * pipeline's own, which win over a configured tag of the same key since orphan removal relies on them.
 */
export function tempResourceTags(
  managedByTag: string,
  runId: string,
  configured: Readonly<Record<string, string>> = {},
): { Key: string; Value: string }[] {
  const own: string[] = Object.values(TagKeys);
  return [
    ...Object.entries(configured)
      .filter(([key]) => !own.includes(key))
      .map(([Key, Value]) => ({ Key, Value })),
    { Key: TagKeys.MANAGED_BY, Value: managedByTag },
    { Key: TagKeys.RUN_ID, Value: runId },
  ];
}
