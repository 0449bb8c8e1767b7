import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { MAX_COPY_CONCURRENCY } from '../../../../config/schema';
import { DEFAULT_CHECKPOINT_EVERY, PROGRESS_BACKLOG_CHECKPOINTS } from '../../../../lambdas/copy/handler';
import { CopyBatchStore } from '../../../../lambdas/shared/adapters/copy-batch-store';
import { startDynalite, type DynaliteHandle } from '../../../support/dynalite';

let dynalite: DynaliteHandle;

beforeAll(async () => {
  dynalite = await startDynalite();
});

afterAll(() => dynalite.stop());

/**
 * An item's size as the DynamoDB Developer Guide counts it ("DynamoDB item sizes and formats"): names and string
 * values in UTF-8 bytes, a number 1 byte per two significant digits plus 1, a list or map 3 bytes plus 1 per
 * element plus its elements.
 */
function itemBytes(value: unknown, name = ''): number {
  const named = Buffer.byteLength(name, 'utf8');
  if (typeof value === 'string') return named + Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number')
    return named + Math.ceil(String(Math.abs(value)).replace(/^0+|\./g, '').length / 2) + 1;
  if (Array.isArray(value)) return named + 3 + value.reduce((sum: number, v) => sum + 1 + itemBytes(v), 0);
  const entries = Object.entries(value as Record<string, unknown>);
  return named + 3 + entries.reduce((sum, [k, v]) => sum + 1 + itemBytes(v, k), 0);
}

describe('Class: CopyBatchStore', () => {
  it("keeps the largest progress write a worker can make far under DynamoDB's 400 KB item limit", async () => {
    // Writes fall behind by at most the backlog of checkpoints before copies wait; the copies under way then
    // finish into the same write.
    const entries = DEFAULT_CHECKPOINT_EVERY * PROGRESS_BACKLOG_CHECKPOINTS + MAX_COPY_CONCURRENCY;
    let item: Record<string, unknown> | undefined;
    const capturing = {
      send: async (command: unknown) => {
        if (command instanceof PutCommand) item = command.input.Item;
        return {};
      },
    } as unknown as DynamoDBDocumentClient;
    await new CopyBatchStore({ tableName: 'runs', client: capturing }).recordCopied(
      'run-2026-12-01T00:00:00.000Z-a1b2c3d4',
      999_999,
      // The longest ETags S3 gives: a multipart object of 10,000 parts.
      Array.from({ length: entries }, (_, i) => ({ index: 999_999 - i, etag: `"${'f'.repeat(32)}-10000"` })),
    );
    const bytes = Object.entries(item ?? {}).reduce((sum, [k, v]) => sum + itemBytes(v, k), 0);
    expect(entries).toBe(2_256);
    expect(bytes).toBeGreaterThan(entries * 40);
    expect(bytes).toBeLessThan(400 * 1024 * 0.5);
  });

  it("reads a run's batches page by page in order, the next page asked for while one is read", async () => {
    const tableName = await dynalite.createRunTable();
    const client = dynalite.documentClient();
    const queries: number[] = [];
    // DynamoDB pages at 1 MB; two items a page here, so that five batches (ten items with their leases) take five.
    const paging = {
      send: (command: unknown) => {
        if (command instanceof QueryCommand) {
          queries.push(queries.length);
          (command.input as { Limit?: number }).Limit = 2;
        }
        return client.send(command as QueryCommand);
      },
    } as unknown as DynamoDBDocumentClient;
    const writer = new CopyBatchStore({ tableName, client });
    for (let i = 0; i < 5; i++)
      await writer.putIfAbsent(
        'run-pages',
        { id: String(i).padStart(6, '0'), objects: [{ key: `t/part-${i}.parquet`, size: 10 + i }], bytes: 10 + i },
        'exports/run-pages/task/',
        'lake/run-pages',
      );

    const read: Array<{ index: number; key: string | undefined; queriesSent: number }> = [];
    for await (const batch of new CopyBatchStore({ tableName, client: paging }).each('run-pages'))
      read.push({ index: batch.index, key: batch.keys[0], queriesSent: queries.length });

    expect(read.map((b) => [b.index, b.key])).toEqual([0, 1, 2, 3, 4].map((i) => [i, `t/part-${i}.parquet`]));
    // Batch 0 (its item and its lease item) fills page 1 and is whole once batch 1 shows on page 2; by then
    // page 3 has been asked for (read one page after the other, it would not have been).
    expect(read[0]?.queriesSent).toBe(3);
    expect(queries.length).toBeGreaterThanOrEqual(5);
  });
});
