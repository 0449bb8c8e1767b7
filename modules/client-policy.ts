/**
 * The statements the client must add on their side so that our copy role can deliver exports: on their
 * access point policy, on the bucket behind it (delegation to the access point), and on their KMS key.
 *
 * Pure: no cdktf, no AWS SDK. The copy role ARN is placed verbatim, so a Terraform token (e.g. the role's
 * `arn` attribute) works as well as a literal ARN; that is how the stack's output and the operator CLI's
 * `client-policy` command share one source.
 */
import type { PipelineConfig } from '../config/schema';

/** One IAM policy statement as it appears in a resource policy. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow';
  readonly Principal: { readonly AWS: string };
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** A policy document ready to merge into the client's existing policy. */
export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly PolicyStatement[];
}

/** What the client adds, per resource, plus short notes a human needs to apply it. */
export interface ClientPolicyStatements {
  /** Statements for the access point policy; absent when the destination is a bucket without access point. */
  readonly accessPointPolicy?: PolicyDocument;
  /** Statements for the bucket policy (delegation to the access point, or direct grants without one). */
  readonly bucketPolicy: PolicyDocument;
  /** Statements for the client's KMS key policy; absent when no destination key is configured. */
  readonly kmsKeyPolicy?: PolicyDocument;
  /** Object key prefixes (with trailing `*`) the grants are limited to. */
  readonly objectPrefixes: readonly string[];
  /** Plain-language notes: placeholders to fill in, choices made. */
  readonly notes: readonly string[];
}

/** Inputs of {@link clientPolicyStatements}. */
export interface ClientPolicyInput {
  /** The pipeline configuration (only destination, source clusters and region are read). */
  readonly config: Pick<PipelineConfig, 'destination' | 'sourceClusters' | 'region'>;
  /** ARN of our copy function's role (`<namePrefix>-copy`); a Terraform token is fine. */
  readonly copyRoleArn: string;
  /**
   * Name of the client's bucket behind the access point, when known. The access point ARN does not reveal
   * it, so without it the bucket policy carries a placeholder.
   * @default a `<bucket-behind-access-point>` placeholder
   */
  readonly destinationBucketName?: string;
}

/** Placeholder used when the bucket behind the access point is unknown. */
export const BUCKET_PLACEHOLDER = '<bucket-behind-access-point>';

const PLACEHOLDER = /\{(cluster|date|dt|runId)\}/;

/**
 * Key prefixes our copies can land under, one per source cluster: the template with `{cluster}` filled in,
 * cut at the first placeholder that changes per run (`{date}`, `{dt}`, `{runId}`), then `*`.
 */
export function destinationObjectPrefixes(keyPrefixTemplate: string, clusterIdentifiers: readonly string[]): string[] {
  // RDS reports cluster identifiers in lowercase; a configured identifier in another case gets both spellings.
  const clusters = clusterIdentifiers.flatMap((c) => (c === c.toLowerCase() ? [c] : [c, c.toLowerCase()]));
  const prefixes = clusters.map((cluster) => {
    let fixed = '';
    let rest = keyPrefixTemplate;
    for (;;) {
      const m = PLACEHOLDER.exec(rest);
      if (!m) {
        const whole = normalize(fixed + rest);
        return whole === '' || whole.endsWith('/') ? `${whole}*` : `${whole}/*`;
      }
      fixed += rest.slice(0, m.index);
      if (m[1] !== 'cluster') return `${normalize(fixed)}*`;
      fixed += cluster;
      rest = rest.slice(m.index + m[0].length);
    }
  });
  return [...new Set(prefixes)].sort();
}

