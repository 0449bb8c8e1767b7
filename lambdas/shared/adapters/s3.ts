/**
 * Reading what RDS wrote next to an export: the per-table status files `export_tables_info_*.json`.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { listPrefix, readText } from './s3-copy-source';
import { z } from 'zod';

const tableStatusSchema = z.looseObject({
  target: z.string(),
  status: z.string(),
  failureCause: z.string().optional(),
  warningMessage: z.string().optional(),
  errorMessage: z.string().optional(),
});
const tablesInfoSchema = z.looseObject({ perTableStatus: z.array(tableStatusSchema).default([]) });

/** One table of an export, as RDS reports it. */
export interface ExportTableStatus {
  readonly target: string;
  readonly status: string;
  readonly reason?: string;
}

/**
 * Reads every `export_tables_info_*.json` directly under `prefix` in our export bucket and returns their
 * tables. Every call names `expectedOwner` (our account) as the bucket's owner.
 */
export async function readExportTablesInfo(
  s3: S3Client,
  params: { bucket: string; prefix: string; expectedOwner: string },
): Promise<{ files: string[]; tables: ExportTableStatus[] }> {
  const base = params.prefix.endsWith('/') ? params.prefix : `${params.prefix}/`;
  const listed = await listPrefix(s3, {
    bucket: params.bucket,
    prefix: `${base}export_tables_info_`,
    expectedOwner: params.expectedOwner,
  });
  const files = listed
    .map((o) => o.key)
    .filter((key) => /\/export_tables_info_[^/]*\.json$/.test(key))
    .sort();
  const tables: ExportTableStatus[] = [];
  for (const key of files) {
    const info = tablesInfoSchema.parse(
      JSON.parse(await readText(s3, { bucket: params.bucket, key, expectedOwner: params.expectedOwner })),
    );
    for (const t of info.perTableStatus) {
      const reason = t.failureCause ?? t.errorMessage ?? t.warningMessage;
      tables.push({ target: t.target, status: t.status, ...(reason ? { reason } : {}) });
    }
  }
  return { files, tables };
}
