import { buildManifest, parseExportTablesInfo } from '../../../../lambdas/shared/copy/manifest';

describe('Function: buildManifest', () => {
  it('lists every object by key and totals each table, joined with the export status', () => {
    const manifest = buildManifest({
      runId: 'run-1',
      cluster: 'orders',
      snapshotArn: 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2024-03-07-03-00',
      exportTaskId: 'task-1',
      destination: 'arn:aws:s3:eu-west-1:210987654321:accesspoint/lake',
      prefix: 'exports/orders/2024-03-07',
      completedAt: new Date('2024-03-07T05:00:00Z'),
      objects: [
        { key: 'p/orders/public.orders/2.parquet', size: 20, etag: '"b"', table: 'orders.public.orders' },
        { key: 'p/orders/public.orders/1.parquet', size: 10, etag: '"a"', table: 'orders.public.orders' },
        { key: 'p/_export/export_info_task-1.json', size: 5, etag: '"c"' },
      ],
      exportTables: [
        { target: 'orders.public.orders', status: 'COMPLETE', sizeGB: 0 },
        { target: 'orders.public.empty', status: 'COMPLETE', sizeGB: 0 },
      ],
    });
    expect(manifest.objects.map((o) => o.key)).toEqual([
      'p/_export/export_info_task-1.json',
      'p/orders/public.orders/1.parquet',
      'p/orders/public.orders/2.parquet',
    ]);
    expect(manifest.totals).toEqual({ objects: 3, bytes: 35 });
    expect(manifest.tables).toEqual([
      { table: 'orders.public.empty', objects: 0, bytes: 0, exportStatus: 'COMPLETE' },
      { table: 'orders.public.orders', objects: 2, bytes: 30, exportStatus: 'COMPLETE' },
    ]);
    expect(manifest.exportTables).toHaveLength(2);
    expect(manifest.completedAt).toBe('2024-03-07T05:00:00.000Z');
  });
});

describe('Function: parseExportTablesInfo', () => {
  it('reads perTableStatus entries and nothing else', () => {
    expect(parseExportTablesInfo('{"perTableStatus":[{"target":"a.b.c","status":"FAILED"}]}')).toEqual([
      { target: 'a.b.c', status: 'FAILED' },
    ]);
    expect(parseExportTablesInfo('{"other":1}')).toEqual([]);
  });
});
