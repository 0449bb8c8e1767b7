import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { S3ObjectCopier } from '../../lambdas/shared/adapters/s3-copy';
import { decodeAwsChunked, startMemoryS3, type MemoryS3Handle } from '../../bench/memory-s3';
import { emulatorS3Client } from '../support/s3rver';

const MiB = 1024 ** 2;
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

describe('Class: MemoryS3', () => {
  let s3: MemoryS3Handle;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startMemoryS3(['src', 'dst']);
    client = emulatorS3Client(s3.endpoint, { accessKeyId: 'bench', secretAccessKey: 'bench' });
  });
  afterAll(async () => {
    client.destroy();
    await s3.close();
  });

  describe('Method: PutObject, HeadObject, GetObject', () => {
    it('stores the bytes, content type and metadata, and returns the MD5 ETag on put, head and get', async () => {
      const put = await client.send(
        new PutObjectCommand({
          Bucket: 'src',
          Key: 'a/b c+d.json',
          Body: '{"x":1}',
          ContentType: 'application/json',
          Metadata: { origin: 'export' },
          ExpectedBucketOwner: '123456789012',
        }),
      );
      expect(put.ETag).toBe(`"${md5('{"x":1}')}"`);
      const head = await client.send(
        new HeadObjectCommand({ Bucket: 'src', Key: 'a/b c+d.json', ExpectedBucketOwner: '123456789012' }),
      );
      expect(head).toMatchObject({
        ETag: put.ETag,
        ContentLength: 7,
        ContentType: 'application/json',
        Metadata: { origin: 'export' },
      });
      const get = await client.send(new GetObjectCommand({ Bucket: 'src', Key: 'a/b c+d.json' }));
      expect(await get.Body?.transformToString()).toBe('{"x":1}');
      expect(get.ETag).toBe(put.ETag);
    });

    it('serves a byte range', async () => {
      await client.send(new PutObjectCommand({ Bucket: 'src', Key: 'range', Body: '0123456789' }));
      const get = await client.send(new GetObjectCommand({ Bucket: 'src', Key: 'range', Range: 'bytes=2-5' }));
      expect(await get.Body?.transformToString()).toBe('2345');
      expect(get.ContentRange).toBe('bytes 2-5/10');
    });

    it('decodes an aws-chunked body sent with a trailing checksum', async () => {
      const chunky = new S3Client({
        region: 'us-east-1',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      });
      const body = Buffer.alloc(100_000, 'z');
      try {
        const put = await chunky.send(
          new PutObjectCommand({
            Bucket: 'src',
            Key: 'chunked',
            Body: Readable.from([body.subarray(0, 40_000), body.subarray(40_000)]),
            ContentLength: body.length,
          }),
        );
        expect(put.ETag).toBe(`"${md5(body)}"`);
      } finally {
        chunky.destroy();
      }
      const head = await client.send(new HeadObjectCommand({ Bucket: 'src', Key: 'chunked' }));
      expect(head.ContentLength).toBe(body.length);
    });

    it('answers NoSuchKey for a missing key and NoSuchBucket for a missing bucket', async () => {
      await expect(client.send(new GetObjectCommand({ Bucket: 'src', Key: 'missing' }))).rejects.toMatchObject({
        name: 'NoSuchKey',
        $metadata: { httpStatusCode: 404 },
      });
      await expect(client.send(new HeadObjectCommand({ Bucket: 'src', Key: 'missing' }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 404 },
      });
      await expect(client.send(new PutObjectCommand({ Bucket: 'nope', Key: 'k', Body: 'x' }))).rejects.toMatchObject({
        name: 'NoSuchBucket',
      });
    });
  });

  describe('Method: ListObjectsV2', () => {
    beforeAll(() => {
      s3.store.seed(
        'src',
        Array.from({ length: 2500 }, (_, i) => `list/p-${String(i).padStart(4, '0')}`),
        Buffer.from('x'),
      );
      s3.store.seed('src', ['list-other/x', 'lisp/y'], Buffer.from('y'));
    });

    it('pages through a prefix with continuation tokens, 1,000 keys a page, in key order', async () => {
      const pages: ListObjectsV2CommandOutput[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: 'src',
            Prefix: 'list/',
            ContinuationToken: token,
            ExpectedBucketOwner: '123456789012',
          }),
        );
        pages.push(page);
        token = page.NextContinuationToken;
      } while (token);
      expect(pages.map((p) => p.KeyCount)).toEqual([1000, 1000, 500]);
      expect(pages.map((p) => p.IsTruncated)).toEqual([true, true, false]);
      const keys = pages.flatMap((p) => (p.Contents ?? []).map((o) => o.Key));
      expect(keys).toHaveLength(2500);
      expect(keys[0]).toBe('list/p-0000');
      expect(keys[2499]).toBe('list/p-2499');
      expect([...keys].sort()).toEqual(keys);
      expect(pages[0]?.Contents?.[0]).toMatchObject({ Size: 1, ETag: `"${md5('x')}"` });
    });

    it('honours MaxKeys, StartAfter and Delimiter', async () => {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: 'src', Prefix: 'list/', StartAfter: 'list/p-0010', MaxKeys: 3 }),
      );
      expect(page.Contents?.map((o) => o.Key)).toEqual(['list/p-0011', 'list/p-0012', 'list/p-0013']);
      expect(page.IsTruncated).toBe(true);
      const folders = await client.send(new ListObjectsV2Command({ Bucket: 'src', Prefix: 'lis', Delimiter: '/' }));
      expect(folders.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['lisp/', 'list-other/', 'list/']);
      expect(folders.Contents).toBeUndefined();
    });

    it('returns no keys for a prefix that matches nothing', async () => {
      const page = await client.send(new ListObjectsV2Command({ Bucket: 'src', Prefix: 'nothing/' }));
      expect(page).toMatchObject({ KeyCount: 0, IsTruncated: false });
      expect(page.Contents).toBeUndefined();
    });
  });

  describe('Method: CopyObject', () => {
    it('copies bytes, content type and metadata with the COPY directive, keeping the ETag', async () => {
      const put = await client.send(
        new PutObjectCommand({
          Bucket: 'src',
          Key: 'exports/t/part 1.parquet',
          Body: 'parquet',
          ContentType: 'application/octet-stream',
          Metadata: { table: 'orders' },
        }),
      );
      const copy = await client.send(
        new CopyObjectCommand({
          Bucket: 'dst',
          Key: 'lake/part 1.parquet',
          CopySource: 'src/exports/t/part%201.parquet',
          MetadataDirective: 'COPY',
          ExpectedBucketOwner: '210987654321',
          ExpectedSourceBucketOwner: '123456789012',
        }),
      );
      expect(copy.CopyObjectResult?.ETag).toBe(put.ETag);
      const head = await client.send(new HeadObjectCommand({ Bucket: 'dst', Key: 'lake/part 1.parquet' }));
      expect(head).toMatchObject({
        ETag: put.ETag,
        ContentLength: 7,
        ContentType: 'application/octet-stream',
        Metadata: { table: 'orders' },
      });
    });

    it('takes content type and metadata from the request with the REPLACE directive', async () => {
      await client.send(
        new PutObjectCommand({
          Bucket: 'src',
          Key: 'replace-me',
          Body: 'x',
          ContentType: 'text/plain',
          Metadata: { a: '1' },
        }),
      );
      await client.send(
        new CopyObjectCommand({
          Bucket: 'src',
          Key: 'replace-me',
          CopySource: 'src/replace-me',
          MetadataDirective: 'REPLACE',
          ContentType: 'text/csv',
          Metadata: { b: '2' },
        }),
      );
      const head = await client.send(new HeadObjectCommand({ Bucket: 'src', Key: 'replace-me' }));
      expect(head).toMatchObject({ ContentType: 'text/csv', Metadata: { b: '2' } });
    });

    it('refuses to copy an object onto itself without a change, and a source whose ETag does not match', async () => {
      await client.send(new PutObjectCommand({ Bucket: 'src', Key: 'self', Body: 'x' }));
      await expect(
        client.send(new CopyObjectCommand({ Bucket: 'src', Key: 'self', CopySource: 'src/self' })),
      ).rejects.toMatchObject({ name: 'InvalidRequest' });
      await expect(
        client.send(
          new CopyObjectCommand({ Bucket: 'dst', Key: 'self', CopySource: 'src/self', CopySourceIfMatch: '"0000"' }),
        ),
      ).rejects.toMatchObject({
        $metadata: { httpStatusCode: 412 },
      });
      await expect(
        client.send(new CopyObjectCommand({ Bucket: 'dst', Key: 'x', CopySource: 'src/missing' })),
      ).rejects.toMatchObject({ name: 'NoSuchKey' });
    });
  });

  describe('Method: multipart uploads', () => {
    it('assembles UploadPartCopy ranges into the source bytes with a multipart ETag', async () => {
      const body = Buffer.alloc(12 * MiB);
      for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
      s3.store.seed('src', ['big'], body);
      const { UploadId } = await client.send(
        new CreateMultipartUploadCommand({ Bucket: 'dst', Key: 'big', ContentType: 'application/x-big' }),
      );
      const ranges = [
        [0, 5 * MiB - 1],
        [5 * MiB, 10 * MiB - 1],
        [10 * MiB, 12 * MiB - 1],
      ] as const;
      const parts = await Promise.all(
        ranges.map(async ([first, last], i) => {
          const out = await client.send(
            new UploadPartCopyCommand({
              Bucket: 'dst',
              Key: 'big',
              UploadId,
              PartNumber: i + 1,
              CopySource: 'src/big',
              CopySourceRange: `bytes=${first}-${last}`,
            }),
          );
          return { PartNumber: i + 1, ETag: out.CopyPartResult?.ETag };
        }),
      );
      expect(parts.map((p) => p.ETag)).toEqual(
        ranges.map(([first, last]) => `"${md5(body.subarray(first, last + 1))}"`),
      );
      const done = await client.send(
        new CompleteMultipartUploadCommand({ Bucket: 'dst', Key: 'big', UploadId, MultipartUpload: { Parts: parts } }),
      );
      const expected = createHash('md5')
        .update(
          Buffer.concat(
            ranges.map(([first, last]) =>
              createHash('md5')
                .update(body.subarray(first, last + 1))
                .digest(),
            ),
          ),
        )
        .digest('hex');
      expect(done.ETag).toBe(`"${expected}-3"`);
      const get = await client.send(new GetObjectCommand({ Bucket: 'dst', Key: 'big' }));
      expect(Buffer.from((await get.Body?.transformToByteArray()) as Uint8Array).equals(body)).toBe(true);
      expect(get.ContentType).toBe('application/x-big');
    });

    it('refuses a completion with a part below 5 MiB that is not the last, and forgets an aborted upload', async () => {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: 'dst', Key: 'small-parts' }));
      const one = await client.send(
        new UploadPartCommand({ Bucket: 'dst', Key: 'small-parts', UploadId, PartNumber: 1, Body: 'a' }),
      );
      const two = await client.send(
        new UploadPartCommand({ Bucket: 'dst', Key: 'small-parts', UploadId, PartNumber: 2, Body: 'b' }),
      );
      await expect(
        client.send(
          new CompleteMultipartUploadCommand({
            Bucket: 'dst',
            Key: 'small-parts',
            UploadId,
            MultipartUpload: {
              Parts: [
                { PartNumber: 1, ETag: one.ETag },
                { PartNumber: 2, ETag: two.ETag },
              ],
            },
          }),
        ),
      ).rejects.toMatchObject({ name: 'EntityTooSmall' });
      await client.send(new AbortMultipartUploadCommand({ Bucket: 'dst', Key: 'small-parts', UploadId }));
      await expect(
        client.send(new UploadPartCommand({ Bucket: 'dst', Key: 'small-parts', UploadId, PartNumber: 3, Body: 'c' })),
      ).rejects.toMatchObject({ name: 'NoSuchUpload' });
    });

    it("carries the copy stage's multipart path end to end", async () => {
      const body = Buffer.alloc(11 * MiB, 7);
      s3.store.seed('src', ['exports/huge.parquet'], body, 'application/vnd.apache.parquet');
      const copier = new S3ObjectCopier({
        client,
        sourceBucket: 'src',
        sourceOwnerAccountId: '123456789012',
        destinationBucket: 'dst',
        destinationOwnerAccountId: '210987654321',
        partSizeBytes: 5 * MiB,
        multipartThresholdBytes: 5 * MiB,
      });
      const result = await copier.copy({
        sourceKey: 'exports/huge.parquet',
        destinationKey: 'lake/huge.parquet',
        size: body.length,
      });
      expect(result).toMatchObject({ multipart: true, parts: 3 });
      const head = await client.send(new HeadObjectCommand({ Bucket: 'dst', Key: 'lake/huge.parquet' }));
      expect(head).toMatchObject({
        ContentLength: body.length,
        ETag: result.etag,
        ContentType: 'application/vnd.apache.parquet',
      });
    });
  });

  describe('Method: buckets, deletes and the rest', () => {
    it('creates buckets idempotently, deletes objects, and answers NotImplemented to anything else', async () => {
      await client.send(new CreateBucketCommand({ Bucket: 'fresh' }));
      await client.send(new CreateBucketCommand({ Bucket: 'fresh' }));
      await client.send(new HeadBucketCommand({ Bucket: 'fresh' }));
      await client.send(new PutObjectCommand({ Bucket: 'fresh', Key: 'gone', Body: 'x' }));
      await client.send(new DeleteObjectCommand({ Bucket: 'fresh', Key: 'gone' }));
      const page = await client.send(new ListObjectsV2Command({ Bucket: 'fresh' }));
      expect(page.KeyCount).toBe(0);
      await expect(
        client.send(
          new PutBucketVersioningCommand({ Bucket: 'fresh', VersioningConfiguration: { Status: 'Enabled' } }),
        ),
      ).rejects.toMatchObject({
        name: 'NotImplemented',
        $metadata: { httpStatusCode: 501 },
      });
    });
  });
});

describe('Function: decodeAwsChunked', () => {
  it('joins the chunks and drops signatures and trailers', () => {
    const raw = Buffer.from(
      '5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n',
    );
    expect(decodeAwsChunked(raw).toString()).toBe('hello world');
  });
});
