import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { DestinationTextWriter } from '../../../../lambdas/shared/adapters/s3-copy-source';
import { startS3rver, type S3rverHandle } from '../../../support/s3rver';
import { instrument } from '../../copy/harness';

const MiB = 1024 ** 2;
const OWNER = '210987654321';

describe('Class: DestinationTextWriter', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startS3rver(['dst']);
  });
  afterAll(async () => {
    await s3.stop();
  });
  beforeEach(() => {
    client = s3.client();
  });
  afterEach(() => client.destroy());

  const target = (key: string) => ({ bucket: 'dst', key, contentType: 'application/json', expectedOwner: OWNER });
  const read = async (key: string) =>
    (await (await client.send(new GetObjectCommand({ Bucket: 'dst', Key: key }))).Body?.transformToString()) ?? '';

  it('writes a body that fits one part as a single PutObject when it ends', async () => {
    const puts = instrument(client, 'PutObjectCommand');
    const creates = instrument(client, 'CreateMultipartUploadCommand');
    const writer = new DestinationTextWriter(client, target('small.json'));
    await writer.write('{"a":');
    await writer.write('1}');
    await writer.end();
    expect([puts.count(), creates.count()]).toEqual([1, 0]);
    expect(await read('small.json')).toBe('{"a":1}');
  });

  it('streams a larger body as parts, holding one part at a time, and the object is the pieces in order', async () => {
    const parts = instrument(client, 'UploadPartCommand');
    const writer = new DestinationTextWriter(client, target('large.json'), 5 * MiB);
    const piece = (i: number) => `${String(i).padStart(8, '0')}${'x'.repeat(1016)}`;
    for (let i = 0; i < 12 * 1024; i++) await writer.write(piece(i));
    await writer.end();
    expect(parts.count()).toBe(3);
    const body = await read('large.json');
    expect(body.length).toBe(12 * MiB);
    expect(body.slice(0, 1024)).toBe(piece(0));
    expect(body.slice(-1024)).toBe(piece(12 * 1024 - 1));
  });

  it('leaves nothing at the key and aborts the upload it started when aborted', async () => {
    const aborts = instrument(client, 'AbortMultipartUploadCommand');
    const writer = new DestinationTextWriter(client, target('aborted.json'), 5 * MiB);
    await writer.write('y'.repeat(6 * MiB));
    await writer.abort();
    expect(aborts.count()).toBe(1);
    await expect(client.send(new GetObjectCommand({ Bucket: 'dst', Key: 'aborted.json' }))).rejects.toThrow();
  });

  it('sends ExpectedBucketOwner, the client key and the ACL on every call', async () => {
    const seen: Array<{ name: string; input: Record<string, unknown> }> = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        seen.push({ name: String(context.commandName), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'record-inputs' },
    );
    const kmsKeyArn = 'arn:aws:kms:eu-west-1:210987654321:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b';
    const writer = new DestinationTextWriter(
      client,
      { ...target('options.json'), kmsKeyArn, bucketOwnerFullControl: true },
      5 * MiB,
    );
    await writer.write('z'.repeat(5 * MiB));
    await writer.end().catch(() => undefined);
    expect(seen.every((c) => c.input.ExpectedBucketOwner === OWNER)).toBe(true);
    const create = seen.find((c) => c.name === CreateMultipartUploadCommand.name);
    expect(create?.input).toMatchObject({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: kmsKeyArn,
      ACL: 'bucket-owner-full-control',
    });
    expect(seen.map((c) => c.name)).toEqual(expect.arrayContaining([UploadPartCommand.name]));
    expect(seen.map((c) => c.name)).not.toContain(PutObjectCommand.name);
  });
});
