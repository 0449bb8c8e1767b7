import { Construct } from 'constructs';
import { CloudwatchEventRule } from '@cdktf/provider-aws/lib/cloudwatch-event-rule';
import { CloudwatchEventTarget } from '@cdktf/provider-aws/lib/cloudwatch-event-target';
import { LambdaPermission } from '@cdktf/provider-aws/lib/lambda-permission';

/** Props of {@link ReconcilerSchedule}. */
export interface ReconcilerScheduleProps {
  readonly namePrefix: string;
  readonly periodMinutes: number;
  /** Name and ARN of the reconcile function. */
  readonly functionName: string;
  readonly functionArn: string;
}

/** An EventBridge `rate(...)` expression; `rate(1 minute)` is singular. */
export function rateExpression(minutes: number): string {
  return `rate(${minutes} ${minutes === 1 ? 'minute' : 'minutes'})`;
}

/** Wakes the reconciler every few minutes: it advances runs whose event never came and removes orphans. */
export class ReconcilerSchedule extends Construct {
  public readonly rule: CloudwatchEventRule;

  constructor(scope: Construct, id: string, props: ReconcilerScheduleProps) {
    super(scope, id);
    this.rule = new CloudwatchEventRule(this, 'rule', {
      name: `${props.namePrefix}-reconcile`,
      description: 'Looks at open export runs and temporary resources',
      scheduleExpression: rateExpression(props.periodMinutes),
    });
    new CloudwatchEventTarget(this, 'target', { rule: this.rule.name, targetId: 'reconcile', arn: props.functionArn });
    new LambdaPermission(this, 'invoke', {
      statementId: 'eventbridge-schedule',
      action: 'lambda:InvokeFunction',
      functionName: props.functionName,
      principal: 'events.amazonaws.com',
      sourceArn: this.rule.arn,
    });
  }
}
