import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  S3Client,
  UploadPartCopyCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { mapWithConcurrency } from '../copy/concurrency';
import { DirectCopyObject } from './s3-direct-copy';

/** Largest object a single CopyObject may copy (5 GiB). */
export const MAX_COPY_OBJECT_BYTES = 5 * 1024 ** 3;
/** Smallest part S3 accepts, except the last one (5 MiB). */
export const MIN_PART_BYTES = 5 * 1024 ** 2;
/** Largest part S3 accepts (5 GiB). */
export const MAX_PART_BYTES = 5 * 1024 ** 3;
/** Most parts in one multipart upload. */
export const MAX_PARTS = 10_000;
const MiB = 1024 ** 2;

/**
 * Sockets the copy client may keep open to S3 at once (kept alive between requests). The copier bounds the
 * requests in flight itself (objects at once, and parts at once per multipart object); the SDK's default pool
 * of 50 would be a second, lower limit that queues requests: the default settings alone put 16 objects × 8
 * parts = 128 UploadPartCopy calls in flight. 256 is also the highest configurable copy concurrency, and stays
 * well below Lambda's 1,024 file descriptors.
 */
export const COPY_MAX_SOCKETS = 256;

/**
 * Longest one attempt of one S3 request may take before it is abandoned and retried (5 minutes). A CopyObject
 * of 5 GiB, the largest single copy, takes well under that at S3's copy rates; a request stuck on a dead
 * connection otherwise holds its worker until the Lambda timeout.
 */
export const COPY_REQUEST_TIMEOUT_MS = 300_000;
/** Longest a new connection may take to open. */
export const COPY_CONNECTION_TIMEOUT_MS = 10_000;

/**
 * Builds the S3 client the copy stage uses: the SDK's standard configuration (region, credentials,
 * AWS_ENDPOINT_URL) with adaptive retry, which backs off on SlowDown/503 and rate-limits the client itself,
 * and a keep-alive socket pool of {@link COPY_MAX_SOCKETS}. `useArnRegion` sends requests for an access point
 * ARN to the region the ARN names: the client's access point may live in another region than the function,
 * and without it the SDK refuses such an ARN before any request is made.
 */
export function createCopyS3Client(overrides: S3ClientConfig = {}): S3Client {
  const agent = { keepAlive: true, maxSockets: COPY_MAX_SOCKETS };
  return new S3Client({
    retryMode: 'adaptive',
    maxAttempts: 8,
    useArnRegion: true,
    requestHandler: {
      httpsAgent: agent,
      httpAgent: agent,
      requestTimeout: COPY_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
      connectionTimeout: COPY_CONNECTION_TIMEOUT_MS,
    },
    ...overrides,
  });
}

/**
 * The copy client's hot path: CopyObject as one hand-signed request over its own kept-alive sockets, with
 * `client`'s endpoint, credentials and region (see {@link DirectCopyObject}), and the same limits as the client.
 */
export function createDirectCopy(client: S3Client): DirectCopyObject {
  return new DirectCopyObject(client, {
    maxSockets: COPY_MAX_SOCKETS,
    requestTimeoutMs: COPY_REQUEST_TIMEOUT_MS,
    connectionTimeoutMs: COPY_CONNECTION_TIMEOUT_MS,
  });
}

/** How objects are written at the destination. */
export interface S3ObjectCopierOptions {
  readonly client: S3Client;
  /** Sends single-request copies (CopyObject) instead of `client`; every other call goes through `client`. */
  readonly direct?: DirectCopyObject;
  readonly sourceBucket: string;
  /** Our account: sent as ExpectedSourceBucketOwner (and ExpectedBucketOwner on reads of the source). */
  readonly sourceOwnerAccountId: string;
  /** Access point ARN or bucket name. */
  readonly destinationBucket: string;
  /** The client's account: sent as ExpectedBucketOwner on every write. */
  readonly destinationOwnerAccountId: string;
  /** SSE-KMS with this key when set. */
  readonly kmsKeyArn?: string;
  /** Send `bucket-owner-full-control` (only for client buckets that still use ACLs). */
  readonly bucketOwnerFullControl?: boolean;
  /** Part size for multipart copies, in bytes (raised when needed to stay within 10,000 parts). @default 128 MiB */
  readonly partSizeBytes?: number;
  /** Parts copied at once for one multipart object. @default 8 */
  readonly partConcurrency?: number;
  /** Objects above this size are copied part by part. @default 5 GiB (the CopyObject limit) */
  readonly multipartThresholdBytes?: number;
}

