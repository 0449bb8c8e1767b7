/**
 * The copy function's destination probe. An operator (the CLI's `preflight`) invokes the copy function
 * directly, not through SNS, with `{ "kind": "probe" }`; the function writes one small object under the
 * destination's prefix exactly as a delivery writes its manifest: through the access point, with
 * ExpectedBucketOwner, the configured ACL mode and the client's KMS key. With a client key it writes the same
 * key again as a one-part multipart upload, which also needs `kms:Decrypt` (as large copies do).
 *
 * So the probe proves what no operator credential can: that the client's policies admit the copy role
 * itself. The copy role has no delete permission by design, so the probe object stays; the client can
 * expire `_preflight/` with a lifecycle rule.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  DestinationTextWriter,
  putDestinationObject,
  type DestinationObjectTarget,
} from '../shared/adapters/s3-copy-source';
import { destinationPrefix } from '../shared/copy/layout';
import {
  classifyCopyError,
  PermanentCopyReason,
  type CopyCallContext,
  type PermanentCopyFailure,
} from '../shared/copy/permanent-errors';
import { PipelineError } from '../shared/errors';
import type { Logger } from '../shared/runtime/logger';
import type { RuntimeSettings } from '../shared/contracts/settings';

/** The only direct invocation the copy function accepts. */
export const probeRequestSchema = z.object({ kind: z.literal('probe') }).strict();
export type ProbeRequest = z.output<typeof probeRequestSchema>;

/** Folder, under the destination prefix, that receives probe objects. */
export const PROBE_FOLDER = '_preflight';
/** Run id the key template's `{runId}` resolves to for a probe. */
export const PROBE_RUN_ID = 'preflight';

/** What the probe returns as the invocation result. */
export const probeResultSchema = z.object({
  /** True when the object was written (and, with a client key, the multipart write too). */
  ok: z.boolean(),
  /** Access point ARN or bucket name the object was written through. */
  bucket: z.string(),
  key: z.string(),
  /** Who wrote it: the copy function's role. */
  principal: z.string(),
  expectedBucketOwner: z.string(),
  kmsKeyArn: z.string().optional(),
  aclMode: z.string(),
  /** Which write was tried last: the single PutObject, or the multipart upload (client key only). */
  step: z.enum(['put', 'multipart']),
  /** Why it failed: the AWS error explained, naming the policy that must allow the call. */
  error: z.string().optional(),
  /** AccessDenied, NoSuchBucket, KmsDenied, WrongBucketOwner, or Other for anything a retry may fix. */
  reason: z.string().optional(),
  /** The policies that must allow the call, in the order to check them. */
  policies: z.array(z.string()).optional(),
});
export type ProbeResult = z.output<typeof probeResultSchema>;

/** A direct invocation that is not a probe request. */
export class ProbeRequestRejected extends PipelineError {
  public override readonly name = 'ProbeRequestRejected';
}

/** What the probe needs: a subset of the copy stage's dependencies. */
export interface ProbeDeps {
  readonly settings: RuntimeSettings;
  readonly s3: S3Client;
  readonly principal: () => Promise<string>;
  readonly logger: Logger;
}

/** Options for deterministic keys in tests. */
export interface ProbeOptions {
  readonly now?: () => Date;
  /** Random suffix of the key. @default 8 hex characters */
  readonly id?: string;
}

/** True for what SNS delivers (`{ Records: [...] }`); everything else is a direct invocation. */
export function isSnsEvent(event: unknown): event is { Records: unknown[] } {
  return typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records);
}

/** Validates a direct invocation; anything but `{ "kind": "probe" }` is rejected with a message saying what is accepted. */
export function parseProbeRequest(event: unknown): ProbeRequest {
  const parsed = probeRequestSchema.safeParse(event);
  if (parsed.success) return parsed.data;
  const shown = JSON.stringify(event) ?? String(event);
  throw new ProbeRequestRejected(
    `the copy function accepts SNS events from the pipeline topic, or a direct invocation with exactly {"kind":"probe"}; got ${shown.slice(0, 200)}`,
  );
}

/** Key of a probe object: `<prefix for a 'preflight' run of the first cluster>/_preflight/<timestamp>-<random>.txt`. */
export function probeKey(settings: RuntimeSettings, now: Date, id: string): string {
  const cluster = settings.sourceClusters[0]?.identifier ?? 'cluster';
  const prefix = destinationPrefix(settings.destination.keyPrefixTemplate, {
    cluster,
    snapshotTime: now,
    runId: PROBE_RUN_ID,
  });
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return `${prefix ? `${prefix}/` : ''}${PROBE_FOLDER}/${stamp}-${id}.txt`;
}

