import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** An object found under the export prefix. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
}

/**
 * Lists every object under a prefix, page by page (1,000 keys a page), calling `onPage` as pages arrive so
 * a caller never needs more than one page in flight. Sends ExpectedBucketOwner.
 */
export async function listPrefix(
  client: S3Client,
  params: { bucket: string; prefix: string; expectedOwner: string },
  onPage?: (objects: ListedObject[]) => void | Promise<void>,
): Promise<ListedObject[]> {
  const all: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: params.bucket, Prefix: params.prefix, ContinuationToken: token, ExpectedBucketOwner: params.expectedOwner }),
    );
    const objects = (page.Contents ?? []).filter((o) => o.Key !== undefined).map((o) => ({ key: o.Key as string, size: o.Size ?? 0 }));
    all.push(...objects);
    if (onPage) await onPage(objects);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return all;
}

/** Reads a small object (the export's JSON files) as text. */
export async function readText(client: S3Client, params: { bucket: string; key: string; expectedOwner: string }): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: params.bucket, Key: params.key, ExpectedBucketOwner: params.expectedOwner }));
  return (await out.Body?.transformToString('utf8')) ?? '';
}

/** Writes a small object at the destination (manifest, `_SUCCESS`) with the destination's write options. */
export async function putDestinationObject(
  client: S3Client,
  params: {
    bucket: string;
    key: string;
    body: string;
    contentType: string;
    expectedOwner: string;
    kmsKeyArn?: string;
    bucketOwnerFullControl?: boolean;
  },
): Promise<string> {
  const out = await client.send(
    new PutObjectCommand({
      Bucket: params.bucket,
      Key: params.key,
      Body: Buffer.from(params.body, 'utf8'),
      ContentLength: Buffer.byteLength(params.body, 'utf8'),
      ContentType: params.contentType,
      ExpectedBucketOwner: params.expectedOwner,
      ...(params.kmsKeyArn ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: params.kmsKeyArn } : {}),
      ...(params.bucketOwnerFullControl ? { ACL: 'bucket-owner-full-control' as const } : {}),
    }),
  );
  return out.ETag ?? '';
}
