import { PipelineMetrics } from '../../../../lambdas/shared/contracts/table-layout';
import { Metrics } from '../../../../lambdas/shared/runtime/metrics';
import { stdoutJsonLines } from '../../../support/stdout';

describe('Class: Metrics', () => {
  describe('Method: count', () => {
    it('prints one EMF line per count on standard output, in the pipeline namespace with Pipeline as the only dimension', async () => {
      const metrics = new Metrics('orders-export');
      const lines = await stdoutJsonLines(() => {
        metrics.count(PipelineMetrics.runFailed, 1, { runId: 'orders-202605150910-abcdef' });
        metrics.count(PipelineMetrics.runPastDeadline, 2, { runId: 'orders-202605160910-012345', stage: 'EXPORTING' });
      });
      expect(lines).toHaveLength(2);
      expect(lines[0]).toEqual({
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'AuroraDatalakeExport',
              Dimensions: [['Pipeline']],
              Metrics: [{ Name: 'RunFailed', Unit: 'Count' }],
            },
          ],
        },
        Pipeline: 'orders-export',
        RunFailed: 1,
        runId: 'orders-202605150910-abcdef',
      });
      expect(lines[1]).toMatchObject({
        _aws: { CloudWatchMetrics: [{ Dimensions: [['Pipeline']], Metrics: [{ Name: 'RunPastDeadline' }] }] },
        RunPastDeadline: 2,
        runId: 'orders-202605160910-012345',
        stage: 'EXPORTING',
      });
      // A line's run fields stay on that line only.
      expect(lines[1]).not.toHaveProperty('RunFailed');
    });

    it('stamps each line with the time it is written', async () => {
      const before = Date.now();
      const [line] = await stdoutJsonLines(() => new Metrics('p').count(PipelineMetrics.runSucceeded));
      const stamp = (line._aws as { Timestamp: number }).Timestamp;
      expect(stamp).toBeGreaterThanOrEqual(before);
      expect(stamp).toBeLessThanOrEqual(Date.now());
    });
  });
});