/** Keys at the destination have no leading slash and no empty segment (as the copy stage writes them). */
function normalize(prefix: string): string {
  return prefix.replace(/\/+/g, '/').replace(/^\//, '');
}

function partitionOf(arn: string | undefined): string {
  const part = arn?.split(':')[1];
  return part?.startsWith('aws') ? part : 'aws';
}

function regionOf(arn: string | undefined): string | undefined {
  const region = arn?.split(':')[3];
  return region ? region : undefined;
}

function oneOrMany(values: readonly string[]): string | readonly string[] {
  return values.length === 1 ? values[0] : values;
}

/** The S3 actions our copy role needs on destination objects (CopyObject and UploadPartCopy). */
export function copyObjectActions(aclMode: PipelineConfig['destination']['aclMode']): string[] {
  const actions = ['s3:PutObject', 's3:AbortMultipartUpload'];
  if (aclMode === 'bucket-owner-full-control') actions.push('s3:PutObjectAcl');
  return actions;
}

/**
 * KMS actions on the client's key. S3 calls GenerateDataKey for every SSE-KMS write and Decrypt to
 * assemble a multipart upload (UploadPartCopy above 5 GiB); it never calls kms:Encrypt, so that is not asked.
 */
export const CLIENT_KMS_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'] as const;

/** Builds the access point, bucket and KMS key policy statements the client must add for our copy role. */
export function clientPolicyStatements(input: ClientPolicyInput): ClientPolicyStatements {
  const { destination, sourceClusters } = input.config;
  const principal = { AWS: input.copyRoleArn };
  const actions = copyObjectActions(destination.aclMode);
  const prefixes = destinationObjectPrefixes(
    destination.keyPrefixTemplate,
    sourceClusters.map((c) => c.identifier),
  );
  const partition = partitionOf(destination.accessPointArn ?? destination.kmsKeyArn);
  const notes: string[] = [];

  /** A policy of one statement granting our copy role `action` on `resources`. */
  const grant = (
    sid: string,
    action: readonly string[],
    resources: readonly string[],
    condition?: PolicyStatement['Condition'],
  ): PolicyDocument => ({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: sid,
        Effect: 'Allow',
        Principal: principal,
        Action: [...action],
        Resource: oneOrMany(resources),
        ...(condition ? { Condition: condition } : {}),
      },
    ],
  });
  const ap = destination.accessPointArn;
  const bucket = ap ? (input.destinationBucketName ?? BUCKET_PLACEHOLDER) : (destination.bucket as string);
  const bucketObjects = prefixes.map((p) => `arn:${partition}:s3:::${bucket}/${p}`);

  let accessPointPolicy: PolicyDocument | undefined;
  let bucketPolicy: PolicyDocument;
  if (ap) {
    if (!input.destinationBucketName)
      notes.push(`Replace ${BUCKET_PLACEHOLDER} with the name of the bucket behind ${ap}.`);
    accessPointPolicy = grant(
      'AuroraExportCopyWrite',
      actions,
      prefixes.map((p) => `${ap}/object/${p}`),
    );
    bucketPolicy = grant('AuroraExportCopyThroughAccessPoint', actions, bucketObjects, {
      StringEquals: { 's3:DataAccessPointArn': ap },
    });
    notes.push(
      'The bucket statement only admits requests made through the access point. A bucket that already delegates ' +
        `access control to its access points (s3:DataAccessPointAccount = ${destination.expectedOwnerAccountId}) needs no bucket statement.`,
    );
  } else {
    bucketPolicy = grant('AuroraExportCopyWrite', actions, bucketObjects);
  }

  let kmsKeyPolicy: PolicyDocument | undefined;
  if (destination.kmsKeyArn) {
    const s3Region = regionOf(destination.accessPointArn) ?? regionOf(destination.kmsKeyArn) ?? input.config.region;
    // In a key policy, Resource "*" means the key the policy is attached to.
    kmsKeyPolicy = grant('AuroraExportCopyEncrypt', CLIENT_KMS_ACTIONS, ['*'], {
      StringEquals: { 'kms:ViaService': `s3.${s3Region}.amazonaws.com` },
    });
    notes.push('In a key policy, Resource "*" means the key the policy is attached to.');
  }
  if (destination.aclMode === 'bucket-owner-full-control') {
    notes.push(
      's3:PutObjectAcl is included because aclMode is bucket-owner-full-control; with bucket-owner-enforced ownership set aclMode to none.',
    );
  }

  return {
    ...(accessPointPolicy ? { accessPointPolicy } : {}),
    bucketPolicy,
    ...(kmsKeyPolicy ? { kmsKeyPolicy } : {}),
    objectPrefixes: prefixes,
    notes,
  };
}
