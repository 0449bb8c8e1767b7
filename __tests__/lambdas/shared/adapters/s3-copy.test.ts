import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import {
  copySource,
  createCopyS3Client,
  createDirectCopy,
  effectivePartSize,
  S3CopyCallError,
  S3ObjectCopier,
} from '../../../../lambdas/shared/adapters/s3-copy';
import { startS3rver, type S3rverHandle } from '../../../support/s3rver';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const SOURCE_OWNER = '123456789012';
const DEST_OWNER = '210987654321';
const AP = 'arn:aws:s3:eu-west-1:210987654321:accesspoint/lake';
const KEY = 'arn:aws:kms:eu-west-1:210987654321:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b';

describe('Class: S3ObjectCopier', () => {
  describe('on the S3 emulator', () => {
    let s3: S3rverHandle;
    let client: S3Client;
    beforeAll(async () => {
      s3 = await startS3rver(['src', 'dst']);
      client = s3.client();
    });
    afterAll(async () => {
      client.destroy();
      await s3.stop();
    });

    it.each([
      ['through the SDK', false],
      ['with CopyObject hand-signed', true],
    ])('copies an object keeping its content type and metadata, %s', async (_, signed) => {
      await client.send(
        new PutObjectCommand({
          Bucket: 'src',
          Key: 'a b/part=1 (x).parquet',
          Body: 'hello',
          ContentType: 'application/x-parquet',
          Metadata: { origin: 'export' },
        }),
      );
      const direct = signed ? createDirectCopy(client) : undefined;
      const destinationKey = `${signed ? 'signed' : 'sdk'}/a b/part=1 (x)!'*.parquet`;
      try {
        const copier = new S3ObjectCopier({
          client,
          direct,
          sourceBucket: 'src',
          sourceOwnerAccountId: SOURCE_OWNER,
          destinationBucket: 'dst',
          destinationOwnerAccountId: DEST_OWNER,
        });
        const result = await copier.copy({ sourceKey: 'a b/part=1 (x).parquet', destinationKey, size: 5 });
        const head = await client.send(new HeadObjectCommand({ Bucket: 'dst', Key: destinationKey }));
        expect(result).toEqual({ etag: head.ETag, multipart: false, parts: 1 });
        expect(head.ContentType).toBe('application/x-parquet');
        expect(head.Metadata).toEqual({ origin: 'export' });
        expect(head.ContentLength).toBe(5);
        const body = await client.send(new GetObjectCommand({ Bucket: 'dst', Key: destinationKey }));
        expect(await body.Body?.transformToString()).toBe('hello');
        if (direct) expect(direct.counters).toEqual({ direct: 1, sdk: 0, fallbacks: 0 });
      } finally {
        direct?.destroy();
      }
    });

    it('reports which call failed when the source is missing', async () => {
      const copier = new S3ObjectCopier({
        client,
        sourceBucket: 'src',
        sourceOwnerAccountId: SOURCE_OWNER,
        destinationBucket: 'dst',
        destinationOwnerAccountId: DEST_OWNER,
      });
      const error = await copier
        .copy({ sourceKey: 'missing', destinationKey: 'missing', size: 1 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(S3CopyCallError);
      expect((error as S3CopyCallError).action).toBe('s3:PutObject');
      expect((error as S3CopyCallError).side).toBe('both');
    });
  });

  describe('with a mocked client', () => {
    let s3Mock: ReturnType<typeof mockClient>;
    beforeAll(() => {
      s3Mock = mockClient(S3Client);
    });
    afterEach(() => s3Mock.reset());
    afterAll(() => s3Mock.restore());

    const copier = (over: Partial<ConstructorParameters<typeof S3ObjectCopier>[0]> = {}) =>
      new S3ObjectCopier({
        client: new S3Client({ region: 'eu-west-1' }),
        sourceBucket: 'exports',
        sourceOwnerAccountId: SOURCE_OWNER,
        destinationBucket: AP,
        destinationOwnerAccountId: DEST_OWNER,
        ...over,
      });

    it('sends both expected owners, SSE-KMS with the client key and the ACL only when configured', async () => {
      s3Mock.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"e"' } });
      await copier({ kmsKeyArn: KEY, bucketOwnerFullControl: true }).copy({
        sourceKey: 'k',
        destinationKey: 'd/k',
        size: 10,
      });
      await copier().copy({ sourceKey: 'k', destinationKey: 'd/k', size: 10 });
      const [withAll, plain] = s3Mock.commandCalls(CopyObjectCommand).map((c) => c.args[0].input);
      expect(withAll).toMatchObject({
        Bucket: AP,
        Key: 'd/k',
        CopySource: 'exports/k',
        ExpectedBucketOwner: DEST_OWNER,
        ExpectedSourceBucketOwner: SOURCE_OWNER,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: KEY,
        ACL: 'bucket-owner-full-control',
        MetadataDirective: 'COPY',
      });
      expect(plain).not.toHaveProperty('ACL');
      expect(plain).not.toHaveProperty('ServerSideEncryption');
      expect(plain).not.toHaveProperty('SSEKMSKeyId');
    });

    it('copies an object above 5 GiB part by part, in parallel, keeping type and metadata', async () => {
      const size = 6 * GiB + 123;
      s3Mock
        .on(HeadObjectCommand)
        .resolves({ ContentLength: size, ContentType: 'application/x-parquet', Metadata: { a: 'b' }, ETag: '"src"' });
      s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
      let inFlight = 0;
      let peak = 0;
      s3Mock.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber?: number }) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
        return { CopyPartResult: { ETag: `"p${input.PartNumber}"` } };
      });
      s3Mock.on(CompleteMultipartUploadCommand).resolves({ ETag: '"mp-7"' });

      const result = await copier({ kmsKeyArn: KEY, partSizeBytes: 1 * GiB, partConcurrency: 4 }).copy({
        sourceKey: 'big',
        destinationKey: 'd/big',
        size,
      });

      expect(result).toEqual({ etag: '"mp-7"', multipart: true, parts: 7 });
      expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
      expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input).toMatchObject({
        Bucket: 'exports',
        Key: 'big',
        ExpectedBucketOwner: SOURCE_OWNER,
      });
      expect(s3Mock.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
        Bucket: AP,
        Key: 'd/big',
        ContentType: 'application/x-parquet',
        Metadata: { a: 'b' },
        ExpectedBucketOwner: DEST_OWNER,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: KEY,
      });
      const parts = s3Mock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input);
      expect(parts.map((p) => p.CopySourceRange)).toEqual([
        ...Array.from({ length: 6 }, (_, i) => `bytes=${i * GiB}-${(i + 1) * GiB - 1}`),
        `bytes=${6 * GiB}-${size - 1}`,
      ]);
      expect(
        parts.every(
          (p) =>
            p.ExpectedBucketOwner === DEST_OWNER &&
            p.ExpectedSourceBucketOwner === SOURCE_OWNER &&
            p.UploadId === 'up-1',
        ),
      ).toBe(true);
      expect(parts.every((p) => p.CopySourceIfMatch === '"src"')).toBe(true);
      expect(peak).toBeGreaterThan(1);
      expect(peak).toBeLessThanOrEqual(4);
      expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
        UploadId: 'up-1',
        ExpectedBucketOwner: DEST_OWNER,
        MultipartUpload: { Parts: Array.from({ length: 7 }, (_, i) => ({ PartNumber: i + 1, ETag: `"p${i + 1}"` })) },
      });
    });

    it('aborts the upload when a part fails and reports the failing call', async () => {
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 6 * GiB });
      s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-2' });
      s3Mock.on(UploadPartCopyCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
      s3Mock.on(AbortMultipartUploadCommand).resolves({});
      const error = await copier()
        .copy({ sourceKey: 'big', destinationKey: 'd/big', size: 6 * GiB })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(S3CopyCallError);
      expect(((error as S3CopyCallError).cause as Error).name).toBe('AccessDenied');
      expect(s3Mock.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input).toEqual({
        Bucket: AP,
        Key: 'd/big',
        UploadId: 'up-2',
        ExpectedBucketOwner: DEST_OWNER,
      });
      expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
    });
  });
});

