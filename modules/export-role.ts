import { Construct } from 'constructs';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import type { AwsContext } from './aws-context';
import { allow, policyDocument, serviceTrustPolicy, type Statement } from './iam';

/** Props of {@link ExportRole}. */
export interface ExportRoleProps {
  readonly namePrefix: string;
  readonly aws: AwsContext;
  readonly bucketArn: string;
  /** Objects the export may write: ExportBucket.exportObjectsArn. */
  readonly exportObjectsArn: string;
  /** What policies name the pipeline key by (PipelineKey.policyResource). */
  readonly kmsKeyArn: string;
  /** Narrows the statement on the key to the pipeline key (PipelineKey.scopeToKey). */
  readonly scopeToKey: (statements: readonly Statement[]) => Statement[];
}

/**
 * The role export.rds.amazonaws.com assumes to write an export into our bucket; it may write under the export
 * prefix only. Its trust policy has no condition: AWS documents the export role's trust policy without one and
 * does not document export.rds.amazonaws.com sending `aws:SourceAccount` or `aws:SourceArn`, and a condition on a
 * key the service does not send would fail every export at AssumeRole. Who can make RDS use the role is decided
 * by `iam:PassRole`, which only the stages that start exports hold, and only towards RDS.
 */
export class ExportRole extends Construct {
  public readonly role: IamRole;
  public readonly roleArn: string;
  /** The role's ARN built from its name: known at plan, for the policies that name it. */
  public readonly policyArn: string;

  constructor(scope: Construct, id: string, props: ExportRoleProps) {
    super(scope, id);
    const name = `${props.namePrefix}-rds-export`;
    this.role = new IamRole(this, 'role', {
      name,
      description: 'Assumed by RDS to write snapshot exports into the export bucket',
      assumeRolePolicy: serviceTrustPolicy('export.rds.amazonaws.com'),
    });
    this.roleArn = this.role.arn;
    this.policyArn = props.aws.iamRole(name);
    new IamRolePolicy(this, 'policy', {
      name: 'write-exports',
      role: this.role.name,
      // Exactly the actions the StartExportTask reference requires of an export role, limited to the export
      // prefix; the object wildcards are RDS's own list (it may tag or read back what it wrote).
      policy: policyDocument(
        props.scopeToKey([
          allow('ListAndLocateBucket', ['s3:GetBucketLocation', 's3:ListBucket'], [props.bucketArn]),
          allow('WriteExports', ['s3:DeleteObject*', 's3:GetObject*', 's3:PutObject*'], [props.exportObjectsArn]),
          allow(
            'EncryptExports',
            ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
            [props.kmsKeyArn],
          ),
        ]),
      ),
    });
  }
}
