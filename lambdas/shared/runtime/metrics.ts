/**
 * The pipeline's own metrics, written as CloudWatch Embedded Metric Format log lines: no client, no call,
 * CloudWatch extracts them from the function's log group.
 */
import { PipelineMetrics } from '../contracts/table-layout';

/** Where EMF lines go. */
export type MetricSink = (line: string) => void;

/** Emits pipeline metrics with the `Pipeline=<namePrefix>` dimension. */
export class Metrics {
  constructor(
    private readonly pipeline: string,
    private readonly sink: MetricSink = (line) => process.stdout.write(`${line}\n`),
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Counts one occurrence of `name` (one of {@link PipelineMetrics}' metric names). */
  count(name: string, value = 1, properties: Record<string, string | number> = {}): void {
    this.sink(
      JSON.stringify({
        _aws: {
          Timestamp: this.now().getTime(),
          CloudWatchMetrics: [
            {
              Namespace: PipelineMetrics.namespace,
              Dimensions: [[PipelineMetrics.dimension]],
              Metrics: [{ Name: name, Unit: 'Count' }],
            },
          ],
        },
        [PipelineMetrics.dimension]: this.pipeline,
        [name]: value,
        ...properties,
      }),
    );
  }
}
