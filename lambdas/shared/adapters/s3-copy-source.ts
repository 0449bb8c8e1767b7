import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

/** An object found under the export prefix. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
}

/** Every object under a prefix, all pages of {@link listPages} gathered: for small listings (the export's files). */
export async function listPrefix(
  client: S3Client,
  params: { bucket: string; prefix: string; expectedOwner: string },
): Promise<ListedObject[]> {
  const all: ListedObject[] = [];
  for await (const page of listPages(client, params)) all.push(...page);
  return all;
}

/**
 * The pages of a listing under a prefix, one at a time (1,000 keys a page), with `delimiter` when given (then
 * only the keys directly under the prefix). Sends ExpectedBucketOwner.
 */
export async function* listPages(
  client: S3Client,
  params: { bucket: string; prefix: string; expectedOwner: string; delimiter?: string },
): AsyncGenerator<ListedObject[]> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: params.bucket,
        Prefix: params.prefix,
        ContinuationToken: token,
        ExpectedBucketOwner: params.expectedOwner,
        ...(params.delimiter ? { Delimiter: params.delimiter } : {}),
      }),
    );
    yield (page.Contents ?? [])
      .filter((o) => o.Key !== undefined)
      .map((o) => ({ key: o.Key as string, size: o.Size ?? 0 }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Reads a small object (the export's JSON files) as text. */
export async function readText(
  client: S3Client,
  params: { bucket: string; key: string; expectedOwner: string },
): Promise<string> {
  const out = await client.send(
    new GetObjectCommand({ Bucket: params.bucket, Key: params.key, ExpectedBucketOwner: params.expectedOwner }),
  );
  return (await out.Body?.transformToString('utf8')) ?? '';
}

/** Where and how an object of ours (manifest, `_SUCCESS`) is written at the destination. */
export interface DestinationObjectTarget {
  /** Access point ARN or bucket name. */
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  /** The client's account, sent as ExpectedBucketOwner. */
  readonly expectedOwner: string;
  readonly kmsKeyArn?: string;
  readonly bucketOwnerFullControl?: boolean;
}

/** The destination's write options: encryption with the client's key and the ACL, when configured. */
function writeOptions(target: DestinationObjectTarget) {
  return {
    ...(target.kmsKeyArn ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: target.kmsKeyArn } : {}),
    ...(target.bucketOwnerFullControl ? { ACL: 'bucket-owner-full-control' as const } : {}),
  };
}

/** Writes a small object at the destination (manifest, `_SUCCESS`) with the destination's write options. */
export async function putDestinationObject(
  client: S3Client,
  params: DestinationObjectTarget & { readonly body: string },
): Promise<string> {
  const body = Buffer.from(params.body, 'utf8');
  const out = await client.send(
    new PutObjectCommand({
      Bucket: params.bucket,
      Key: params.key,
      Body: body,
      ContentLength: body.length,
      ContentType: params.contentType,
      ExpectedBucketOwner: params.expectedOwner,
      ...writeOptions(params),
    }),
  );
  return out.ETag ?? '';
}

/** Part size of {@link DestinationTextWriter} uploads (S3 wants at least 5 MiB for every part but the last). */
export const TEXT_PART_BYTES = 8 * 1024 ** 2;

/**
 * Writes a destination object from text produced piece by piece, holding at most one part in memory: a body
 * that fits one part goes out as one PutObject when the writer ends, a larger one as a multipart upload.
 * Nothing is visible at the key before {@link end}; {@link abort} drops the parts already uploaded.
 */
export class DestinationTextWriter {
  private pieces: string[] = [];
  private buffered = 0;
  private uploadId: string | undefined;
  private readonly parts: CompletedPart[] = [];

  constructor(
    private readonly client: S3Client,
    private readonly target: DestinationObjectTarget,
    private readonly partBytes = TEXT_PART_BYTES,
  ) {}

  /** Appends text; uploads a part once a part's worth is buffered. */
  async write(text: string): Promise<void> {
    this.pieces.push(text);
    this.buffered += Buffer.byteLength(text, 'utf8');
    if (this.buffered >= this.partBytes) await this.uploadPart();
  }

  /** Makes the object visible and returns its ETag. */
  async end(): Promise<string> {
    if (this.uploadId === undefined)
      return putDestinationObject(this.client, { ...this.target, body: this.take().toString('utf8') });
    if (this.buffered > 0) await this.uploadPart();
    const t = this.target;
    const out = await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: t.bucket,
        Key: t.key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: this.parts },
        ExpectedBucketOwner: t.expectedOwner,
      }),
    );
    return out.ETag ?? '';
  }

  /** Drops what was uploaded (best effort: an upload left behind is invisible and expires with the client's lifecycle rules). */
  async abort(): Promise<void> {
    this.pieces = [];
    this.buffered = 0;
    if (this.uploadId === undefined) return;
    const t = this.target;
    await this.client
      .send(
        new AbortMultipartUploadCommand({
          Bucket: t.bucket,
          Key: t.key,
          UploadId: this.uploadId,
          ExpectedBucketOwner: t.expectedOwner,
        }),
      )
      .catch(() => undefined);
    this.uploadId = undefined;
  }

  private take(): Buffer {
    const body = Buffer.from(this.pieces.join(''), 'utf8');
    this.pieces = [];
    this.buffered = 0;
    return body;
  }

  private async uploadPart(): Promise<void> {
    const t = this.target;
    if (this.uploadId === undefined) {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: t.bucket,
          Key: t.key,
          ContentType: t.contentType,
          ExpectedBucketOwner: t.expectedOwner,
          ...writeOptions(t),
        }),
      );
      if (!created.UploadId) throw new Error(`CreateMultipartUpload of ${t.key} returned no UploadId`);
      this.uploadId = created.UploadId;
    }
    const body = this.take();
    const partNumber = this.parts.length + 1;
    const out = await this.client.send(
      new UploadPartCommand({
        Bucket: t.bucket,
        Key: t.key,
        UploadId: this.uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
        ExpectedBucketOwner: t.expectedOwner,
      }),
    );
    this.parts.push({ PartNumber: partNumber, ETag: out.ETag });
  }
}