/** Writes the probe object as the copy function; never throws for an S3 refusal, which it reports instead. */
export async function runProbe(deps: ProbeDeps, options: ProbeOptions = {}): Promise<ProbeResult> {
  const s = deps.settings;
  const d = s.destination;
  const bucket = d.accessPointArn ?? (d.bucket as string);
  const now = (options.now ?? (() => new Date()))();
  const key = probeKey(s, now, options.id ?? randomBytes(4).toString('hex'));
  const principal = await deps.principal();
  const base = {
    bucket,
    key,
    principal,
    expectedBucketOwner: d.expectedOwnerAccountId,
    aclMode: d.aclMode,
    ...(d.kmsKeyArn ? { kmsKeyArn: d.kmsKeyArn } : {}),
  };
  const body = `Write probe from ${s.namePrefix} (${now.toISOString()}). The copy role cannot delete it; expire ${PROBE_FOLDER}/ with a lifecycle rule.\n`;
  const write: DestinationObjectTarget = {
    bucket,
    key,
    contentType: 'text/plain',
    expectedOwner: d.expectedOwnerAccountId,
    kmsKeyArn: d.kmsKeyArn,
    bucketOwnerFullControl: d.aclMode === 'bucket-owner-full-control',
  };

  let step: ProbeResult['step'] = 'put';
  try {
    await putDestinationObject(deps.s3, { ...write, body });
    if (d.kmsKeyArn) {
      step = 'multipart';
      await multipartWrite(deps.s3, write, body);
    }
  } catch (e) {
    const failure = destinationOnly(classifyCopyError(e, callContext(s, bucket, key, principal)), s, key);
    const raw = e as { name?: string; message?: string };
    const error =
      failure?.message ??
      `${step === 'put' ? 'PutObject' : 'the multipart upload'} of ${key} to ${bucket} failed: ${raw?.name ?? 'Error'}: ${raw?.message ?? String(e)}`;
    deps.logger.warn('destination probe failed', { key, bucket, step, error });
    return {
      ...base,
      ok: false,
      step,
      error,
      reason: failure?.reason ?? 'Other',
      ...(failure ? { policies: [...failure.policies] } : {}),
    };
  }
  deps.logger.info('destination probe written', { key, bucket, step });
  return { ...base, ok: true, step };
}

/**
 * A probe only writes to the destination, so a KMS refusal is about the client's key even when AWS names
 * kms:Decrypt (which the classifier otherwise reads as decrypting our export).
 */
function destinationOnly(
  failure: PermanentCopyFailure | undefined,
  s: RuntimeSettings,
  key: string,
): PermanentCopyFailure | undefined {
  const clientKey = s.destination.kmsKeyArn;
  if (failure?.reason !== PermanentCopyReason.KMS_DENIED || !clientKey || failure.resource === s.exportKmsKeyArn)
    return failure;
  const policies = [
    `the key policy of the client's KMS key ${clientKey} (kms:GenerateDataKey and kms:Decrypt)`,
    `the copy function's role policy`,
  ];
  return {
    ...failure,
    resource: clientKey,
    policies,
    message: `${failure.action} by ${failure.principal} on ${clientKey} was denied while writing ${key} to the destination: ${policies.join(', and ')} must allow it.`,
  };
}

function callContext(s: RuntimeSettings, bucket: string, key: string, principal: string): CopyCallContext {
  return {
    action: 's3:PutObject',
    side: 'destination',
    key,
    principal,
    destination: {
      bucketOrAccessPoint: bucket,
      ownerAccountId: s.destination.expectedOwnerAccountId,
      kmsKeyArn: s.destination.kmsKeyArn,
    },
    source: { bucket: s.exportBucket, ownerAccountId: s.accountId, kmsKeyArn: s.exportKmsKeyArn },
  };
}

/** A one-part multipart upload with the same write options, as a large manifest is written; aborted when it fails. */
async function multipartWrite(s3: S3Client, target: DestinationObjectTarget, body: string): Promise<void> {
  const writer = new DestinationTextWriter(s3, target, 1);
  try {
    await writer.write(body);
    await writer.end();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

/** Handles a direct invocation: validates it, then probes. */
export function makeProbeHandler(
  deps: ProbeDeps,
  options: ProbeOptions = {},
): (event: unknown) => Promise<ProbeResult> {
  return async (event) => {
    try {
      parseProbeRequest(event);
    } catch (e) {
      deps.logger.warn('rejected a direct invocation', { error: (e as Error).message });
      throw e;
    }
    return runProbe(deps, options);
  };
}
