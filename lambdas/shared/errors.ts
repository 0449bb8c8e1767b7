/**
 * The pipeline's error family: one base class, one subclass per kind, each with a message a human can act
 * on. Handlers log and skip bad input; they throw these (or AWS errors) only for real failures.
 */
export { ConfigError } from '../../config/load';

/** Base of every error the pipeline raises on purpose. */
export class PipelineError extends Error {
  public override readonly name: string = 'PipelineError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The run id names no run in the table. */
export class RunNotFound extends PipelineError {
  public override readonly name = 'RunNotFound';
  constructor(public readonly runId: string) {
    super(`run ${runId} is not in the run table`);
  }
}

/**
 * A conditional write found the run elsewhere than expected: another delivery (or the reconciler) moved
 * it first. Expected under at-least-once delivery; handlers log it and stop.
 */
export class StaleTransition extends PipelineError {
  public override readonly name = 'StaleTransition';
  constructor(
    public readonly runId: string,
    public readonly expected: string,
    public readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`run ${runId} is no longer in ${expected} (${detail}); another delivery got there first`, options);
  }
}

/** A run already exists for this id (one live run per source snapshot). */
export class RunAlreadyExists extends PipelineError {
  public override readonly name = 'RunAlreadyExists';
  constructor(public readonly runId: string) {
    super(`run ${runId} already exists`);
  }
}

/** A name or identifier could not be built within the AWS limits. */
export class NamingError extends PipelineError {
  public override readonly name = 'NamingError';
}

/** The client's destination refused us; the message says who, what, where and which policy must allow it. */
export class DestinationAccessDenied extends PipelineError {
  public override readonly name = 'DestinationAccessDenied';
  constructor(
    message: string,
    public readonly action?: string,
    public readonly resource?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A run of another snapshot delivers under the same destination prefix; a run never writes over it. */
export class DestinationTaken extends PipelineError {
  public override readonly name = 'DestinationTaken';
  constructor(
    public readonly destination: string,
    public readonly prefix: string,
    public readonly holderRunId: string,
    public readonly holderSnapshotArn: string,
  ) {
    super(
      `the destination prefix ${prefix} of ${destination} already holds the delivery of run ${holderRunId} ` +
        `(snapshot ${holderSnapshotArn}); a run never writes over another run's delivery. Add {runId} to ` +
        `destination.keyPrefixTemplate to keep both, or remove the other delivery first.`,
    );
  }
}

/**
 * An earlier attempt of the same snapshot copied objects under the destination prefix before it failed, and
 * our copy role cannot delete them: a retry would deliver beside them. The message names both ways out.
 */
export class PartialDeliveryPresent extends PipelineError {
  public override readonly name = 'PartialDeliveryPresent';
  constructor(
    public readonly destination: string,
    public readonly prefix: string,
    public readonly earlierRunId: string,
    public readonly runId: string,
  ) {
    super(
      `the destination prefix ${prefix}/ of ${destination} holds objects that run ${earlierRunId}, an earlier attempt ` +
        `of this snapshot, copied before it failed; run ${runId} will not deliver beside them. Either the client deletes ` +
        `every object under ${prefix}/, then retry with: runs retry ${runId} --reuse-destination; or add {runId} to ` +
        `destination.keyPrefixTemplate and redeploy, so that each attempt delivers under its own prefix, then retry with: runs retry ${runId}`,
    );
  }
}

/** Tables an {@link ExportTablesFailed} message names; the rest are counted. */
export const MAX_TABLES_NAMED = 25;
/** Characters of one table's failure reason that the message keeps. */
export const MAX_TABLE_REASON_CHARS = 300;

/**
 * The export finished, but some tables failed or were skipped; the message names them, up to
 * {@link MAX_TABLES_NAMED}, so that it fits the run item (400 KB) and an alert (256 KB) however many failed.
 */
export class ExportTablesFailed extends PipelineError {
  public override readonly name = 'ExportTablesFailed';
  constructor(public readonly tables: readonly { target: string; status: string; reason?: string }[]) {
    const reason = (r: string) => (r.length > MAX_TABLE_REASON_CHARS ? `${r.slice(0, MAX_TABLE_REASON_CHARS)}…` : r);
    const named = tables
      .slice(0, MAX_TABLES_NAMED)
      .map((t) => `${t.target} (${t.status}${t.reason ? `: ${reason(t.reason)}` : ''})`);
    const more = tables.length - named.length;
    super(
      `export finished with ${tables.length} table(s) not complete: ${named.join(', ')}` +
        (more > 0 ? `, and ${more} more (every table is in the export's export_tables_info_*.json)` : ''),
    );
  }
}

/** The name of an error, whatever was thrown (SDK errors carry theirs in `name`). */
export function errorName(e: unknown): string {
  if (e && typeof e === 'object' && 'name' in e && typeof (e as { name: unknown }).name === 'string')
    return (e as { name: string }).name;
  return 'Error';
}

/** The message of an error, whatever was thrown. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

/**
 * True for a fault that speaks of the moment, not of the request: a resource in a state that does not allow
 * the call yet (`Invalid…StateFault`, e.g. InvalidDBClusterStateFault: "The requested operation can't be
 * performed while the cluster is in this state") or a lack of capacity (`Insufficient…CapacityFault`, e.g.
 * InsufficientDBClusterCapacityFault: "The DB cluster doesn't have enough capacity for the current
 * operation"), as the RDS model documents them. The same call can succeed later, so the run waits: the stage
 * leaves it where it is and the reconciler sends it again until the stage's deadline.
 */
export function isTransientAwsFault(e: unknown): boolean {
  return /^(Invalid\w*StateFault|Insufficient\w*CapacityFault)$/.test(errorName(e));
}

/**
 * True for an AWS error that retrying will not fix (a client fault other than throttling, a resource state or
 * a lack of capacity): the run should fail rather than the function retry. Server faults, throttling,
 * network errors and {@link isTransientAwsFault} faults are not permanent.
 */
export function isPermanentAwsError(e: unknown): boolean {
  if (!e || typeof e !== 'object') return false;
  const err = e as { $fault?: string; $retryable?: unknown; name?: string };
  if (err.$fault !== 'client' || err.$retryable || isTransientAwsFault(e)) return false;
  return !/Throttl|RequestLimitExceeded|TooManyRequests|SlowDown|RequestTimeout/i.test(err.name ?? '');
}
