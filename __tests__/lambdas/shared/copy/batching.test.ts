import {
  DEFAULT_MAX_RECORD_BYTES,
  MAX_BATCH_INDEX,
  batchId,
  compareKeys,
  planBatches,
  planListing,
  RECORD_BYTES_PER_OBJECT,
  type CopyBatch,
  type PlannedObject,
} from '../../../../lambdas/shared/copy/batching';

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

/** A listing as S3 returns it: every key in UTF-8 byte order, in pages. */
async function* pagesOf(objects: readonly PlannedObject[], pageSize: number): AsyncGenerator<PlannedObject[]> {
  const sorted = [...objects].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  for (let i = 0; i < sorted.length; i += pageSize) yield sorted.slice(i, i + pageSize);
}

describe('Function: planListing', () => {
  const dbs = ['Audit', 'analytics', '_internal', 'orders', 'zeta', 'émoji'];
  const data = dbs.flatMap((db, d) =>
    Array.from({ length: 37 }, (_, i) => ({
      key: `${db}/s.t${i % 3}/1/part-${i}.parquet`,
      size: 10 + ((i * 7 + d) % 50),
    })),
  );
  const files = [
    { key: 'export_info_task.json', size: 2 },
    { key: 'export_tables_info_task_from_1_to_3.json', size: 3 },
  ];

  it('streams a paginated listing into the same batches as planning the whole listing at once', async () => {
    const limits = { maxObjects: 17, maxBytes: 400 };
    const streamed: CopyBatch[] = [];
    const totals = await planListing(files, pagesOf([...data, ...files], 25), limits, async (batches) => {
      streamed.push(...batches);
    });
    expect(streamed).toEqual(planBatches([...data, ...files], limits));
    expect(totals).toEqual({
      objects: data.length + files.length,
      bytes: [...data, ...files].reduce((sum, o) => sum + o.size, 0),
      batches: streamed.length,
    });
  });

  it('hands batches over as pages arrive, holding at most a page and an open batch', async () => {
    let read = 0;
    let handed = 0;
    const held: number[] = [];
    async function* counted() {
      for await (const page of pagesOf(data, 10)) {
        read += page.length;
        yield page;
      }
    }
    await planListing([], counted(), { maxObjects: 7, maxBytes: 1e9 }, async (batches) => {
      handed += batches.reduce((sum, b) => sum + b.objects.length, 0);
      held.push(read - handed);
    });
    expect(handed).toBe(data.length);
    expect(held.length).toBeGreaterThan(data.length / 10 - 1);
    expect(Math.max(...held)).toBeLessThanOrEqual(7);
  });

  it('refuses an export file that appeared after the export was first listed', async () => {
    await expect(
      planListing([], pagesOf([...data, ...files], 50), { maxObjects: 10, maxBytes: 1e9 }, async () => undefined),
    ).rejects.toThrow(/export_info_task.json appeared while the export was being planned/);
  });

  it('refuses a listing out of key order', async () => {
    async function* shuffled() {
      yield [
        { key: 'b/s.t/1', size: 1 },
        { key: 'a/s.t/1', size: 1 },
      ];
    }
    await expect(planListing([], shuffled(), { maxObjects: 10, maxBytes: 1e9 }, async () => undefined)).rejects.toThrow(
      /not in key order/,
    );
  });
});

describe('Function: compareKeys', () => {
  it('orders keys as S3 does, by UTF-8 bytes', () => {
    const keys = ['a', 'Z', '_', 'é', '\u{1F600}', '\uFF5E', 'ab'];
    const byBytes = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...keys].sort(compareKeys)).toEqual(byBytes);
  });
});

describe('Function: planBatches, limits at their boundaries', () => {
  const sized = (...sizes: number[]) => sizes.map((size, i) => ({ key: `db/s.t/${i}.parquet`, size }));
  const shape = (batches: ReturnType<typeof planBatches>) => batches.map((b) => [b.id, b.objects.length, b.bytes]);

  it('fills a batch up to exactly the byte budget, and totals its bytes', () => {
    expect(shape(planBatches(sized(40, 60, 1, 99), { maxObjects: 10, maxBytes: 100 }))).toEqual([
      ['000000', 2, 100],
      ['000001', 2, 100],
    ]);
  });

  it('fills a batch up to exactly the object count', () => {
    expect(shape(planBatches(sized(1, 1, 1, 1, 1), { maxObjects: 2, maxBytes: 100 }))).toEqual([
      ['000000', 2, 2],
      ['000001', 2, 2],
      ['000002', 1, 1],
    ]);
  });

  it('fills a batch record up to exactly its budget, counting key bytes in UTF-8', () => {
    const keys = ['é/s.t/1', 'é/s.t/2', 'é/s.t/3'];
    const perObject = Buffer.byteLength(keys[0], 'utf8') + RECORD_BYTES_PER_OBJECT;
    expect(perObject).toBe(8 + RECORD_BYTES_PER_OBJECT);
    const batches = planBatches(
      keys.map((key) => ({ key, size: 1 })),
      { maxObjects: 10, maxBytes: 100, maxRecordBytes: 2 * perObject },
    );
    expect(batches.map((b) => b.objects.length)).toEqual([2, 1]);
  });

  it('keeps batch records under 300 KiB unless told otherwise', () => {
    expect(DEFAULT_MAX_RECORD_BYTES).toBe(300 * 1024);
    const perObject = 1000 + RECORD_BYTES_PER_OBJECT;
    const fit = Math.floor(DEFAULT_MAX_RECORD_BYTES / perObject);
    const long = Array.from({ length: fit + 1 }, (_, i) => ({
      key: `${String(i).padStart(4, '0')}${'k'.repeat(996)}`,
      size: 1,
    }));
    expect(planBatches(long, { maxObjects: 10_000, maxBytes: 1e12 }).map((b) => b.objects.length)).toEqual([fit, 1]);
  });

  it('reads a fractional object count down and a count or budget below one as one', () => {
    expect(planBatches(sized(1, 1, 1, 1, 1), { maxObjects: 2.9, maxBytes: 100 }).map((b) => b.objects.length)).toEqual([
      2, 2, 1,
    ]);
    expect(planBatches(sized(1, 1), { maxObjects: 0, maxBytes: 100 }).map((b) => b.objects.length)).toEqual([1, 1]);
    expect(planBatches(sized(1, 1, 0), { maxObjects: 10, maxBytes: 0 }).map((b) => b.objects.length)).toEqual([1, 2]);
  });
});

describe('Function: batchId, range', () => {
  it('accepts every index a six-digit id holds', () => {
    expect(batchId(0)).toBe('000000');
    expect(batchId(MAX_BATCH_INDEX)).toBe('999999');
    expect(MAX_BATCH_INDEX).toBe(999_999);
  });

  it('refuses a negative or fractional index, naming it', () => {
    expect(() => batchId(-1)).toThrow('batch index -1 out of range');
    expect(() => batchId(1.5)).toThrow('batch index 1.5 out of range');
    expect(() => batchId(1_000_000)).toThrow('batch index 1000000 out of range');
  });
});
