/**
 * Reading what RDS wrote next to an export: the per-table status files `export_tables_info_*.json`.
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
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

/** Reads every `export_tables_info_*.json` directly under `prefix` and returns their tables. */
export async function readExportTablesInfo(s3: S3Client, bucket: string, prefix: string): Promise<{ files: string[]; tables: ExportTableStatus[] }> {
  const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const files: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${base}export_tables_info_`, ContinuationToken: token }));
    for (const o of out.Contents ?? []) if (o.Key && /\/export_tables_info_[^/]*\.json$/.test(o.Key)) files.push(o.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  const tables: ExportTableStatus[] = [];
  for (const key of files.sort()) {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = (await out.Body?.transformToString()) ?? '';
    const info = tablesInfoSchema.parse(JSON.parse(text));
    for (const t of info.perTableStatus) {
      const reason = t.failureCause ?? t.errorMessage ?? t.warningMessage;
      tables.push({ target: t.target, status: t.status, ...(reason ? { reason } : {}) });
    }
  }
  return { files, tables };
}
