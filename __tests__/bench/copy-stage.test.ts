import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { PipelineMessage, PipelinePublisher } from '../../lambdas/shared/domain/messages';
import type { StageFunction } from '../../lambdas/shared/domain/run';
import { copyingRun } from '../../bench/harness';
import { benchSettings, buildCopyStage, sns, type CopyStage } from '../../bench/copy-stage';
import { startMemoryS3, type MemoryS3Handle } from '../../bench/memory-s3';
import { startDynalite, type DynaliteHandle } from '../support/dynalite';
import { emulatorS3Client } from '../support/s3rver';

/** The benchmark's copy stage must be the real one, delivering a whole export, or its figures mean nothing. */
describe('Benchmark: copy stage', () => {
  const SOURCE = 'bench-export';
  const DEST = 'bench-lake';
  const PREFIX = 'exports/run-smoke/task';
  let s3: MemoryS3Handle;
  let dynalite: DynaliteHandle;
  let client: S3Client;
  let stage: CopyStage;
  const queued: PipelineMessage[] = [];
  const publisher: PipelinePublisher = {
    publish: async (_target: StageFunction, message: PipelineMessage) => {
      queued.push(message);
    },
  };

  beforeAll(async () => {
    s3 = await startMemoryS3([SOURCE, DEST]);
    dynalite = await startDynalite();
    const tableName = await dynalite.createRunTable();
    client = emulatorS3Client(s3.endpoint, { accessKeyId: 'bench', secretAccessKey: 'bench' });
    const settings = benchSettings({
      tableName,
      sourceBucket: SOURCE,
      destinationBucket: DEST,
      concurrency: 4,
      batchMaxObjects: 10,
    });
    stage = buildCopyStage(
      {
        s3Endpoint: s3.endpoint,
        credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
        dynamoEndpoint: dynalite.endpoint,
        settings,
      },
      publisher,
    );
  });

  afterAll(async () => {
    stage.destroy();
    client.destroy();
    await s3.close();
    await dynalite.stop();
  });

  it('delivers every object of a multi-batch export through the pipeline messages, then _SUCCESS', async () => {
    const keys = Array.from(
      { length: 25 },
      (_, i) => `${PREFIX}/shop/public.t${i % 2}/1/part-${String(i).padStart(5, '0')}.gz.parquet`,
    );
    for (const key of keys)
      await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: `object ${key}` }));
    const info = JSON.stringify({
      perTableStatus: [0, 1].map((t) => ({ target: `shop.public.t${t}`, status: 'COMPLETE', sizeGB: 0 })),
    });
    await client.send(
      new PutObjectCommand({ Bucket: SOURCE, Key: `${PREFIX}/export_tables_info_task_from_1_to_2.json`, Body: info }),
    );
    const run = copyingRun('run-smoke', PREFIX, 'shop-smoke');
    await stage.store.createRun(run);

    await stage.handler(sns({ kind: 'copy-plan', runId: run.runId }));
    const batches = queued.filter((m) => m.kind === 'copy-batch');
    expect(batches).toHaveLength(3);
    for (const message of batches) await stage.handler(sns(message));

    const done = await stage.store.mustGet(run.runId);
    expect(done.outcome).toBe('SUCCEEDED');
    expect(done.copy?.objectsCopied).toBe(26);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: DEST, Prefix: 'lake/shop/' }));
    const delivered = (listed.Contents ?? []).map((o) => o.Key as string);
    expect(delivered.filter((k) => k.endsWith('.gz.parquet'))).toHaveLength(25);
    expect(delivered.some((k) => k.endsWith('/_SUCCESS'))).toBe(true);
    expect(delivered.some((k) => k.endsWith('/_manifest.json'))).toBe(true);
  });
});
