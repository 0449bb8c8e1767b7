import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RunTableLayout } from '../../lambdas/shared/contracts/table-layout';
import { defaultDocumentClient } from '../../lambdas/shared/adapters/run-store';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

// dynalite ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (opts: Record<string, unknown>) => Server;

/** A running dynalite on 127.0.0.1 and clients that talk to it. */
export interface DynaliteHandle {
  readonly endpoint: string;
  /** A low-level client for the emulator. */
  client(): DynamoDBClient;
  /** A document client configured as the run store expects. */
  documentClient(): DynamoDBDocumentClient;
  /** Creates a run table laid out like the deployed one and returns its name. */
  createRunTable(name?: string): Promise<string>;
  stop(): Promise<void>;
}

let tableCounter = 0;

/** Starts dynalite in memory on 127.0.0.1, port 0, with instant table creation. */
export async function startDynalite(): Promise<DynaliteHandle> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = () =>
    new DynamoDBClient({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  return {
    endpoint,
    client,
    documentClient: () => defaultDocumentClient(client()),
    createRunTable: async (name = `runs-${process.pid}-${++tableCounter}`) => {
      await createRunTable(client(), name);
      return name;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Creates the run table from {@link RunTableLayout}: keys, both sparse indexes. */
export async function createRunTable(client: DynamoDBClient, name: string): Promise<void> {
  const L = RunTableLayout;
  const S = 'S' as const;
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: L.partitionKey, KeyType: 'HASH' },
        { AttributeName: L.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: L.partitionKey, AttributeType: S },
        { AttributeName: L.sortKey, AttributeType: S },
        { AttributeName: L.bySourceSnapshotIndex.partitionKey, AttributeType: S },
        { AttributeName: L.bySourceSnapshotIndex.sortKey, AttributeType: S },
        { AttributeName: L.byStageIndex.partitionKey, AttributeType: S },
        { AttributeName: L.byStageIndex.sortKey, AttributeType: S },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: L.bySourceSnapshotIndex.name,
          KeySchema: [
            { AttributeName: L.bySourceSnapshotIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: L.bySourceSnapshotIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: L.byStageIndex.name,
          KeySchema: [
            { AttributeName: L.byStageIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: L.byStageIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
}
