import { Construct } from 'constructs';
import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import type { AwsContext } from './aws-context';
import { policyJson, type Statement } from './iam';

/** Props of {@link PipelineKey}. */
export interface PipelineKeyProps {
  readonly namePrefix: string;
  readonly aws: AwsContext;
}

/** Who may use the key, given once every role exists (see {@link PipelineKey.applyPolicy}). */
export interface PipelineKeyUsers {
  /** Every stage function role: they publish to encrypted topics and send to encrypted dead-letter queues. */
  readonly functionRoleArns: readonly string[];
  /** Roles that call StartExportTask with this key: RDS creates a grant with their permissions. */
  readonly exportStarterRoleArns: readonly string[];
  /** The role export.rds.amazonaws.com assumes to write the export. */
  readonly exportRoleArn: string;
}

/**
 * What CloudWatch Logs does with the key of an encrypted log group, under the condition on the log group's
 * encryption context. DescribeKey takes no encryption context, so that condition could never allow it: it is left
 * out rather than granted in a statement that cannot match.
 */
export const LOGS_KEY_ACTIONS = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
] as const;

/** The encryption context key CloudWatch Logs sets to the ARN of the log group it encrypts for. */
export const LOGS_ENCRYPTION_CONTEXT_KEY = 'kms:EncryptionContext:aws:logs:arn';

/** ARN pattern of the pipeline's log groups: `/aws/lambda/<namePrefix>-*` in this account and region. */
export function pipelineLogGroupArnPattern(aws: AwsContext, namePrefix: string): string {
  return aws.arn('logs', `log-group:/aws/lambda/${namePrefix}-*`);
}

/** The encryption context key SNS sets to the ARN of the topic a message is encrypted for. */
export const SNS_ENCRYPTION_CONTEXT_KEY = 'kms:EncryptionContext:aws:sns:topicArn';

/** ARN pattern of the pipeline's topics: `<namePrefix>-*` in this account and region. */
export function pipelineTopicArnPattern(aws: AwsContext, namePrefix: string): string {
  return aws.arn('sns', `${namePrefix}-*`);
}

/**
 * The customer-managed key of the pipeline: it encrypts the export (RDS requires a customer-managed key),
 * the export bucket, the run table, the topics, the dead-letter queues and the functions' log groups. Rotation is on; the key policy
 * names each kind of user with only the actions it needs.
 */
export class PipelineKey extends Construct {
  public readonly key: KmsKey;
  public readonly keyArn: string;
  private readonly props: PipelineKeyProps;

  constructor(scope: Construct, id: string, props: PipelineKeyProps) {
    super(scope, id);
    this.props = props;
    this.key = new KmsKey(this, 'key', {
      description: `${props.namePrefix}: Aurora snapshot exports, run table, topics, queues and logs`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      policy: policyJson(this.baseStatements()),
    });
    this.keyArn = this.key.arn;
    new KmsAlias(this, 'alias', { name: `alias/${props.namePrefix}`, targetKeyId: this.key.keyId });
  }

  /** Completes the key policy with the pipeline's roles, once they exist. */
  public applyPolicy(users: PipelineKeyUsers): void {
    this.key.policy = policyJson([...this.baseStatements(), ...this.roleStatements(users)]);
  }

  private baseStatements(): Statement[] {
    const { aws } = this.props;
    return [
      {
        // AWS's default key policy statement: the account principal gets every KMS action on the key, which
        // hands the key to IAM. Without it the key cannot be aliased, rotated, re-policied or deleted through
        // IAM (an alias needs kms:CreateAlias on the key in the key policy or in IAM delegated by it), and data
        // use by the deployer and operators is still decided by their own IAM policies.
        Sid: 'EnableIamPolicies',
        Effect: 'Allow',
        Principal: { AWS: aws.rootPrincipal },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        // CloudWatch Logs encrypts the stage functions' log groups, and only those: the encryption context
        // it sends names the log group, which must be one of this pipeline's in this account and region.
        Sid: 'CloudWatchLogsEncryptsPipelineLogs',
        Effect: 'Allow',
        Principal: { Service: `logs.${aws.region}.amazonaws.com` },
        Action: [...LOGS_KEY_ACTIONS],
        Resource: '*',
        Condition: {
          ArnLike: { [LOGS_ENCRYPTION_CONTEXT_KEY]: pipelineLogGroupArnPattern(aws, this.props.namePrefix) },
        },
      },
      {
        // RDS event notifications and CloudWatch alarm actions publish to the encrypted topics, and only to
        // this pipeline's: SNS names the topic in the encryption context of every data key it asks for.
        Sid: 'ServicesPublishToEncryptedTopics',
        Effect: 'Allow',
        Principal: { Service: ['events.rds.amazonaws.com', 'cloudwatch.amazonaws.com'] },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: '*',
        Condition: { ArnLike: { [SNS_ENCRYPTION_CONTEXT_KEY]: pipelineTopicArnPattern(aws, this.props.namePrefix) } },
      },
    ];
  }

  /**
   * No statement names export.rds.amazonaws.com: AWS documents that the caller of StartExportTask needs
   * kms:CreateGrant and kms:DescribeKey on the key (RDS uses the key through a grant made with the caller's
   * permissions), and that the export role writes to S3; it documents no use of the key by the service as itself.
   */
  private roleStatements(users: PipelineKeyUsers): Statement[] {
    return [
      {
        Sid: 'PipelineRolesUseKey',
        Effect: 'Allow',
        Principal: { AWS: [...users.functionRoleArns, users.exportRoleArn] },
        Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: '*',
      },
      {
        Sid: 'ExportStartersGrantToRds',
        Effect: 'Allow',
        Principal: { AWS: [...users.exportStarterRoleArns] },
        Action: ['kms:CreateGrant'],
        Resource: '*',
        Condition: { Bool: { 'kms:GrantIsForAWSResource': true } },
      },
    ];
  }
}
