/**
 * What `npm run simulate` says a run delivered. The copy stage copies every exported object (the data files
 * and the export's own info files) and then writes its manifest and the `_SUCCESS` marker beside them; the run
 * and its alert count the copied objects only, so the narration counts those and names the two files apart.
 */
import { MANIFEST_NAME, SUCCESS_MARKER_NAME } from '../lambdas/shared/copy/layout';

/** The keys under a run's destination prefix, split into copied objects and the files the copy writes last. */
export interface DeliverySummary {
  readonly copied: readonly string[];
  readonly written: readonly string[];
}

/** Splits the keys listed under `prefix` (no trailing slash) into copied objects, and the manifest and marker in the order they are written. */
export function summarizeDelivery(prefix: string, keys: readonly string[]): DeliverySummary {
  const own = [`${prefix}/${MANIFEST_NAME}`, `${prefix}/${SUCCESS_MARKER_NAME}`];
  return { copied: keys.filter((k) => !own.includes(k)), written: own.filter((k) => keys.includes(k)) };
}

/**
 * The narration's lines for a delivery, with one object count: the copied objects, which the run records as
 * `objectsCopied` and its alert reports. A listing that disagrees with the run is said, never hidden.
 */
export function deliveryLines(
  destination: string,
  prefix: string,
  summary: DeliverySummary,
  run: { readonly objectsCopied?: number; readonly bytesCopied?: number },
): string[] {
  const lines = [
    `Delivered ${summary.copied.length} objects to ${destination}/${prefix}/ (${run.bytesCopied ?? 0} bytes copied):`,
    ...summary.copied.map((k) => `  ${k}`),
    `Written after them: ${summary.written.length ? summary.written.join(', ') : 'neither the manifest nor _SUCCESS'}`,
  ];
  if (run.objectsCopied !== undefined && run.objectsCopied !== summary.copied.length)
    lines.push(
      `MISMATCH: the run records ${run.objectsCopied} copied objects, the destination holds ${summary.copied.length}`,
    );
  return lines;
}
