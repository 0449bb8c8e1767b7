/**
 * The delivery manifest: written next to the data before `_SUCCESS`, it lets the client check a delivery
 * object by object (key, size, ETag) and table by table (the export's own per-table status). Pure.
 */

/** One delivered object. */
export interface ManifestObject {
  /** Key in the client's bucket. */
  readonly key: string;
  readonly size: number;
  /** ETag the destination returned for the copy. */
  readonly etag: string;
  /** `<db>.<table>` for data files; absent for the export's own JSON files. */
  readonly table?: string;
}

/** One entry of the export's `export_tables_info_*.json` `perTableStatus`, kept as the export wrote it. */
export type ExportTableInfo = Readonly<Record<string, unknown>> & { readonly target?: string; readonly status?: string };

export interface ManifestInput {
  readonly runId: string;
  readonly cluster: string;
  readonly snapshotArn?: string;
  readonly exportTaskId: string;
  /** Bucket or access point ARN the delivery went to. */
  readonly destination: string;
  readonly prefix: string;
  readonly objects: readonly ManifestObject[];
  readonly exportTables: readonly ExportTableInfo[];
  readonly completedAt: Date;
}

/** Per-table totals of the manifest. */
export interface ManifestTable {
  readonly table: string;
  readonly objects: number;
  readonly bytes: number;
  /** What the export reported for the table (`COMPLETE`, `FAILED`, `SKIPPED`...), when it reported it. */
  readonly exportStatus?: string;
}

export interface Manifest {
  readonly version: 1;
  readonly runId: string;
  readonly cluster: string;
  readonly snapshotArn?: string;
  readonly exportTaskId: string;
  readonly destination: string;
  readonly prefix: string;
  readonly completedAt: string;
  readonly totals: { readonly objects: number; readonly bytes: number };
  readonly tables: readonly ManifestTable[];
  readonly objects: readonly ManifestObject[];
  readonly exportTables: readonly ExportTableInfo[];
}

/**
 * Builds the manifest: objects sorted by key, per-table totals joined with the export's per-table status.
 * A table the export reported but that has no file (an empty or skipped table) still appears.
 */
export function buildManifest(input: ManifestInput): Manifest {
  const objects = [...input.objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const tables = new Map<string, { objects: number; bytes: number; exportStatus?: string }>();
  for (const info of input.exportTables) {
    if (typeof info.target === 'string') tables.set(info.target, { objects: 0, bytes: 0, exportStatus: info.status });
  }
  let bytes = 0;
  for (const o of objects) {
    bytes += o.size;
    if (!o.table) continue;
    const t = tables.get(o.table) ?? { objects: 0, bytes: 0 };
    t.objects += 1;
    t.bytes += o.size;
    tables.set(o.table, t);
  }
  return {
    version: 1,
    runId: input.runId,
    cluster: input.cluster,
    ...(input.snapshotArn ? { snapshotArn: input.snapshotArn } : {}),
    exportTaskId: input.exportTaskId,
    destination: input.destination,
    prefix: input.prefix,
    completedAt: input.completedAt.toISOString(),
    totals: { objects: objects.length, bytes },
    tables: [...tables.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([table, t]) => ({ table, objects: t.objects, bytes: t.bytes, ...(t.exportStatus ? { exportStatus: t.exportStatus } : {}) })),
    objects,
    exportTables: input.exportTables,
  };
}

/** Reads the `perTableStatus` entries of an `export_tables_info_*.json` file; anything else yields none. */
export function parseExportTablesInfo(json: string): ExportTableInfo[] {
  const parsed: unknown = JSON.parse(json);
  if (!parsed || typeof parsed !== 'object') return [];
  const entries = (parsed as { perTableStatus?: unknown }).perTableStatus;
  if (!Array.isArray(entries)) return [];
  return entries.filter((e): e is ExportTableInfo => !!e && typeof e === 'object');
}
