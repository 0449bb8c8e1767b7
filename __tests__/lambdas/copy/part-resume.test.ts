/**
 * A multipart copy that spans three invocations: each records its upload and every part it copied, runs out
 * of time, and hands the batch on; the next continues the same upload with the parts not yet copied. Runs on
 * the in-memory S3, which implements UploadPartCopy (s3rver does not).
 */
import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startMemoryS3, type MemoryS3Handle } from '../../../bench/memory-s3';
import { startDynalite, type DynaliteHandle } from '../../support/dynalite';
import { emulatorS3Client } from '../../support/s3rver';
import { copyingRun, copyWorld, DEST_BUCKET, instrument, seedTablesInfo, snsEvent, SOURCE_BUCKET } from './harness';

const MiB = 1024 ** 2;
const PREFIX = 'exports/run-parts/task-1';
const BIG_KEY = 'orders/public.orders/1/part-00000.gz.parquet';
const body = randomBytes(48 * MiB);
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

let dynalite: DynaliteHandle;
let memory: MemoryS3Handle;
let s3: S3Client;

beforeAll(async () => {
  [dynalite, memory] = await Promise.all([startDynalite(), startMemoryS3([SOURCE_BUCKET, DEST_BUCKET])]);
  s3 = emulatorS3Client(memory.endpoint, { accessKeyId: 'test', secretAccessKey: 'test' });
  memory.store.seed(SOURCE_BUCKET, [`${PREFIX}/${BIG_KEY}`], body);
  seedTablesInfo(memory, PREFIX, ['orders.public.orders']);
});

afterAll(async () => {
  s3.destroy();
  await Promise.all([dynalite.stop(), memory.close()]);
});

describe('Copy stage: part-level resume', () => {
  it('continues a multipart copy over three invocations, copying each part once and completing one upload', async () => {
    // 48 MiB in 5 MiB parts: 10 parts. Each part takes 20 s of a 120 s invocation; a worker stops taking parts
    // with less than 60 s left, so each invocation copies 4 parts: 4 + 4 + 2.
    const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 1, partSizeMiB: 5 } });
    const handler = world.handler(s3, { multipartThresholdBytes: 8 * MiB, partConcurrency: 1 });
    const parts = instrument(s3, 'UploadPartCopyCommand');
    const creates = instrument(s3, 'CreateMultipartUploadCommand');
    const completes = instrument(s3, 'CompleteMultipartUploadCommand');
    await world.store.createRun(copyingRun('run-parts', PREFIX));
    await handler(snsEvent({ kind: 'copy-plan', runId: 'run-parts' }));
    const batches = world.publisher.takeBatches();
    const big = batches.find((b) => b.batch === 1);
    expect(big).toBeDefined();

    const partsPerInvocation: number[] = [];
    const recorded: number[] = [];
    let message = big;
    for (let invocation = 0; message && invocation < 5; invocation++) {
      const before = parts.count();
      await handler(snsEvent(message), {
        awsRequestId: `invocation-${invocation}`,
        getRemainingTimeInMillis: () => 120_000 - (parts.count() - before) * 20_000,
      });
      partsPerInvocation.push(parts.count() - before);
      const batch = await world.batches.get('run-parts', 1);
      recorded.push(batch?.uploads.get(0)?.parts.size ?? (batch?.done.has(0) ? -1 : 0));
      [message] = world.publisher.takeBatches();
    }
    expect(partsPerInvocation).toEqual([4, 4, 2]);
    // After each of the first two invocations, every part copied so far is recorded; then the object is done.
    expect(recorded).toEqual([4, 8, -1]);
    expect(creates.count()).toBe(1);
    expect(completes.count()).toBe(1);

    for (const b of batches.filter((b) => b.batch !== 1)) await handler(snsEvent(b));
    expect((await world.store.mustGet('run-parts')).stage).toBe('CLEANING_UP');
    const out = await s3.send(
      new GetObjectCommand({ Bucket: DEST_BUCKET, Key: `lake/orders/2024-03-07/run-parts/${BIG_KEY}` }),
    );
    expect(out.ETag).toMatch(/-10"$/);
    expect(md5(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())).toBe(
      md5(body),
    );
  });

  it('starts the upload again when S3 no longer knows the one recorded', async () => {
    const world = await copyWorld(dynalite, s3, { copy: { batchMaxObjects: 1, partSizeMiB: 5 } });
    const handler = world.handler(s3, { multipartThresholdBytes: 8 * MiB, partConcurrency: 1 });
    await world.store.createRun(copyingRun('run-lost-upload', PREFIX));
    await handler(snsEvent({ kind: 'copy-plan', runId: 'run-lost-upload' }));
    const big = world.publisher.takeBatches().find((b) => b.batch === 1);
    // A worker recorded an upload that was aborted since (a lifecycle rule, or an operator).
    await world.batches.recordCopied(
      'run-lost-upload',
      1,
      [],
      [{ index: 0, uploadId: 'no-such-upload', partSizeBytes: 5 * MiB, parts: [{ partNumber: 1, etag: '"x"' }] }],
    );
    const parts = instrument(s3, 'UploadPartCopyCommand');
    const before = parts.count();
    await handler(snsEvent(big));
    // One part refused with NoSuchUpload, then all ten parts of a new upload.
    expect(parts.count() - before).toBe(11);
    expect((await world.batches.get('run-lost-upload', 1))?.status).toBe('DONE');
  });
});
