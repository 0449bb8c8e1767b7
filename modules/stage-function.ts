import { Construct } from 'constructs';
import { TerraformAsset, AssetType, type ITerraformDependable } from 'cdktf';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { IamPolicy } from '@cdktf/provider-aws/lib/iam-policy';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { LambdaFunction } from '@cdktf/provider-aws/lib/lambda-function';
import { LambdaFunctionEventInvokeConfig } from '@cdktf/provider-aws/lib/lambda-function-event-invoke-config';
import { LambdaPermission } from '@cdktf/provider-aws/lib/lambda-permission';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue';
import type { StageFunction as StageFunctionName } from '../lambdas/shared/domain/run';
import { SETTINGS_ENV_VAR } from '../lambdas/shared/contracts/settings';
import { AWS_LIMITS, type LimitChecks } from './aws-limits';
import type { AwsContext } from './aws-context';
import { allow, jsonExpression, policyDocument, policyJson, serviceTrustPolicy, type Statement } from './iam';
import { LAMBDA_HANDLER, type LambdaZip } from './lambda-bundle';
import { layoutPolicies } from './policy-layout';

/**
 * Timeout of the copy function: Lambda's longest (900 s). A copy worker time-boxes itself (it stops taking
 * objects a minute before the end and hands its batch on), so the longer the invocation, the fewer hand-offs.
 */
export const COPY_TIMEOUT_SECONDS = 900;

/** Props of {@link StageFunction}. */
export interface StageFunctionProps {
  readonly namePrefix: string;
  /** Where the ARNs the role's policies name are built (from names, so they are known at plan). */
  readonly aws: AwsContext;
  /** The stage this function runs; also the value of the `target` attribute it listens to. */
  readonly stage: StageFunctionName;
  /** The bundled handler, with the packaged settings file beside it. */
  readonly code: LambdaZip;
  /** JSON of the deployed part of the runtime settings (`PIPELINE_SETTINGS`). */
  readonly settingsJson: string;
  /** Where sizes are checked against AWS limits (environment, package, policies, filter policies). */
  readonly limits: LimitChecks;
  /** What in the configuration makes the role's policies grow, for a limit error. @default none named */
  readonly policyGrowth?: string;
  /** The stage's own statements (RDS, S3, table, topics...); logs and the dead-letter queue are added here. */
  readonly statements: readonly Statement[];
  /** Key the dead-letter queue and the log group are encrypted with (its policy must admit CloudWatch Logs). */
  readonly kmsKeyArn: string;
  readonly logRetentionDays: number;
  /** @default 512 */
  readonly memoryMiB?: number;
  /** @default 300 */
  readonly timeoutSeconds?: number;
  /**
   * Executions reserved for this function, which are also the most it may run at once: bounds a fan-out so
   * it neither starves the account's other functions nor outruns what its targets take. @default unreserved
   */
  readonly reservedConcurrency?: number;
  /** The RDS events topic and the event ids (`RDS-EVENT-NNNN`) that wake this stage. @default not subscribed */
  readonly rdsEvents?: { readonly topicArn: string; readonly eventIds: readonly string[] };
  /** The internal pipeline topic; the subscription admits messages whose `target` is this stage. @default not subscribed */
  readonly pipelineTopicArn?: string;
  /** Async retries before an event goes to the dead-letter queue. @default 2 */
  readonly maxRetryAttempts?: number;
}

/** Dead-letter messages are kept for the longest time SQS allows. */
const DLQ_RETENTION_SECONDS = 14 * 24 * 3600;

/**
 * One stage of the pipeline: a Node.js 22 Lambda, actively traced, with its own role (exactly the stage's
 * statements, its log group, its dead-letter queue, its trace writes), its own encrypted log group with
 * retention, SNS subscriptions whose filter policies let through only this stage's events, and failed async
 * invocations parked in an encrypted dead-letter queue.
 */
export class StageFunction extends Construct {
  public readonly role: IamRole;
  /** The role's ARN built from its name: known at plan, for the policies that name it. */
  public readonly roleArn: string;
  public readonly function: LambdaFunction;
  public readonly logGroup: CloudwatchLogGroup;
  public readonly deadLetterQueue: SqsQueue;
  public readonly functionName: string;
  /** The package deployed: the bundled handler and the packaged settings file. */
  public readonly code: LambdaZip;
  private readonly limits: LimitChecks;

