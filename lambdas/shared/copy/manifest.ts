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
export type ExportTableInfo = Readonly<Record<string, unknown>> & {
  readonly target?: string;
  readonly status?: string;
};

/** What the manifest says about the delivery before its object list. */
export interface ManifestHeader {
  readonly runId: string;
  readonly cluster: string;
  readonly snapshotArn?: string;
  readonly exportTaskId: string;
  /** Bucket or access point ARN the delivery went to. */
  readonly destination: string;
  readonly prefix: string;
  readonly completedAt: Date;
}

/** Everything a whole manifest is built from. */
export interface ManifestInput extends ManifestHeader {
  readonly objects: readonly ManifestObject[];
  readonly exportTables: readonly ExportTableInfo[];
}

/** Per-table totals of the manifest. */
export interface ManifestTable {
  readonly table: string;
  readonly objects: number;
  readonly bytes: number;
  /** What the export reported for the table (`COMPLETE`, `FAILED`, `SKIPPED`...), when it reported it. */
  readonly exportStatus?: string;
}

/** `_manifest.json` as written to the destination. */
export interface Manifest extends Omit<ManifestHeader, 'completedAt'> {
  readonly version: 1;
  readonly completedAt: string;
  readonly totals: { readonly objects: number; readonly bytes: number };
  readonly tables: readonly ManifestTable[];
  readonly objects: readonly ManifestObject[];
  readonly exportTables: readonly ExportTableInfo[];
}

/**
 * The manifest as JSON text produced piece by piece, so that a delivery of any size is described without
 * holding its object list in memory: {@link start} opens it, {@link add} appends one object (callers add
 * them in key order), {@link finish} closes it with the totals, the per-table totals and the export's
 * per-table status. Concatenated, the pieces are one {@link Manifest}.
 */
export class ManifestText {
  private objectCount = 0;
  private byteCount = 0;
  private readonly perTable = new Map<string, { objects: number; bytes: number }>();

  constructor(private readonly header: ManifestHeader) {}

  /** Objects and bytes added so far. */
  get totals(): Manifest['totals'] {
    return { objects: this.objectCount, bytes: this.byteCount };
  }

  /** The opening of the manifest, up to the start of its object list. */
  start(): string {
    const h = this.header;
    const head = {
      version: 1,
      runId: h.runId,
      cluster: h.cluster,
      ...(h.snapshotArn ? { snapshotArn: h.snapshotArn } : {}),
      exportTaskId: h.exportTaskId,
      destination: h.destination,
      prefix: h.prefix,
      completedAt: h.completedAt.toISOString(),
    };
    return `${JSON.stringify(head).slice(0, -1)},"objects":[`;
  }

  /** One object of the list, counted in the totals. */
  add(o: ManifestObject): string {
    this.byteCount += o.size;
    if (o.table) {
      const t = this.perTable.get(o.table) ?? { objects: 0, bytes: 0 };
      t.objects += 1;
      t.bytes += o.size;
      this.perTable.set(o.table, t);
    }
    return `${this.objectCount++ === 0 ? '' : ','}${JSON.stringify(o)}`;
  }

  /**
   * The end of the manifest: totals, and every table, joined with the export's status; a table the export
   * reported but that has no file (an empty or skipped table) still appears.
   */
  finish(exportTables: readonly ExportTableInfo[]): string {
    const tables = new Map<string, { objects: number; bytes: number; exportStatus?: string }>();
    for (const info of exportTables) {
      if (typeof info.target === 'string') tables.set(info.target, { objects: 0, bytes: 0, exportStatus: info.status });
    }
    for (const [table, t] of this.perTable) tables.set(table, { ...tables.get(table), ...t });
    const rows = [...tables.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([table, t]) => ({
        table,
        objects: t.objects,
        bytes: t.bytes,
        ...(t.exportStatus ? { exportStatus: t.exportStatus } : {}),
      }));
    return `],${JSON.stringify({ totals: this.totals, tables: rows, exportTables }).slice(1)}`;
  }
}

/** Builds the whole manifest of a small delivery in memory: objects sorted by key (see {@link ManifestText}). */
export function buildManifest(input: ManifestInput): Manifest {
  const { objects, exportTables, ...header } = input;
  const text = new ManifestText(header);
  const sorted = [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return JSON.parse(text.start() + sorted.map((o) => text.add(o)).join('') + text.finish(exportTables)) as Manifest;
}

/** Reads the `perTableStatus` entries of an `export_tables_info_*.json` file; anything else yields none. */
export function parseExportTablesInfo(json: string): ExportTableInfo[] {
  const parsed: unknown = JSON.parse(json);
  if (!parsed || typeof parsed !== 'object') return [];
  const entries = (parsed as { perTableStatus?: unknown }).perTableStatus;
  if (!Array.isArray(entries)) return [];
  return entries.filter((e): e is ExportTableInfo => !!e && typeof e === 'object');
}
