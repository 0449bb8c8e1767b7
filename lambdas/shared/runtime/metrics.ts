/**
 * The pipeline's own metrics, written by Powertools Metrics as CloudWatch Embedded Metric Format log lines:
 * no client, no call, CloudWatch extracts them from the function's log group.
 */
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { PipelineMetrics } from '../contracts/table-layout';

/**
 * Emits pipeline metrics in the {@link PipelineMetrics} namespace with the one dimension `Pipeline=<namePrefix>`,
 * exactly the metric the alarms watch: Powertools' default `service` dimension is dropped, since a metric with
 * another dimension set is another metric to CloudWatch.
 */
export class Metrics {
  /** The Powertools emitter; it prints each EMF line on the function's standard output. */
  readonly emitter: PowertoolsMetrics;

  constructor(pipeline: string) {
    this.emitter = new PowertoolsMetrics({ namespace: PipelineMetrics.namespace });
    this.emitter.clearDefaultDimensions();
    this.emitter.setDefaultDimensions({ [PipelineMetrics.dimension]: pipeline });
  }

  /**
   * Counts one occurrence of `name` (one of {@link PipelineMetrics}' metric names) and writes its EMF line at
   * once, with `properties` (run id, stage) as searchable fields of that line, not dimensions.
   */
  count(name: string, value = 1, properties: Record<string, string | number> = {}): void {
    this.emitter.addMetric(name, MetricUnit.Count, value);
    for (const [key, v] of Object.entries(properties)) this.emitter.addMetadata(key, String(v));
    this.emitter.publishStoredMetrics();
  }
}
