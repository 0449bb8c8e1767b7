import { batchId, planBatches, RECORD_BYTES_PER_OBJECT } from '../../../../lambdas/shared/copy/batching';

const objects = (n: number, size: number) =>
  Array.from({ length: n }, (_, i) => ({ key: `db/s.t/${String(i).padStart(5, '0')}.parquet`, size }));

describe('Function: planBatches', () => {
  it('closes a batch at the object count', () => {
    const batches = planBatches(objects(2500, 10), { maxObjects: 1000, maxBytes: 1e12 });
    expect(batches.map((b) => b.objects.length)).toEqual([1000, 1000, 500]);
    expect(batches.map((b) => b.id)).toEqual(['000000', '000001', '000002']);
  });

  it('closes a batch at the byte budget and keeps every object exactly once, in key order', () => {
    const input = objects(100, 30);
    const batches = planBatches([...input].reverse(), { maxObjects: 1000, maxBytes: 100 });
    expect(batches.every((b) => b.bytes <= 100)).toBe(true);
    expect(batches.map((b) => b.objects.length)).toEqual(Array(34).fill(3).slice(0, 33).concat([1]));
    expect(batches.flatMap((b) => b.objects.map((o) => o.key))).toEqual(input.map((o) => o.key));
  });

  it('sends an object bigger than the byte budget alone', () => {
    const batches = planBatches(
      [
        { key: 'a', size: 1 },
        { key: 'b', size: 500 },
        { key: 'c', size: 1 },
      ],
      { maxObjects: 10, maxBytes: 100 },
    );
    expect(batches.map((b) => b.objects.map((o) => o.key))).toEqual([['a'], ['b'], ['c']]);
  });

  it('keeps the recorded batch under its size budget with long keys', () => {
    const long = Array.from({ length: 50 }, (_, i) => ({ key: `${'k'.repeat(1000)}${i}`, size: 1 }));
    const budget = 10 * (1002 + RECORD_BYTES_PER_OBJECT);
    const batches = planBatches(long, { maxObjects: 1000, maxBytes: 1e9, maxRecordBytes: budget });
    expect(batches.map((b) => b.objects.length)).toEqual([10, 10, 10, 10, 10]);
  });

  it("orders objects as they are named at the destination, where the export's own files sit in _export/", () => {
    const keys = ['zeta/s.t/1.parquet', 'export_info_x.json', 'analytics/s.t/1.parquet', 'Audit/s.t/1.parquet'];
    const batches = planBatches(
      keys.map((key) => ({ key, size: 1 })),
      { maxObjects: 2, maxBytes: 1e9 },
    );
    expect(batches.flatMap((b) => b.objects.map((o) => o.key))).toEqual([
      'Audit/s.t/1.parquet',
      'export_info_x.json',
      'analytics/s.t/1.parquet',
      'zeta/s.t/1.parquet',
    ]);
  });

  it('plans nothing for an empty export', () => {
    expect(planBatches([], { maxObjects: 10, maxBytes: 10 })).toEqual([]);
  });
});

describe('Function: batchId', () => {
  it('pads to six digits and refuses what does not fit', () => {
    expect(batchId(42)).toBe('000042');
    expect(() => batchId(1_000_000)).toThrow();
  });
});