  constructor(scope: Construct, id: string, props: StageFunctionProps) {
    super(scope, id);
    const name = `${props.namePrefix}-${props.stage}`;
    this.functionName = name;
    this.limits = props.limits;
    this.code = props.code;

    // The name Lambda logs to by default: created here first, so it has a retention, is encrypted with the
    // pipeline key, and nothing else makes it.
    this.logGroup = new CloudwatchLogGroup(this, 'logs', {
      name: `/aws/lambda/${name}`,
      retentionInDays: props.logRetentionDays,
      kmsKeyId: props.kmsKeyArn,
    });
    this.deadLetterQueue = new SqsQueue(this, 'dlq', {
      name: `${name}-dlq`,
      kmsMasterKeyId: props.kmsKeyArn,
      messageRetentionSeconds: DLQ_RETENTION_SECONDS,
    });

    this.role = new IamRole(this, 'role', {
      name,
      description: `Runs the ${props.stage} stage of ${props.namePrefix}`,
      assumeRolePolicy: serviceTrustPolicy('lambda.amazonaws.com'),
    });
    this.roleArn = props.aws.iamRole(name);
    const statements = [
      allow(
        'WriteOwnLogs',
        ['logs:CreateLogStream', 'logs:PutLogEvents'],
        [`${props.aws.logGroup(`/aws/lambda/${name}`)}:*`],
      ),
      allow('ParkFailedEvents', ['sqs:SendMessage'], [props.aws.sqsQueue(`${name}-dlq`)]),
      // Active tracing: Lambda's X-Ray daemon uploads the function's segments with the execution role. The
      // two actions have no resource type, so they stand on "*", bound to the function's region. Not the
      // AWS-managed AWSXRayDaemonWriteAccess: it adds the sampling-rule reads (Lambda decides sampling itself),
      // is unconditioned, and would take one of the role's managed-policy slots the policy layout may need.
      allow('WriteTraces', ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*'], {
        StringEquals: { 'aws:RequestedRegion': props.aws.region },
      }),
      ...props.statements,
    ];
    const permissions = this.grant(statements, props);

    const variables = { [SETTINGS_ENV_VAR]: props.settingsJson };
    // Written as a jsonencode(...) expression, as the policies are: the JSON with its references is valid HCL.
    const environment = { [SETTINGS_ENV_VAR]: jsonExpression(JSON.parse(props.settingsJson)) };
    props.limits.check(
      AWS_LIMITS.lambdaEnvironment,
      `the ${props.stage} function's environment`,
      props.limits.resolvedSize(JSON.stringify(variables), 'bytes'),
    );
    props.limits.check(AWS_LIMITS.lambdaZippedPackage, `the ${props.stage} function's package`, props.code.sizeBytes);
    props.limits.check(
      AWS_LIMITS.lambdaUnzippedPackage,
      `the ${props.stage} function's unpacked package`,
      props.code.unzippedSizeBytes,
    );
    const asset = new TerraformAsset(this, 'code', {
      path: props.code.zipPath,
      type: AssetType.FILE,
      assetHash: props.code.sha256Hex,
    });
    this.function = new LambdaFunction(this, 'function', {
      functionName: name,
      description: `Aurora export pipeline: ${props.stage} stage`,
      role: this.role.arn,
      runtime: 'nodejs22.x',
      architectures: ['arm64'],
      handler: LAMBDA_HANDLER,
      filename: asset.path,
      sourceCodeHash: props.code.sourceCodeHash,
      memorySize: props.memoryMiB ?? 512,
      timeout: props.timeoutSeconds ?? 300,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: { variables: environment },
      // Lambda opens a trace segment for each sampled invocation; the handler and SDK calls add subsegments.
      tracingConfig: { mode: 'Active' },
      dependsOn: [this.logGroup, ...permissions],
    });

    new LambdaFunctionEventInvokeConfig(this, 'async', {
      functionName: this.function.functionName,
      maximumRetryAttempts: props.maxRetryAttempts ?? 2,
      destinationConfig: { onFailure: { destination: this.deadLetterQueue.arn } },
      // Lambda checks the role may send to the queue when the destination is set.
      dependsOn: permissions,
    });

