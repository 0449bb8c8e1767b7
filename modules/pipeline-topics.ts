import { Construct } from 'constructs';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import type { AwsContext } from './aws-context';
import { allow, policyDocument, type Statement } from './iam';

/** Props of {@link PipelineTopics}. */
export interface PipelineTopicsProps {
  readonly namePrefix: string;
  readonly aws: AwsContext;
  /** Key every topic is encrypted with. */
  readonly kmsKeyArn: string;
  /** Addresses subscribed to the alerts topic. @default none */
  readonly alertEmails?: readonly string[];
  /** An existing topic that also receives alerts (alarms and the functions' messages). @default none */
  readonly extraAlertTopicArn?: string;
}

function denyInsecurePublish(topicArn: string): Statement {
  return {
    Sid: 'DenyInsecureTransport',
    Effect: 'Deny',
    Principal: '*',
    Action: 'sns:Publish',
    Resource: topicArn,
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  };
}

/**
 * The three topics of the pipeline, all KMS-encrypted:
 * - RDS events: fed by the RDS event subscriptions; only RDS acting for this account may publish;
 * - pipeline: internal messages between stages (message attribute `target` names the stage);
 * - alerts: alarms and the functions' failure/success messages, with the configured email subscriptions.
 */
export class PipelineTopics extends Construct {
  public readonly rdsEvents: SnsTopic;
  public readonly pipeline: SnsTopic;
  public readonly alerts: SnsTopic;
  /** Every topic alerts go to: ours, plus the configured existing topic. */
  public readonly alertTopicArns: string[];
  /** The RDS events topic's policy; RDS checks it when the event subscription is created. */
  public readonly rdsEventsPolicy: SnsTopicPolicy;
  /** ARNs of the pipeline and alert topics built from their names, for the policies that name them. */
  private readonly builtArns: { readonly pipeline: string; readonly alerts: readonly string[] };

  constructor(scope: Construct, id: string, props: PipelineTopicsProps) {
    super(scope, id);
    const { aws, namePrefix } = props;
    const topic = (name: string, displayName: string) =>
      new SnsTopic(this, name, { name: `${namePrefix}-${name}`, displayName, kmsMasterKeyId: props.kmsKeyArn });
    this.rdsEvents = topic('rds-events', 'Aurora export: RDS events');
    this.pipeline = topic('pipeline', 'Aurora export: pipeline messages');
    this.alerts = topic('alerts', 'Aurora export: alerts');
    // Policies name the topics by ARNs built from their names: known at plan, unlike the topics' `arn`.
    const arnOf = (name: string) => aws.snsTopic(`${namePrefix}-${name}`);
    const rdsEventsArn = arnOf('rds-events');
    const pipelineArn = arnOf('pipeline');
    const alertsArn = arnOf('alerts');

    this.rdsEventsPolicy = new SnsTopicPolicy(this, 'rds-events-policy', {
      arn: this.rdsEvents.arn,
      policy: policyDocument([
        {
          Sid: 'RdsEventsFromThisAccountOnly',
          Effect: 'Allow',
          Principal: { Service: 'events.rds.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: rdsEventsArn,
          Condition: { StringEquals: { 'aws:SourceAccount': aws.accountId } },
        },
        denyInsecurePublish(rdsEventsArn),
      ]),
    });
    new SnsTopicPolicy(this, 'pipeline-policy', {
      arn: this.pipeline.arn,
      policy: policyDocument([denyInsecurePublish(pipelineArn)]),
    });
    new SnsTopicPolicy(this, 'alerts-policy', {
      arn: this.alerts.arn,
      policy: policyDocument([
        {
          Sid: 'AlarmsFromThisAccountOnly',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: alertsArn,
          Condition: {
            StringEquals: { 'aws:SourceAccount': aws.accountId },
            ArnLike: { 'aws:SourceArn': aws.arn('cloudwatch', 'alarm:*') },
          },
        },
        denyInsecurePublish(alertsArn),
      ]),
    });
    (props.alertEmails ?? []).forEach((email) => {
      new SnsTopicSubscription(this, `alert-email-${email}`, {
        topicArn: this.alerts.arn,
        protocol: 'email',
        endpoint: email,
      });
    });
    const extra = props.extraAlertTopicArn ? [props.extraAlertTopicArn] : [];
    this.alertTopicArns = [this.alerts.arn, ...extra];
    this.builtArns = { pipeline: pipelineArn, alerts: [alertsArn, ...extra] };
  }

  /** Publishing to the pipeline topic and/or the alert topics; the KMS side is granted by the caller. */
  public grantPublish(
    sid: string,
    targets: { readonly pipeline: boolean; readonly alerts: boolean },
  ): Statement | undefined {
    const arns = [
      ...(targets.pipeline ? [this.builtArns.pipeline] : []),
      ...(targets.alerts ? this.builtArns.alerts : []),
    ];
    return arns.length > 0 ? allow(sid, ['sns:Publish'], arns) : undefined;
  }
}