describe('Function: effectivePartSize', () => {
  it('keeps the configured size when it fits in 10,000 parts', () => {
    expect(effectivePartSize(6 * GiB, 128 * MiB)).toBe(128 * MiB);
  });
  it('never goes below 5 MiB', () => {
    expect(effectivePartSize(6 * GiB, 1 * MiB)).toBe(5 * MiB);
  });
  it('grows the part size so that a 5 TiB object needs at most 10,000 parts', () => {
    const size = 5 * 1024 * GiB;
    const part = effectivePartSize(size, 5 * MiB);
    expect(Math.ceil(size / part)).toBeLessThanOrEqual(10_000);
    expect(part % MiB).toBe(0);
  });
});

describe('Function: copySource', () => {
  it('encodes the key, escaping query, fragment and plus characters, and keeps slashes and equals signs', () => {
    expect(copySource('b', 'db/s.t/a b=1/part+1?#é.parquet')).toBe('b/db/s.t/a%20b=1/part%2B1%3F%23%C3%A9.parquet');
  });
});

describe('Function: createCopyS3Client', () => {
  it('uses the SDK adaptive retry mode', async () => {
    const client = createCopyS3Client({ region: 'eu-west-1' });
    const strategy = await client.config.retryStrategy();
    expect(strategy.constructor.name).toBe('AdaptiveRetryStrategy');
    client.destroy();
  });

  it('sends requests for an access point in another region to that region', async () => {
    const client = createCopyS3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    expect(client.config.useArnRegion).toBe(true);
    const hosts: string[] = [];
    client.middlewareStack.add(
      () => async (args) => {
        hosts.push((args.request as { hostname: string }).hostname);
        throw Object.assign(new Error('request stopped before it left'), { name: 'Stopped' });
      },
      { step: 'finalizeRequest', name: 'captureHost' },
    );
    const otherRegion = 'arn:aws:s3:us-east-1:210987654321:accesspoint/lake';
    await expect(
      client.send(new CopyObjectCommand({ Bucket: otherRegion, Key: 'k', CopySource: 'exports/k' })),
    ).rejects.toThrow('request stopped before it left');
    expect(hosts).toEqual(['lake-210987654321.s3-accesspoint.us-east-1.amazonaws.com']);
    client.destroy();
  });
});
