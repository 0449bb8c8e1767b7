import { Construct } from 'constructs';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition';
import { DataAwsRegion } from '@cdktf/provider-aws/lib/data-aws-region';

/** Props of {@link AwsContext}. */
export interface AwsContextProps {
  /**
   * A literal account id instead of the `aws_caller_identity` data source. Only for offline plans, where no
   * STS endpoint answers; a deployment reads the account from its credentials.
   * @default the account of the credentials Terraform runs with
   */
  readonly accountId?: string;
}

/**
 * Partition, region and account of the deployment, read by Terraform (never hard-coded), and builders for
 * the ARNs the pipeline's policies name. Data sources are read at plan, so an ARN built here from a name the
 * stack chooses is known in the first plan, where the `arn` attribute of a resource not yet created is not.
 */
export class AwsContext extends Construct {
  public readonly partition: string;
  public readonly region: string;
  public readonly accountId: string;

  constructor(scope: Construct, id: string, props: AwsContextProps = {}) {
    super(scope, id);
    this.partition = new DataAwsPartition(this, 'partition').partition;
    this.region = new DataAwsRegion(this, 'region').name;
    this.accountId = props.accountId ?? new DataAwsCallerIdentity(this, 'caller').accountId;
  }

  /** `arn:<partition>:<service>:<region>:<account>:<resource>`. */
  public arn(service: string, resource: string): string {
    return `arn:${this.partition}:${service}:${this.region}:${this.accountId}:${resource}`;
  }

  /** ARN of an RDS resource in this account and region, e.g. `cluster:my-cluster`. */
  public rds(resource: string): string {
    return this.arn('rds', resource);
  }

  /** ARN of an S3 bucket, or of objects under it when `objects` is given. */
  public s3(bucket: string, objects?: string): string {
    return `arn:${this.partition}:s3:::${bucket}${objects === undefined ? '' : `/${objects}`}`;
  }

  /** ARN of an IAM role of this account, built from its name (path `/`). */
  public iamRole(name: string): string {
    return `arn:${this.partition}:iam::${this.accountId}:role/${name}`;
  }

  /** ARN of a CloudWatch Logs log group of this account and region, built from its name. */
  public logGroup(name: string): string {
    return this.arn('logs', `log-group:${name}`);
  }

  /** ARN of an SQS queue of this account and region, built from its name. */
  public sqsQueue(name: string): string {
    return this.arn('sqs', name);
  }

  /** ARN of an SNS topic of this account and region, built from its name. */
  public snsTopic(name: string): string {
    return this.arn('sns', name);
  }

  /** ARN of a DynamoDB table of this account and region, built from its name. */
  public dynamodbTable(name: string): string {
    return this.arn('dynamodb', `table/${name}`);
  }

  /** Every KMS key of this account and region: a key's id is random, so policies narrow this by its alias. */
  public get kmsKeys(): string {
    return this.arn('kms', 'key/*');
  }

  /** The account root principal, `arn:<partition>:iam::<account>:root`. */
  public get rootPrincipal(): string {
    return `arn:${this.partition}:iam::${this.accountId}:root`;
  }
}
