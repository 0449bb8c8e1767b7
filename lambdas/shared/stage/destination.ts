/**
 * Where a run delivers, and whether it may: one delivery prefix per run, claimed on the run table before the
 * first object is copied (see `claimDestination` in ./adapters/copy-batch-store). Every run checks its prefix
 * before it starts any work, so that it fails in seconds rather than after a whole export.
 */
import type { Run } from '../domain/run';
import type { RuntimeSettings } from '../contracts/settings';
import { destinationPrefix } from '../copy/layout';
import type { DestinationStatus } from '../adapters/copy-batch-store';
import { DestinationTaken, PartialDeliveryPresent } from '../errors';

/** What every destination call names as Bucket: the access point ARN, or the bucket name. */
export function destinationOf(settings: Pick<RuntimeSettings, 'destination'>): string {
  return settings.destination.accessPointArn ?? (settings.destination.bucket as string);
}

/** The run's delivery prefix, from `destination.keyPrefixTemplate`. */
export function runDestinationPrefix(
  settings: Pick<RuntimeSettings, 'destination'>,
  run: Pick<Run, 'sourceClusterId' | 'sourceSnapshotCreatedAt' | 'createdAt' | 'runId'>,
): string {
  return destinationPrefix(settings.destination.keyPrefixTemplate, {
    cluster: run.sourceClusterId,
    snapshotTime: new Date(run.sourceSnapshotCreatedAt ?? run.createdAt),
    runId: run.runId,
  });
}

/** The error that keeps `run` from delivering under `prefix` in that state, or undefined when it may. */
export function destinationRefusal(
  status: DestinationStatus,
  destination: string,
  prefix: string,
  run: Pick<Run, 'runId'>,
): DestinationTaken | PartialDeliveryPresent | undefined {
  if (status.kind === 'taken') return new DestinationTaken(destination, prefix, status.runId, status.sourceSnapshotArn);
  if (status.kind === 'partial') return new PartialDeliveryPresent(destination, prefix, status.runId, run.runId);
  return undefined;
}
