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

/** Orders two strings by Unicode code point, which is the UTF-8 byte order S3 lists keys in. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (code points above U+FFFF) sort after every other UTF-16 unit in code point order.
    const sx = x >= 0xd800 && x <= 0xdfff;
    const sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Cuts a stream of objects, given in destination key order, into batches within the limits: a batch closes
 * when the next object would break one of them. Holds one open batch, never the whole listing.
 */
export class BatchPlanner {
  private readonly maxObjects: number;
  private readonly maxBytes: number;
  private readonly maxRecordBytes: number;
  private current: PlannedObject[] = [];
  private bytes = 0;
  private recordBytes = 0;
  private next = 0;

  constructor(limits: BatchLimits) {
    this.maxObjects = Math.max(1, Math.floor(limits.maxObjects));
    this.maxBytes = Math.max(1, limits.maxBytes);
    this.maxRecordBytes = limits.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  /** Batches closed so far. */
  get batches(): number {
    return this.next;
  }

  /** Adds the next object; returns the batch it closed, if any. */
  push(object: PlannedObject): CopyBatch | undefined {
    const objectRecordBytes = Buffer.byteLength(object.key, 'utf8') + RECORD_BYTES_PER_OBJECT;
    let closed: CopyBatch | undefined;
    if (
      this.current.length > 0 &&
      (this.current.length + 1 > this.maxObjects ||
        this.bytes + object.size > this.maxBytes ||
        this.recordBytes + objectRecordBytes > this.maxRecordBytes)
    ) {
      closed = this.close();
    }
    this.current.push(object);
    this.bytes += object.size;
    this.recordBytes += objectRecordBytes;
    return closed;
  }

  /** Closes the open batch, if it holds anything. */
  finish(): CopyBatch | undefined {
    return this.current.length > 0 ? this.close() : undefined;
  }

  private close(): CopyBatch {
    const batch = { id: batchId(this.next++), objects: this.current, bytes: this.bytes };
    this.current = [];
    this.bytes = 0;
    this.recordBytes = 0;
    return batch;
  }
}

/**
 * Groups objects into batches within the limits, in the order of their keys at the destination (the export's
 * own files move to `_export/`), so the plan is deterministic and the manifest can list the batches' objects
 * in key order as it reads them. Holds every object: for small inputs; an export is planned by
 * {@link planListing}, page by page.
 */
export function planBatches(objects: readonly PlannedObject[], limits: BatchLimits): CopyBatch[] {
  const sorted = objects
    .map((o) => ({ o, at: destinationKey('', o.key) }))
    .sort((a, b) => compareKeys(a.at, b.at))
    .map((x) => x.o);
  const planner = new BatchPlanner(limits);
  const batches: CopyBatch[] = [];
  for (const object of sorted) {
    const closed = planner.push(object);
    if (closed) batches.push(closed);
  }
  const last = planner.finish();
  if (last) batches.push(last);
  return batches;
}

/** Totals of a planned listing. */
export interface PlanTotals {
  readonly objects: number;
  readonly bytes: number;
  readonly batches: number;
}

/**
 * Plans an export from its listing, streamed page by page in S3's key order, into the same batches as
 * {@link planBatches} would make of the whole listing, with memory bounded by one page and one open batch.
 *
 * The export's own files (single-segment keys) are delivered under `_export/`, which moves them in the
 * destination order; they are few, so they come first (`topLevel`, from a listing with a delimiter) and are
 * merged in at their destination position. Each page's closed batches are handed to `onBatches` before the
 * next page is read. A single-segment key in the pages that `topLevel` lacked means the export changed
 * while it was being planned: that is an error, never a silent omission.
 */
export async function planListing(
  topLevel: readonly PlannedObject[],
  pages: AsyncIterable<readonly PlannedObject[]>,
  limits: BatchLimits,
  onBatches: (batches: CopyBatch[]) => Promise<void>,
): Promise<PlanTotals> {
  const held = topLevel.map((o) => ({ o, at: destinationKey('', o.key) })).sort((a, b) => compareKeys(a.at, b.at));
  const known = new Set(topLevel.map((o) => o.key));
  const planner = new BatchPlanner(limits);
  let objects = 0;
  let bytes = 0;
  let previous: string | undefined;
  const add = (o: PlannedObject, closed: CopyBatch[]) => {
    objects++;
    bytes += o.size;
    const batch = planner.push(o);
    if (batch) closed.push(batch);
  };
  for await (const page of pages) {
    const closed: CopyBatch[] = [];
    for (const o of page) {
      if (!o.key.includes('/')) {
        if (!known.has(o.key))
          throw new Error(`export file ${o.key} appeared while the export was being planned; plan it again`);
        continue;
      }
      if (previous !== undefined && compareKeys(previous, o.key) >= 0)
        throw new Error(`the listing is not in key order (${o.key} after ${previous})`);
      previous = o.key;
      while (held.length > 0 && compareKeys((held[0] as { at: string }).at, o.key) < 0)
        add((held.shift() as { o: PlannedObject }).o, closed);
      add(o, closed);
    }
    if (closed.length > 0) await onBatches(closed);
  }
  const closed: CopyBatch[] = [];
  for (const h of held) add(h.o, closed);
  const last = planner.finish();
  if (last) closed.push(last);
  if (closed.length > 0) await onBatches(closed);
  return { objects, bytes, batches: planner.batches };
}