/** One object to copy. */
export interface ObjectCopyRequest {
  readonly sourceKey: string;
  readonly destinationKey: string;
  /** Size from the listing: decides between CopyObject and UploadPartCopy and sizes the parts. */
  readonly size: number;
}

/** What the destination holds after the copy. */
export interface ObjectCopyResult {
  readonly etag: string;
  readonly multipart: boolean;
  readonly parts: number;
}

/** A multipart copy stopped part-way on request; its upload and completed parts are kept for the next attempt. */
export interface PausedCopy {
  readonly paused: true;
  readonly partsDone: number;
  readonly partsTotal: number;
}

/** Hooks of a resumable copy: where a multipart copy starts from, what it reports, when it stops. */
export interface ResumableCopyHooks {
  /** An upload of this object begun earlier, with the parts it completed. */
  readonly resume?: {
    readonly uploadId: string;
    readonly partSizeBytes: number;
    readonly parts: ReadonlyMap<number, string>;
  };
  /** A multipart upload was created; called (and awaited) before any part is copied, so it can be recorded. */
  readonly onUpload?: (upload: { uploadId: string; partSizeBytes: number }) => Promise<void> | void;
  /** A part was copied. */
  readonly onPart?: (part: { uploadId: string; partNumber: number; etag: string }) => Promise<void> | void;
  /** Checked before each part: true stops the copy once the parts in flight are done. */
  readonly shouldStop?: () => boolean;
  /** Cancels the requests in flight (the invocation's time or the batch's lease ran out). */
  readonly abortSignal?: AbortSignal;
}

/** Error raised with the failing S3 call attached, so the caller can tell which action and side failed. */
export class S3CopyCallError extends Error {
  constructor(
    readonly action: string,
    readonly side: 'source' | 'destination' | 'both',
    readonly key: string,
    override readonly cause: unknown,
  ) {
    super(`${action} failed for ${key}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'S3CopyCallError';
  }
}

/** Part size that respects the configured size, S3's 5 MiB floor and the 10,000-part ceiling, in whole MiB. */
export function effectivePartSize(objectSize: number, configuredPartBytes: number): number {
  const floor = Math.max(MIN_PART_BYTES, Math.ceil(objectSize / MAX_PARTS));
  const size = Math.max(configuredPartBytes, floor);
  const rounded = Math.ceil(size / MiB) * MiB;
  if (rounded > MAX_PART_BYTES)
    throw new Error(`object of ${objectSize} bytes needs parts above 5 GiB; S3 cannot copy it`);
  return rounded;
}

/**
 * `bucket/key` as CopySource wants it: URL-encoded, with `?`, `#` and `+` escaped too so that S3 never reads
 * them as a query, a fragment or a space. Characters that are harmless in a path (`=`, `:`, `,`...) stay as
 * they are, which Hive-style partition folders (`dt=2024-01-01`) keep readable in logs.
 */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURI(key).replace(/\?/g, '%3F').replace(/#/g, '%23').replace(/\+/g, '%2B')}`;
}

/**
 * Copies objects server-side from our export bucket to the client's destination. Nothing passes through
 * the function's memory, so memory stays flat whatever the object size. Content type and user metadata
 * are kept (CopyObject copies them; the multipart path reads them first and sets them on the upload).
 */
export class S3ObjectCopier {
  private readonly partSizeBytes: number;
  private readonly partConcurrency: number;
  private readonly threshold: number;

  constructor(private readonly options: S3ObjectCopierOptions) {
    this.partSizeBytes = options.partSizeBytes ?? 128 * MiB;
    if (this.partSizeBytes < MIN_PART_BYTES) throw new Error('part size must be at least 5 MiB');
    this.partConcurrency = options.partConcurrency ?? 8;
    this.threshold = Math.min(options.multipartThresholdBytes ?? MAX_COPY_OBJECT_BYTES, MAX_COPY_OBJECT_BYTES);
  }

  /** Copies one object; above the threshold, part by part with parallel UploadPartCopy calls. */
  async copy(request: ObjectCopyRequest): Promise<ObjectCopyResult> {
    const result = await this.copyResumable(request, {});
    if ('paused' in result) throw new Error(`copy of ${request.destinationKey} paused without a stop request`);
    return result;
  }

  /**
   * Copies one object like {@link copy}; a multipart copy reports its upload and each part, continues an
   * upload begun earlier, and pauses (keeping the upload) when `shouldStop` says so. A transient failure
   * leaves the upload for the next attempt; a refusal (4xx) aborts it.
   */
  async copyResumable(request: ObjectCopyRequest, hooks: ResumableCopyHooks): Promise<ObjectCopyResult | PausedCopy> {
    return this.copiesPartByPart(request.size) ? this.copyMultipart(request, hooks) : this.copySingle(request, hooks);
  }

  /** Whether an object of `size` bytes is copied part by part (and so may pause between parts). */
  copiesPartByPart(size: number): boolean {
    return size > this.threshold;
  }

  private writeOptions() {
    const o = this.options;
    return {
      ExpectedBucketOwner: o.destinationOwnerAccountId,
      ...(o.kmsKeyArn ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: o.kmsKeyArn } : {}),
      ...(o.bucketOwnerFullControl ? { ACL: 'bucket-owner-full-control' as const } : {}),
    };
  }

  private async call<T>(
    action: string,
    side: 'source' | 'destination' | 'both',
    key: string,
    run: () => Promise<T>,
  ): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new S3CopyCallError(action, side, key, error);
    }
  }

