import { Construct } from 'constructs';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import type { AwsContext } from './aws-context';
import { policyDocument } from './iam';

/** Props of {@link ExportBucket}. */
export interface ExportBucketProps {
  readonly namePrefix: string;
  readonly aws: AwsContext;
  /** Key every object is encrypted with (SSE-KMS, bucket key on). */
  readonly kmsKeyArn: string;
  /** Key prefix the exports land under. */
  readonly exportPrefix: string;
  /** Days after which an export expires. */
  readonly retentionDays: number;
  /** Days after which an unfinished multipart upload is aborted. @default 1 */
  readonly abortIncompleteUploadDays?: number;
}

/**
 * Our own bucket that RDS exports into (an access point cannot be an export target). Private, owner-enforced,
 * KMS-encrypted, TLS-only, and it forgets exports after the retention period.
 */
export class ExportBucket extends Construct {
  public readonly bucket: S3Bucket;
  public readonly bucketName: string;
  public readonly bucketArn: string;
  public readonly exportPrefix: string;
  /** Every object under the export prefix: what the export role writes and the stages read. */
  public readonly exportObjectsArn: string;

  constructor(scope: Construct, id: string, props: ExportBucketProps) {
    super(scope, id);
    const { aws } = props;
    this.exportPrefix = props.exportPrefix;
    this.bucket = new S3Bucket(this, 'bucket', {
      bucket: `${props.namePrefix}-exports-${aws.accountId}-${aws.region}`,
      forceDestroy: false,
    });
    this.bucketName = this.bucket.bucket;
    // Built from the name (known at plan), so every policy naming the bucket is known in the first plan.
    this.bucketArn = aws.s3(`${props.namePrefix}-exports-${aws.accountId}-${aws.region}`);
    this.exportObjectsArn = `${this.bucketArn}/${props.exportPrefix}/*`;

    const publicAccess = new S3BucketPublicAccessBlock(this, 'public-access', {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, 'ownership', {
      bucket: this.bucket.id,
      rule: { objectOwnership: 'BucketOwnerEnforced' },
    });
    new S3BucketServerSideEncryptionConfigurationA(this, 'encryption', {
      bucket: this.bucket.id,
      rule: [
        {
          applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: props.kmsKeyArn },
          bucketKeyEnabled: true,
        },
      ],
    });
    new S3BucketLifecycleConfiguration(this, 'lifecycle', {
      bucket: this.bucket.id,
      rule: [
        {
          id: 'expire-exports',
          status: 'Enabled',
          filter: [{ prefix: `${props.exportPrefix}/` }],
          expiration: [{ days: props.retentionDays }],
        },
        {
          id: 'abort-incomplete-multipart-uploads',
          status: 'Enabled',
          filter: [{ prefix: '' }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: props.abortIncompleteUploadDays ?? 1 }],
        },
      ],
    });
    new S3BucketPolicy(this, 'policy', {
      bucket: this.bucket.id,
      policy: policyDocument([
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [this.bucketArn, `${this.bucketArn}/*`],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ]),
      // A bucket policy put before the public access block could be judged public and refused.
      dependsOn: [publicAccess],
    });
  }
}
