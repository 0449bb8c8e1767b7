import { Construct } from 'constructs';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { PipelineMetrics } from '../lambdas/shared/contracts/table-layout';

/** Props of {@link Alarms}. */
export interface AlarmsProps {
  readonly namePrefix: string;
  /** Topics every alarm notifies. */
  readonly alertTopicArns: readonly string[];
  /** Per stage: function name and dead-letter queue name. */
  readonly functions: readonly {
    readonly stage: string;
    readonly functionName: string;
    readonly deadLetterQueueName: string;
  }[];
}

/**
 * Alarms that need a human: a message parked in any dead-letter queue, any function error, and the pipeline's
 * own metrics (runs that failed, runs past a stage deadline) emitted as EMF with dimension Pipeline=<namePrefix>.
 */
export class Alarms extends Construct {
  public readonly alarms: CloudwatchMetricAlarm[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const common = {
      comparisonOperator: 'GreaterThanThreshold',
      threshold: 0,
      evaluationPeriods: 1,
      period: 300,
      statistic: 'Sum',
      treatMissingData: 'notBreaching',
      alarmActions: [...props.alertTopicArns],
      okActions: [...props.alertTopicArns],
    };
    for (const f of props.functions) {
      this.alarms.push(
        new CloudwatchMetricAlarm(this, `${f.stage}-dlq`, {
          ...common,
          alarmName: `${f.functionName}-dead-letters`,
          alarmDescription: `Events the ${f.stage} stage gave up on are waiting in ${f.deadLetterQueueName}`,
          namespace: 'AWS/SQS',
          metricName: 'ApproximateNumberOfMessagesVisible',
          dimensions: { QueueName: f.deadLetterQueueName },
          statistic: 'Maximum',
        }),
        new CloudwatchMetricAlarm(this, `${f.stage}-errors`, {
          ...common,
          alarmName: `${f.functionName}-errors`,
          alarmDescription: `The ${f.stage} stage function failed`,
          namespace: 'AWS/Lambda',
          metricName: 'Errors',
          dimensions: { FunctionName: f.functionName },
        }),
      );
    }
    const pipelineMetric = (metricName: string, what: string) =>
      new CloudwatchMetricAlarm(this, metricName, {
        ...common,
        alarmName: `${props.namePrefix}-${metricName}`,
        alarmDescription: what,
        namespace: PipelineMetrics.namespace,
        metricName,
        dimensions: { [PipelineMetrics.dimension]: props.namePrefix },
      });
    this.alarms.push(
      pipelineMetric(PipelineMetrics.runFailed, 'An export run ended FAILED'),
      pipelineMetric(PipelineMetrics.runPastDeadline, 'An export run went past a stage deadline'),
    );
  }
}