  private async copySingle(request: ObjectCopyRequest, hooks: ResumableCopyHooks): Promise<ObjectCopyResult> {
    const o = this.options;
    const input = {
      Bucket: o.destinationBucket,
      Key: request.destinationKey,
      CopySource: copySource(o.sourceBucket, request.sourceKey),
      ExpectedSourceBucketOwner: o.sourceOwnerAccountId,
      MetadataDirective: 'COPY' as const,
      ...this.writeOptions(),
    };
    const out = await this.call('s3:PutObject', 'both', request.destinationKey, () =>
      o.direct
        ? o.direct.send(input, hooks.abortSignal)
        : o.client.send(new CopyObjectCommand(input), { abortSignal: hooks.abortSignal }),
    );
    return { etag: out.CopyObjectResult?.ETag ?? '', multipart: false, parts: 1 };
  }

  private async copyMultipart(
    request: ObjectCopyRequest,
    hooks: ResumableCopyHooks,
  ): Promise<ObjectCopyResult | PausedCopy> {
    const o = this.options;
    const signal = { abortSignal: hooks.abortSignal };
    const head = await this.call('s3:GetObject', 'source', request.sourceKey, () =>
      o.client.send(
        new HeadObjectCommand({
          Bucket: o.sourceBucket,
          Key: request.sourceKey,
          ExpectedBucketOwner: o.sourceOwnerAccountId,
        }),
        signal,
      ),
    );
    const size = head.ContentLength ?? request.size;
    const resumable = Boolean(hooks.onUpload || hooks.onPart || hooks.shouldStop || hooks.resume);
    let resume = hooks.resume;
    for (;;) {
      const partSize = resume?.partSizeBytes ?? effectivePartSize(size, this.partSizeBytes);
      const uploadId = resume?.uploadId ?? (await this.createUpload(request, head, signal));
      if (!resume) await hooks.onUpload?.({ uploadId, partSizeBytes: partSize });
      const done = new Map(resume?.parts ?? []);
      const ranges: Array<{ partNumber: number; first: number; last: number }> = [];
      for (let first = 0, partNumber = 1; first < size; first += partSize, partNumber++) {
        if (!done.has(partNumber)) ranges.push({ partNumber, first, last: Math.min(first + partSize, size) - 1 });
      }
      const partsTotal = Math.ceil(size / partSize);
      try {
        let paused = false;
        await mapWithConcurrency(ranges, this.partConcurrency, async (range) => {
          if (paused || hooks.shouldStop?.()) {
            paused = true;
            return;
          }
          const out = await this.call('s3:PutObject', 'both', request.destinationKey, () =>
            o.client.send(
              new UploadPartCopyCommand({
                Bucket: o.destinationBucket,
                Key: request.destinationKey,
                UploadId: uploadId,
                PartNumber: range.partNumber,
                CopySource: copySource(o.sourceBucket, request.sourceKey),
                CopySourceRange: `bytes=${range.first}-${range.last}`,
                ...(head.ETag ? { CopySourceIfMatch: head.ETag } : {}),
                ExpectedBucketOwner: o.destinationOwnerAccountId,
                ExpectedSourceBucketOwner: o.sourceOwnerAccountId,
              }),
              signal,
            ),
          );
          const etag = out.CopyPartResult?.ETag ?? '';
          done.set(range.partNumber, etag);
          await hooks.onPart?.({ uploadId, partNumber: range.partNumber, etag });
        });
        if (paused) return { paused: true, partsDone: done.size, partsTotal };
        const parts = [...done.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
        const completed = await this.call('s3:PutObject', 'destination', request.destinationKey, () =>
          o.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: o.destinationBucket,
              Key: request.destinationKey,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
              ExpectedBucketOwner: o.destinationOwnerAccountId,
            }),
            signal,
          ),
        );
        return { etag: completed.ETag ?? '', multipart: true, parts: parts.length };
      } catch (error) {
        // An upload recorded earlier that S3 no longer knows (aborted, expired, or completed by a worker that
        // died before recording it) is started again from its first part.
        if (resume && isNoSuchUpload(error)) {
          resume = undefined;
          continue;
        }
        if (!resumable || isRefusal(error)) await this.abort(request, uploadId);
        throw error;
      }
    }
  }

  private async createUpload(
    request: ObjectCopyRequest,
    head: HeadObjectCommandOutput,
    signal: { abortSignal?: AbortSignal },
  ): Promise<string> {
    const o = this.options;
    const created = await this.call('s3:PutObject', 'destination', request.destinationKey, () =>
      o.client.send(
        new CreateMultipartUploadCommand({
          Bucket: o.destinationBucket,
          Key: request.destinationKey,
          ContentType: head.ContentType,
          ContentEncoding: head.ContentEncoding,
          ContentDisposition: head.ContentDisposition,
          ContentLanguage: head.ContentLanguage,
          CacheControl: head.CacheControl,
          Metadata: head.Metadata,
          ...this.writeOptions(),
        }),
        signal,
      ),
    );
    if (!created.UploadId)
      throw new S3CopyCallError(
        's3:PutObject',
        'destination',
        request.destinationKey,
        new Error('CreateMultipartUpload returned no UploadId'),
      );
    return created.UploadId;
  }

  private async abort(request: ObjectCopyRequest, uploadId: string): Promise<void> {
    const o = this.options;
    await o.client
      .send(
        new AbortMultipartUploadCommand({
          Bucket: o.destinationBucket,
          Key: request.destinationKey,
          UploadId: uploadId,
          ExpectedBucketOwner: o.destinationOwnerAccountId,
        }),
      )
      .catch(() => undefined);
  }
}

function causeOf(error: unknown): { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } {
  const e = error instanceof S3CopyCallError ? error.cause : error;
  return (e ?? {}) as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
}

/** S3 no longer knows the multipart upload. */
function isNoSuchUpload(error: unknown): boolean {
  const e = causeOf(error);
  return e.name === 'NoSuchUpload' || e.Code === 'NoSuchUpload';
}

/** A 4xx answer other than a timeout or throttling: trying again will not help, so the upload is aborted. */
function isRefusal(error: unknown): boolean {
  const status = causeOf(error).$metadata?.httpStatusCode ?? 0;
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}
