import { Testing } from 'cdktf';
import { PipelineMetrics } from '../../lambdas/shared/contracts/table-layout';
import { Metrics } from '../../lambdas/shared/runtime/metrics';
import { Alarms } from '../../modules/alarms';
import { stdoutJsonLines } from '../support/stdout';

interface AlarmConfig {
  readonly alarm_name: string;
  readonly namespace: string;
  readonly metric_name: string;
  readonly dimensions: Record<string, string>;
  readonly statistic: string;
}

describe('Construct: Alarms', () => {
  const namePrefix = 'orders-export';
  const synthesized = JSON.parse(
    Testing.synthScope((scope) => {
      new Alarms(scope, 'alarms', {
        namePrefix,
        alertTopicArns: ['arn:aws:sns:eu-west-1:111122223333:orders-export-alerts'],
        functions: [
          { stage: 'start', functionName: 'orders-export-start', deadLetterQueueName: 'orders-export-start-dlq' },
        ],
      });
    }),
  ) as { resource: { aws_cloudwatch_metric_alarm: Record<string, AlarmConfig> } };
  const pipelineAlarms = Object.values(synthesized.resource.aws_cloudwatch_metric_alarm).filter(
    (a) => a.namespace === PipelineMetrics.namespace,
  );

  it('watches the failed runs and the runs past a deadline among the pipeline metrics', () => {
    expect(pipelineAlarms.map((a) => a.metric_name).sort()).toEqual(
      [PipelineMetrics.runFailed, PipelineMetrics.runPastDeadline].sort(),
    );
  });

  it.each([PipelineMetrics.runFailed, PipelineMetrics.runPastDeadline])(
    'matches the %s metric the functions print: same namespace, same dimension set and values, a count to sum',
    async (metricName) => {
      const alarm = pipelineAlarms.find((a) => a.metric_name === metricName) as AlarmConfig;
      const [line] = await stdoutJsonLines(() =>
        new Metrics(namePrefix).count(metricName, 1, { runId: 'orders-202605150910-abcdef' }),
      );
      const [directive] = (line._aws as { CloudWatchMetrics: Record<string, unknown>[] }).CloudWatchMetrics;
      expect(directive.Namespace).toBe(alarm.namespace);
      // CloudWatch tells metrics apart by their full dimension set: the alarm's must be the printed one exactly.
      expect(directive.Dimensions).toEqual([Object.keys(alarm.dimensions)]);
      for (const [name, value] of Object.entries(alarm.dimensions)) expect(line[name]).toBe(value);
      expect(directive.Metrics).toEqual([{ Name: alarm.metric_name, Unit: 'Count' }]);
      expect(line[alarm.metric_name]).toBe(1);
      expect(alarm.statistic).toBe('Sum');
    },
  );
});
