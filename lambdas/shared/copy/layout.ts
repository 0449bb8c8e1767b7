/**
 * Where exported objects come from and where they go. Pure: no AWS SDK.
 *
 * An export lands at `<exportPrefix>/<runId>/<exportTaskId>/<db>/<schema>.<table>/.../part-*.gz.parquet`, next
 * to `export_info_*.json` and `export_tables_info_*.json`. At the destination the run gets one prefix, built
 * from `destination.keyPrefixTemplate`, under which data keeps its `<db>/<table>/...` shape and the export's
 * own JSON files go to `_export/`, a name data-lake readers skip.
 */

import { exportS3PrefixFor } from '../domain/naming';

/** Values the destination key template can use. */
export interface DestinationPrefixValues {
  /** Source cluster identifier. */
  readonly cluster: string;
  /** When the exported snapshot was taken (its day, UTC, names the delivery). */
  readonly snapshotTime: Date;
  readonly runId: string;
}

/** Placeholders accepted by `destination.keyPrefixTemplate`. */
export const DESTINATION_PLACEHOLDERS = ['cluster', 'date', 'dt', 'runId'] as const;

/** Folder under the delivery prefix that receives the export's own JSON files. */
export const EXPORT_METADATA_FOLDER = '_export';
/** Name of the manifest written at the end of a delivery. */
export const MANIFEST_NAME = '_manifest.json';
/** Name of the completion marker, written after everything else. */
export const SUCCESS_MARKER_NAME = '_SUCCESS';

/**
 * Expands the destination key prefix template: `{cluster}`, `{date}` (yyyy-mm-dd), `{dt}` (Hive-style
 * `dt=yyyy-mm-dd`) and `{runId}`. The result has no leading or trailing slash and no empty segment.
 */
export function destinationPrefix(template: string, values: DestinationPrefixValues): string {
  if (Number.isNaN(values.snapshotTime.getTime())) throw new Error('snapshot time is not a valid date');
  const date = values.snapshotTime.toISOString().slice(0, 10);
  const expanded = template.replace(/\{([^}]*)\}/g, (whole, name: string) => {
    switch (name) {
      case 'cluster':
        return values.cluster;
      case 'date':
        return date;
      case 'dt':
        return `dt=${date}`;
      case 'runId':
        return values.runId;
      default:
        throw new Error(
          `unknown placeholder ${whole} in the destination key template; use {cluster}, {date}, {dt}, {runId}`,
        );
    }
  });
  return expanded
    .split('/')
    .filter((segment) => segment.length > 0)
    .join('/');
}

/** Prefix of one export task's output in the export bucket: `<exportPrefix>/<runId>/<exportTaskId>/`. */
export function exportTaskPrefix(exportPrefix: string, runId: string, exportTaskId: string): string {
  return `${exportS3PrefixFor(exportPrefix, runId, exportTaskId)}/`;
}

/** What an exported object is, from its key relative to the export task prefix. */
export type ExportObjectKind =
  | { readonly kind: 'data'; readonly db: string; readonly table: string }
  | { readonly kind: 'tables-info' }
  | { readonly kind: 'export-info' }
  | { readonly kind: 'other' };

/** Classifies a key relative to the export task prefix (`<db>/<schema>.<table>/...` or a top-level JSON file). */
export function classifyExportKey(relativeKey: string): ExportObjectKind {
  const segments = relativeKey.split('/');
  if (segments.length === 1) {
    if (/^export_tables_info_.*\.json$/.test(relativeKey)) return { kind: 'tables-info' };
    if (/^export_info_.*\.json$/.test(relativeKey)) return { kind: 'export-info' };
    return { kind: 'other' };
  }
  if (segments.length >= 3 && segments[0] && segments[1]) return { kind: 'data', db: segments[0], table: segments[1] };
  return { kind: 'other' };
}

/**
 * Destination key of an exported object: data keeps `<db>/<table>/...` under the delivery prefix, the export's
 * top-level files go to `_export/`, and the delivery's own `_manifest.json`/`_SUCCESS` names stay reserved.
 */
export function destinationKey(deliveryPrefix: string, relativeKey: string): string {
  const kind = classifyExportKey(relativeKey);
  const rel =
    relativeKey.split('/').length === 1 && kind.kind !== 'data'
      ? `${EXPORT_METADATA_FOLDER}/${relativeKey}`
      : relativeKey;
  return deliveryPrefix ? `${deliveryPrefix}/${rel}` : rel;
}

/** Key of the manifest of a delivery. */
export function manifestKey(deliveryPrefix: string): string {
  return deliveryPrefix ? `${deliveryPrefix}/${MANIFEST_NAME}` : MANIFEST_NAME;
}

/** Key of the completion marker of a delivery. */
export function successMarkerKey(deliveryPrefix: string): string {
  return deliveryPrefix ? `${deliveryPrefix}/${SUCCESS_MARKER_NAME}` : SUCCESS_MARKER_NAME;
}
