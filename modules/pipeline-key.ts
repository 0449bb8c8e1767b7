import { Construct } from 'constructs';
import type { TerraformResource } from 'cdktf';
import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import type { AwsContext } from './aws-context';
import { type Condition, policyDocument, type Statement } from './iam';

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
  /**
   * The roles named above. KMS refuses a key policy naming a principal that does not exist yet, and the ARNs are
   * built from the roles' names (known at plan) rather than read from them, so the key waits for these explicitly.
   */
  readonly roles: readonly TerraformResource[];
}

/** The condition key KMS sets to the aliases of the key a request uses (an IAM policy condition on key operations). */
export const RESOURCE_ALIASES_KEY = 'kms:ResourceAliases';

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
  public readonly alias: KmsAlias;
  /** `alias/<namePrefix>`: the name identity policies know the key by. */
  public readonly aliasName: string;
  private readonly props: PipelineKeyProps;

  constructor(scope: Construct, id: string, props: PipelineKeyProps) {
    super(scope, id);
    this.props = props;
    this.key = new KmsKey(this, 'key', {
      description: `${props.namePrefix}: Aurora snapshot exports, run table, topics, queues and logs`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      policy: policyDocument(this.baseStatements()),
    });
    this.keyArn = this.key.arn;
    this.aliasName = `alias/${props.namePrefix}`;
    this.alias = new KmsAlias(this, 'alias', { name: this.aliasName, targetKeyId: this.key.keyId });
  }

  /**
   * What identity policies name as the key's resource: every key of the account and region (the key id is random,
   * so its ARN is unknown until the key exists). Statements on it are narrowed to this key by {@link scopeToKey}.
   */
  public get policyResource(): string {
    return this.props.aws.kmsKeys;
  }

  /**
   * Narrows statements naming {@link policyResource} to the key that carries this key's alias
   * (`kms:ResourceAliases`, which KMS evaluates on operations authorized for a key: Decrypt, Encrypt,
   * GenerateDataKey, DescribeKey, CreateGrant...). Other statements are returned unchanged. A statement naming the
   * key together with other resources is refused: the condition would narrow those too.
   */
  public scopeToKey(statements: readonly Statement[]): Statement[] {
    return statements.map((s) => {
      const resources = [s.Resource ?? []].flat();
      if (!resources.includes(this.policyResource)) return s;
      if (resources.length > 1)
        throw new Error(`statement ${s.Sid ?? '(no Sid)'} names the pipeline key with other resources`);
      const condition: Condition = {
        ...s.Condition,
        'ForAnyValue:StringEquals': {
          ...s.Condition?.['ForAnyValue:StringEquals'],
          [RESOURCE_ALIASES_KEY]: [this.aliasName],
        },
      };
      return { ...s, Condition: condition };
    });
  }

  /**
   * Completes the key policy with the pipeline's roles. Their ARNs are built from their names, so the policy is
   * known at plan; the key depends on the roles explicitly, as KMS rejects a principal that does not exist.
   */
  public applyPolicy(users: PipelineKeyUsers): void {
    this.key.policy = policyDocument([...this.baseStatements(), ...this.roleStatements(users)]);
    this.key.addOverride(
      'depends_on',
      users.roles.map((r) => `${r.terraformResourceType}.${r.friendlyUniqueId}`),
    );
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
