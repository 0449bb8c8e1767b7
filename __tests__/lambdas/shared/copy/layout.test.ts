import {
  DESTINATION_PLACEHOLDERS,
  classifyExportKey,
  destinationKey,
  destinationPrefix,
  exportTaskPrefix,
  manifestKey,
  successMarkerKey,
} from '../../../../lambdas/shared/copy/layout';

describe('Module: layout', () => {
  const values = { cluster: 'orders', snapshotTime: new Date('2024-03-07T23:30:00Z'), runId: 'r-20240307-ab12' };

  describe('Function: destinationPrefix', () => {
    it('builds the default <prefix>/<cluster>/<yyyy-mm-dd> layout', () => {
      expect(destinationPrefix('exports/{cluster}/{date}', values)).toBe('exports/orders/2024-03-07');
    });
    it('writes a Hive-style dt= partition for {dt} and the run id for {runId}', () => {
      expect(destinationPrefix('lake/{cluster}/{dt}/{runId}', values)).toBe(
        'lake/orders/dt=2024-03-07/r-20240307-ab12',
      );
    });
    it('drops leading, trailing and doubled slashes', () => {
      expect(destinationPrefix('/lake//{cluster}/', values)).toBe('lake/orders');
    });
    it('uses the UTC day of the snapshot', () => {
      expect(destinationPrefix('{date}', { ...values, snapshotTime: new Date('2024-03-07T23:59:59-05:00') })).toBe(
        '2024-03-08',
      );
    });
    it('rejects an unknown placeholder', () => {
      expect(() => destinationPrefix('{cluster}/{table}', values)).toThrow(/\{table\}/);
    });
  });

  describe('Function: destinationKey', () => {
    const prefix = 'exports/orders/2024-03-07';
    it('keeps <db>/<table>/... of a data file under the delivery prefix', () => {
      expect(destinationKey(prefix, 'orders/public.orders/1/part-00000-a1b2.gz.parquet')).toBe(
        'exports/orders/2024-03-07/orders/public.orders/1/part-00000-a1b2.gz.parquet',
      );
    });
    it('puts the export JSON files under _export/', () => {
      expect(destinationKey(prefix, 'export_tables_info_t1_from_1_to_3.json')).toBe(
        'exports/orders/2024-03-07/_export/export_tables_info_t1_from_1_to_3.json',
      );
      expect(destinationKey(prefix, 'export_info_t1.json')).toBe(
        'exports/orders/2024-03-07/_export/export_info_t1.json',
      );
    });
    it('places the manifest and the marker at the delivery prefix', () => {
      expect(manifestKey(prefix)).toBe('exports/orders/2024-03-07/_manifest.json');
      expect(successMarkerKey(prefix)).toBe('exports/orders/2024-03-07/_SUCCESS');
    });
  });

  describe('Function: classifyExportKey', () => {
    it('tells data files, tables info, export info and others apart', () => {
      expect(classifyExportKey('db/s.t/1/part-0.gz.parquet')).toEqual({ kind: 'data', db: 'db', table: 's.t' });
      expect(classifyExportKey('export_tables_info_x_from_1_to_2.json')).toEqual({ kind: 'tables-info' });
      expect(classifyExportKey('export_info_x.json')).toEqual({ kind: 'export-info' });
      expect(classifyExportKey('db/readme')).toEqual({ kind: 'other' });
    });
  });

  describe('Function: exportTaskPrefix', () => {
    it('joins export prefix, run id and export task id with one trailing slash', () => {
      expect(exportTaskPrefix('exports/', 'run-1', 'task-1')).toBe('exports/run-1/task-1/');
    });
  });

  describe('Function: destinationPrefix, bad input', () => {
    it('names the placeholders it accepts when the template has another, even an empty one', () => {
      expect(() => destinationPrefix('{cluster}/{table}', values)).toThrow(
        'unknown placeholder {table} in the destination key template; use {cluster}, {date}, {dt}, {runId}',
      );
      expect(() => destinationPrefix('lake/{}', values)).toThrow('unknown placeholder {}');
      expect(DESTINATION_PLACEHOLDERS).toEqual(['cluster', 'date', 'dt', 'runId']);
    });

    it('refuses a snapshot time that is not a date', () => {
      expect(() => destinationPrefix('{date}', { ...values, snapshotTime: new Date('not a date') })).toThrow(
        'snapshot time is not a valid date',
      );
    });

    it('keeps text outside the placeholders as it is', () => {
      expect(destinationPrefix('lake-{cluster}_v2/{date}', values)).toBe('lake-orders_v2/2024-03-07');
    });
  });

  describe('Function: classifyExportKey, edges', () => {
    it('needs a database, a table and a file for a data file', () => {
      expect(classifyExportKey('db/s.t')).toEqual({ kind: 'other' });
      expect(classifyExportKey('db//part-0.gz.parquet')).toEqual({ kind: 'other' });
      expect(classifyExportKey('/s.t/part-0.gz.parquet')).toEqual({ kind: 'other' });
      expect(classifyExportKey('db/s.t/part-0.gz.parquet')).toEqual({ kind: 'data', db: 'db', table: 's.t' });
    });

    it("takes only the export's own JSON files by their whole name", () => {
      expect(classifyExportKey('export_tables_info_x.txt')).toEqual({ kind: 'other' });
      expect(classifyExportKey('old_export_info_x.json')).toEqual({ kind: 'other' });
      expect(classifyExportKey('export_info_x.json.bak')).toEqual({ kind: 'other' });
      expect(classifyExportKey('old_export_tables_info_x.json')).toEqual({ kind: 'other' });
      expect(classifyExportKey('readme.txt')).toEqual({ kind: 'other' });
    });
  });

  describe('Function: destinationKey, edges', () => {
    it('puts any top-level file under _export/ and leaves nested files where they are', () => {
      expect(destinationKey('p', 'readme.txt')).toBe('p/_export/readme.txt');
      expect(destinationKey('p', 'db/readme')).toBe('p/db/readme');
    });

    it('writes at the top of the bucket when the delivery prefix is empty', () => {
      expect(destinationKey('', 'db/s.t/1.parquet')).toBe('db/s.t/1.parquet');
      expect(destinationKey('', 'export_info_x.json')).toBe('_export/export_info_x.json');
      expect(manifestKey('')).toBe('_manifest.json');
      expect(successMarkerKey('')).toBe('_SUCCESS');
    });
  });
});
