import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CopyBatchStore } from '../../../../lambdas/shared/adapters/copy-batch-store';
import { startDynalite, type DynaliteHandle } from '../../../support/dynalite';

let dynalite: DynaliteHandle;

beforeAll(async () => {
  dynalite = await startDynalite();
});

afterAll(() => dynalite.stop());

describe('Class: CopyBatchStore', () => {
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