    if (props.rdsEvents && props.rdsEvents.eventIds.length > 0) {
      this.subscribe('rds-events', props.rdsEvents.topicArn, 'MessageBody', {
        'Event ID': props.rdsEvents.eventIds.map((eventId) => ({ suffix: `#${eventId}` })),
      });
    }
    if (props.pipelineTopicArn) {
      this.subscribe('pipeline', props.pipelineTopicArn, 'MessageAttributes', { target: [props.stage] });
    }
  }

  /**
   * Gives the role its statements: in its inline policy while they fit, and past IAM's inline limit in managed
   * policies (`<function>-stage-part-N`), each checked against IAM's limits. Returns what the function must
   * wait for before it runs.
   */
  private grant(statements: readonly Statement[], props: StageFunctionProps): ITerraformDependable[] {
    const subject = `the ${props.stage} function's role (${this.functionName})`;
    const sizeOf = (json: string) => this.limits.resolvedSize(json, 'characters without whitespace');
    const layout = layoutPolicies(statements, {
      inlineMax: AWS_LIMITS.roleInlinePolicies.max,
      managedMax: AWS_LIMITS.managedPolicySize.max,
      sizeOf,
    });
    const inline = new IamRolePolicy(this, 'policy', {
      name: `${props.stage}-stage`,
      role: this.role.name,
      policy: policyDocument(layout.inline),
    });
    this.limits.check(AWS_LIMITS.roleInlinePolicies, subject, sizeOf(policyJson(layout.inline)), props.policyGrowth);
    this.limits.check(AWS_LIMITS.managedPoliciesPerRole, subject, layout.managed.length, props.policyGrowth);
    const attachments = layout.managed.map((doc, i) => {
      const part = i + 2;
      this.limits.check(
        AWS_LIMITS.managedPolicySize,
        `part ${part} of ${subject}'s permissions`,
        sizeOf(policyJson(doc)),
        props.policyGrowth,
      );
      const managed = new IamPolicy(this, `policy-part-${part}`, {
        name: `${this.functionName}-stage-part-${part}`,
        description: `Part ${part} of the ${props.stage} stage's permissions (part 1 is the role's inline policy)`,
        policy: policyDocument(doc),
      });
      return new IamRolePolicyAttachment(this, `policy-part-${part}-attachment`, {
        role: this.role.name,
        policyArn: managed.arn,
      });
    });
    return [inline, ...attachments];
  }

  /** An SNS subscription with its filter policy, and the permission for SNS to invoke the function. */
  private subscribe(
    id: string,
    topicArn: string,
    scope: 'MessageBody' | 'MessageAttributes',
    filter: Record<string, unknown>,
  ): void {
    const filterPolicy = JSON.stringify(filter);
    const subject = `the filter policy of ${this.functionName}'s ${id} subscription`;
    this.limits.check(AWS_LIMITS.snsFilterPolicySize, subject, Buffer.byteLength(filterPolicy));
    this.limits.check(AWS_LIMITS.snsFilterPolicyKeys, subject, filterPolicyKeys(filter));
    this.limits.check(AWS_LIMITS.snsFilterPolicyCombinations, subject, filterPolicyCombinations(filter));
    const permission = new LambdaPermission(this, `${id}-invoke`, {
      statementId: `sns-${id}`,
      action: 'lambda:InvokeFunction',
      functionName: this.function.functionName,
      principal: 'sns.amazonaws.com',
      sourceArn: topicArn,
    });
    new SnsTopicSubscription(this, `${id}-subscription`, {
      topicArn,
      protocol: 'lambda',
      endpoint: this.function.arn,
      filterPolicyScope: scope,
      filterPolicy,
      dependsOn: [permission],
    });
  }
}

/** Keys of a filter policy, nested keys included (SNS counts every key of a message body policy). */
export function filterPolicyKeys(filter: Readonly<Record<string, unknown>>): number {
  return Object.values(filter).reduce<number>(
    (sum, v) => sum + 1 + (isNested(v) ? filterPolicyKeys(v as Record<string, unknown>) : 0),
    0,
  );
}

/** SNS's complexity measure of a filter policy: the product of the number of values in each array. */
export function filterPolicyCombinations(filter: Readonly<Record<string, unknown>>): number {
  return Object.values(filter).reduce<number>(
    (product, v) =>
      product *
      (Array.isArray(v)
        ? Math.max(v.length, 1)
        : isNested(v)
          ? filterPolicyCombinations(v as Record<string, unknown>)
          : 1),
    1,
  );
}

function isNested(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
