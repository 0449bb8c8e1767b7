/**
 * Tells the copy failures that no retry can fix (access denied, missing bucket, KMS denied, wrong bucket
 * owner) from the rest, and words them so that the client's administrator knows which policy to change.
 * Pure: reads only the `name`, `Code`, `message` and HTTP status an AWS SDK error carries.
 */

/** Why a copy can never succeed until someone changes a policy or the configuration. */
export const PermanentCopyReason = {
  ACCESS_DENIED: 'AccessDenied',
  NO_SUCH_BUCKET: 'NoSuchBucket',
  KMS_DENIED: 'KmsDenied',
  WRONG_BUCKET_OWNER: 'WrongBucketOwner',
} as const;
export type PermanentCopyReason = (typeof PermanentCopyReason)[keyof typeof PermanentCopyReason];

/** The destination as the configuration names it. */
export interface CopyDestinationTarget {
  /** Access point ARN, or bucket name when no access point is used. */
  readonly bucketOrAccessPoint: string;
  readonly ownerAccountId: string;
  readonly kmsKeyArn?: string;
}

/** The source (our export bucket). */
export interface CopySourceTarget {
  readonly bucket: string;
  readonly ownerAccountId: string;
  readonly kmsKeyArn?: string;
}

/** The call that failed. */
export interface CopyCallContext {
  /** IAM action of the failing call as far as the destination is concerned, e.g. `s3:PutObject`. */
  readonly action: string;
  /** Key at the destination (or at the source, for calls that only read it). */
  readonly key?: string;
  /** Which side the call touches: reading the export, writing the delivery, or both (a copy). */
  readonly side: 'source' | 'destination' | 'both';
  /** Who made the call: a role ARN, or a description when it is unknown. */
  readonly principal: string;
  readonly destination: CopyDestinationTarget;
  readonly source: CopySourceTarget;
}

/** A failure classified as permanent, with a message a human can act on. */
export interface PermanentCopyFailure {
  readonly reason: PermanentCopyReason;
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  /** Policies that must allow the action, in the order to check them. */
  readonly policies: readonly string[];
  readonly message: string;
}

interface ErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** ARN of an object (or of the bucket/access point itself when no key is given). */
export function s3ResourceArn(bucketOrAccessPoint: string, key?: string): string {
  if (bucketOrAccessPoint.startsWith('arn:'))
    return key === undefined ? bucketOrAccessPoint : `${bucketOrAccessPoint}/object/${key}`;
  return key === undefined ? `arn:aws:s3:::${bucketOrAccessPoint}` : `arn:aws:s3:::${bucketOrAccessPoint}/${key}`;
}

/** Pulls principal, action and resource out of AWS's "User: X is not authorized to perform: Y on resource: Z" text. */
export function parseAuthorizationMessage(message: string): { principal?: string; action?: string; resource?: string } {
  const principal = /User:\s*(arn:[^\s]+)/.exec(message)?.[1];
  const action = /perform:\s*([a-z0-9-]+:[A-Za-z0-9*]+)/.exec(message)?.[1];
  const resource = /on resource:\s*"?(arn:[^\s"]+)"?/.exec(message)?.[1];
  return { principal, action, resource };
}

function isAccessPoint(d: CopyDestinationTarget): boolean {
  return d.bucketOrAccessPoint.startsWith('arn:') && d.bucketOrAccessPoint.includes(':accesspoint/');
}

