import { ManifestText, buildManifest, parseExportTablesInfo } from '../../../../lambdas/shared/copy/manifest';

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

describe('Function: buildManifest, the whole document', () => {
  it('writes version 1 with the header, totals, tables and the export tables as given', () => {
    const manifest = buildManifest({
      runId: 'run-1',
      cluster: 'orders',
      exportTaskId: 'task-1',
      destination: 'client-lake',
      prefix: 'p',
      completedAt: new Date('2024-03-07T05:00:00Z'),
      objects: [
        { key: 'p/b/s.t/1.parquet', size: 7, etag: '"b"', table: 'b.s.t' },
        { key: 'p/a/s.t/1.parquet', size: 3, etag: '"a"', table: 'a.s.t' },
      ],
      exportTables: [{ target: 'a.s.t', status: 'COMPLETE' }, { status: 'FAILED' }, { target: 'c.s.t' }],
    });
    expect(manifest).toEqual({
      version: 1,
      runId: 'run-1',
      cluster: 'orders',
      exportTaskId: 'task-1',
      destination: 'client-lake',
      prefix: 'p',
      completedAt: '2024-03-07T05:00:00.000Z',
      objects: [
        { key: 'p/a/s.t/1.parquet', size: 3, etag: '"a"', table: 'a.s.t' },
        { key: 'p/b/s.t/1.parquet', size: 7, etag: '"b"', table: 'b.s.t' },
      ],
      totals: { objects: 2, bytes: 10 },
      tables: [
        { table: 'a.s.t', objects: 1, bytes: 3, exportStatus: 'COMPLETE' },
        { table: 'b.s.t', objects: 1, bytes: 7 },
        { table: 'c.s.t', objects: 0, bytes: 0 },
      ],
      exportTables: [{ target: 'a.s.t', status: 'COMPLETE' }, { status: 'FAILED' }, { target: 'c.s.t' }],
    });
  });

  it('describes an empty delivery', () => {
    const manifest = buildManifest({
      runId: 'run-1',
      cluster: 'orders',
      exportTaskId: 'task-1',
      destination: 'client-lake',
      prefix: 'p',
      completedAt: new Date('2024-03-07T05:00:00Z'),
      objects: [],
      exportTables: [],
    });
    expect(manifest).toMatchObject({ objects: [], totals: { objects: 0, bytes: 0 }, tables: [], exportTables: [] });
  });
});

describe('Class: ManifestText', () => {
  const header = {
    runId: 'run-1',
    cluster: 'orders',
    snapshotArn: 'arn:snap',
    exportTaskId: 'task-1',
    destination: 'client-lake',
    prefix: 'p',
    completedAt: new Date('2024-03-07T05:00:00Z'),
  };

  it('writes pieces that join into one manifest, counting objects and bytes as they are added', () => {
    const text = new ManifestText(header);
    const start = text.start();
    expect(start).toBe(
      '{"version":1,"runId":"run-1","cluster":"orders","snapshotArn":"arn:snap","exportTaskId":"task-1","destination":"client-lake","prefix":"p","completedAt":"2024-03-07T05:00:00.000Z","objects":[',
    );
    const first = text.add({ key: 'p/_export/export_info_t.json', size: 5, etag: '"c"' });
    const second = text.add({ key: 'p/a/s.t/1.parquet', size: 3, etag: '"a"', table: 'a.s.t' });
    expect(first.startsWith('{')).toBe(true);
    expect(second.startsWith(',{')).toBe(true);
    expect(text.totals).toEqual({ objects: 2, bytes: 8 });
    const third = text.add({ key: 'p/a/s.t/2.parquet', size: 4, etag: '"b"', table: 'a.s.t' });
    const end = text.finish([]);
    expect(end).toBe(
      '],"totals":{"objects":3,"bytes":12},"tables":[{"table":"a.s.t","objects":2,"bytes":7}],"exportTables":[]}',
    );
    expect(JSON.parse(start + first + second + third + end).objects).toHaveLength(3);
  });
});

describe('Function: parseExportTablesInfo, bad input', () => {
  it('yields no entries for JSON that is not an object or whose perTableStatus is not a list', () => {
    expect(parseExportTablesInfo('null')).toEqual([]);
    expect(parseExportTablesInfo('5')).toEqual([]);
    expect(parseExportTablesInfo('{"perTableStatus":{"target":"a"}}')).toEqual([]);
  });

  it('skips entries that are not objects', () => {
    expect(parseExportTablesInfo('{"perTableStatus":[null,1,"x",{"target":"a.b.c"}]}')).toEqual([{ target: 'a.b.c' }]);
  });

  it('throws on text that is not JSON', () => {
    expect(() => parseExportTablesInfo('not json')).toThrow(SyntaxError);
  });
});
