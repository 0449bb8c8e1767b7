/**
 * Splits an export into copy batches that one worker finishes well inside the Lambda timeout. Pure.
 *
 * A batch closes when the next object would exceed the object count, the byte budget, or the size of the
 * DynamoDB item that records the batch (400 KB hard limit; the planner keeps well below it). An object
 * bigger than the byte budget travels alone.
 */

import { destinationKey } from './layout';

/** An object to copy, its key relative to the export task prefix. */
export interface PlannedObject {
  readonly key: string;
  readonly size: number;
}

/** One batch: a contiguous run of objects in key order. */
export interface CopyBatch {
  /** Zero-padded sequence number, `000000`...: the batch item's sort key is `BATCH#<id>`. */
  readonly id: string;
  readonly objects: readonly PlannedObject[];
  readonly bytes: number;
}

export interface BatchLimits {
  readonly maxObjects: number;
  readonly maxBytes: number;
  /** Budget for the recorded batch (keys + per-object overhead), in bytes. */
  readonly maxRecordBytes?: number;
}

/** Per-object bytes a batch record spends beyond the key: size, progress entry with the ETag, attribute overhead. */
export const RECORD_BYTES_PER_OBJECT = 80;
/** Default budget for one recorded batch: a margin under DynamoDB's 400 KB item limit. */
export const DEFAULT_MAX_RECORD_BYTES = 300 * 1024;
/** Digits in a batch id; a run may have up to a million batches. */
export const BATCH_ID_DIGITS = 6;
/** Highest batch index a batch id can hold. */
export const MAX_BATCH_INDEX = 10 ** BATCH_ID_DIGITS - 1;

/** Formats a batch sequence number as its id. */
export function batchId(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > MAX_BATCH_INDEX)
    throw new Error(`batch index ${index} out of range`);
  return String(index).padStart(BATCH_ID_DIGITS, '0');
}

/**
 * Groups objects into batches within the limits, in the order of their keys at the destination (the export's
 * own files move to `_export/`), so the plan is deterministic and the manifest can list the batches' objects
 * in key order as it reads them.
 */
export function planBatches(objects: readonly PlannedObject[], limits: BatchLimits): CopyBatch[] {
  const maxObjects = Math.max(1, Math.floor(limits.maxObjects));
  const maxBytes = Math.max(1, limits.maxBytes);
  const maxRecordBytes = limits.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const sorted = objects
    .map((o) => ({ o, at: destinationKey('', o.key) }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
    .map((x) => x.o);
  const batches: CopyBatch[] = [];
  let current: PlannedObject[] = [];
  let bytes = 0;
  let recordBytes = 0;
  const close = () => {
    if (current.length === 0) return;
    batches.push({ id: batchId(batches.length), objects: current, bytes });
    current = [];
    bytes = 0;
    recordBytes = 0;
  };
  for (const object of sorted) {
    const objectRecordBytes = Buffer.byteLength(object.key, 'utf8') + RECORD_BYTES_PER_OBJECT;
    if (
      current.length > 0 &&
      (current.length + 1 > maxObjects ||
        bytes + object.size > maxBytes ||
        recordBytes + objectRecordBytes > maxRecordBytes)
    ) {
      close();
    }
    current.push(object);
    bytes += object.size;
    recordBytes += objectRecordBytes;
  }
  close();
  return batches;
}