function destinationPolicies(d: CopyDestinationTarget, withKms: boolean): string[] {
  const policies = isAccessPoint(d)
    ? [
        `the access point policy of ${d.bucketOrAccessPoint}`,
        `the bucket policy of the bucket behind it (account ${d.ownerAccountId}), directly or by delegating access control to the account's access points`,
      ]
    : [`the bucket policy of ${d.bucketOrAccessPoint} (account ${d.ownerAccountId})`];
  if (withKms && d.kmsKeyArn)
    policies.push(`the key policy of the client's KMS key ${d.kmsKeyArn} (kms:GenerateDataKey and kms:Decrypt)`);
  return policies;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const SOURCE_ACTIONS = new Set(['s3:GetObject', 's3:ListBucket', 'kms:Decrypt', 's3:GetObjectVersion']);

/**
 * Classifies an error from an S3 call of the copy stage. Returns the permanent failure with its message,
 * or `undefined` for anything a retry may fix (throttling, 5xx, timeouts...).
 */
export function classifyCopyError(error: unknown, ctx: CopyCallContext): PermanentCopyFailure | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as ErrorShape;
  const code = e.Code ?? e.name ?? '';
  const text = e.message ?? '';
  const status = e.$metadata?.httpStatusCode;
  const parsed = parseAuthorizationMessage(text);
  const principal = parsed.principal ?? ctx.principal;
  const action = parsed.action ?? ctx.action;

  const sourceSide = ctx.side === 'source' || (parsed.action !== undefined && SOURCE_ACTIONS.has(parsed.action));
  const sourceResource = s3ResourceArn(ctx.source.bucket, ctx.side === 'source' ? ctx.key : undefined);
  const destResource = s3ResourceArn(ctx.destination.bucketOrAccessPoint, ctx.side === 'source' ? undefined : ctx.key);

  const isKms = code.startsWith('KMS.') || /\bkms:|KMS/.test(text);
  const isOwner = code === 'InvalidBucketOwnerAWSAccountID' || /expected (source )?bucket owner/i.test(text);
  const isNoBucket = code === 'NoSuchBucket' || code === 'NoSuchAccessPoint';
  const isDenied =
    code === 'AccessDenied' ||
    code === 'AccessDeniedException' ||
    code === 'AllAccessDisabled' ||
    (status === 403 && !code);

  if (isOwner) {
    const bucket = sourceSide ? ctx.source.bucket : ctx.destination.bucketOrAccessPoint;
    const owner = sourceSide ? ctx.source.ownerAccountId : ctx.destination.ownerAccountId;
    const resource = s3ResourceArn(bucket);
    const policies = sourceSide
      ? [`the export bucket ${ctx.source.bucket}`]
      : [
          `destination.${isAccessPoint(ctx.destination) ? 'accessPointArn' : 'bucket'} and destination.expectedOwnerAccountId in the configuration`,
        ];
    return {
      reason: PermanentCopyReason.WRONG_BUCKET_OWNER,
      principal,
      action,
      resource,
      policies,
      message:
        `${action} by ${principal} on ${resource} was refused because the bucket is not owned by account ${owner} ` +
        `(ExpectedBucketOwner). Check ${policies.join(' and ')}: the pipeline only writes to a bucket owned by the configured account.`,
    };
  }

  if (isNoBucket) {
    const bucket = sourceSide ? ctx.source.bucket : ctx.destination.bucketOrAccessPoint;
    const resource = s3ResourceArn(bucket);
    const policies = sourceSide
      ? [`the export bucket ${ctx.source.bucket}`]
      : destinationPolicies(ctx.destination, false);
    return {
      reason: PermanentCopyReason.NO_SUCH_BUCKET,
      principal,
      action,
      resource,
      policies,
      message:
        `${action} by ${principal} failed: ${resource} does not exist (${code}). ` +
        (sourceSide
          ? `The export bucket is part of this stack; redeploy it.`
          : `Check destination.${isAccessPoint(ctx.destination) ? 'accessPointArn' : 'bucket'} in the configuration; once it exists, ${policies.join(' and ')} must allow ${action} for ${principal}.`),
    };
  }

  if (isKms && (isDenied || code.startsWith('KMS.'))) {
    // Which key refused decides whose policy must change: a named key is ours unless it is the client's;
    // without a name, kms:Decrypt on a write (completing a multipart copy) is still the client's key.
    const keyInError = parsed.resource?.includes(':kms:') ? parsed.resource : undefined;
    const decrypting = keyInError
      ? keyInError !== ctx.destination.kmsKeyArn
      : ctx.side === 'source' || (parsed.action === 'kms:Decrypt' && ctx.side !== 'destination');
    const keyArn = keyInError ?? (decrypting ? ctx.source.kmsKeyArn : ctx.destination.kmsKeyArn);
    const kmsAction = parsed.action?.startsWith('kms:')
      ? parsed.action
      : decrypting
        ? 'kms:Decrypt'
        : 'kms:GenerateDataKey';
    const resource = keyArn ?? (decrypting ? 'the export KMS key' : "the client's KMS key");
    // A key the configuration does not name is only described: "the key policy of the export key", not twice over.
    const named = keyArn ? ` ${keyArn}` : '';
    const policies = decrypting
      ? [`the key policy of the export key${named} and the copy function's role policy (kms:Decrypt)`]
      : [
          `the key policy of the client's KMS key${named} (kms:GenerateDataKey and kms:Decrypt)`,
          `the copy function's role policy`,
        ];
    return {
      reason: PermanentCopyReason.KMS_DENIED,
      principal,
      action: kmsAction,
      resource,
      policies,
      message:
        `${kmsAction} by ${principal} on ${resource} was denied (${code || 'KMS'}) while copying ${ctx.key ?? 'objects'} ` +
        `${decrypting ? 'out of the export' : 'to the destination'}: ${policies.join(', and ')} must allow it.`,
    };
  }

  if (isDenied) {
    if (sourceSide) {
      const resource = parsed.resource ?? s3ResourceArn(ctx.source.bucket, ctx.key);
      const srcAction = parsed.action ?? (ctx.side === 'source' ? ctx.action : 's3:GetObject');
      const policies = [`the copy function's role policy`, `the export bucket policy of ${ctx.source.bucket}`];
      return {
        reason: PermanentCopyReason.ACCESS_DENIED,
        principal,
        action: srcAction,
        resource,
        policies,
        message: `${srcAction} by ${principal} on ${resource} was denied (${code || 'AccessDenied'}): ${policies.join(' and ')} must allow it.`,
      };
    }
    const resource = parsed.resource ?? destResource;
    const policies = destinationPolicies(ctx.destination, true);
    const both = ctx.side === 'both' && !parsed.action;
    return {
      reason: PermanentCopyReason.ACCESS_DENIED,
      principal,
      action,
      resource,
      policies,
      message:
        `${action} by ${principal} on ${resource} was denied (${code || 'AccessDenied'}). ` +
        `${capitalize(policies.join(', and '))} must allow ${action} for ${principal}` +
        `; S3 also answers AccessDenied when the bucket is not owned by account ${ctx.destination.ownerAccountId} (ExpectedBucketOwner)` +
        (both
          ? `, or when the copy function cannot read ${sourceResource} (s3:GetObject, allowed by its role policy).`
          : '.'),
    };
  }
  return undefined;
}
