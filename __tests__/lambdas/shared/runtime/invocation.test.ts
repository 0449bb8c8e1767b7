// First: the tracer below runs with the X-Ray SDK in its automatic mode, as in a deployed function.
import '../../../support/xray-automatic-mode';
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { Segment, type Subsegment } from 'aws-xray-sdk-core';
import { lambdaEntry, traceHandler } from '../../../../lambdas/shared/runtime/invocation';
import { stdoutJsonLines } from '../../../support/stdout';

/** A Lambda context as the Node.js runtime passes it. */
function lambdaContext(awsRequestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'aurora-export-start',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:aurora-export-start',
    memoryLimitInMB: '512',
    awsRequestId,
    logGroupName: '/aws/lambda/aurora-export-start',
    logStreamName: '2026/05/15/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 300_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

describe('Module: invocation', () => {
  describe('Function: lambdaEntry', () => {
    it('puts the request id on every log line of an invocation, and the cold start only on the first', async () => {
      const logger = new Logger({ serviceName: 'start', logLevel: 'INFO' });
      const handler = lambdaEntry(
        () => ({ logger, tracer: new Tracer({ serviceName: 'start' }) }),
        (deps) => async (event: { step: string }) => {
          deps().logger.info('working', { step: event.step });
          deps().logger.info('done');
        },
      );
      const lines = await stdoutJsonLines(async () => {
        await handler({ step: 'one' }, lambdaContext('req-1'));
        await handler({ step: 'two' }, lambdaContext('req-2'));
      });
      expect(lines.map((l) => [l.message, l.function_request_id, l.cold_start])).toEqual([
        ['working', 'req-1', true],
        ['done', 'req-1', true],
        ['working', 'req-2', false],
        ['done', 'req-2', false],
      ]);
      expect(lines[0]).toMatchObject({
        function_name: 'aurora-export-start',
        function_arn: 'arn:aws:lambda:eu-west-1:111122223333:function:aurora-export-start',
        service: 'start',
      });
    });

    it('builds its deps and handler on the first invocation, once, so importing it needs no environment', async () => {
      const source = jest.fn(() => ({ logger: new Logger({ logLevel: 'SILENT' }), tracer: new Tracer() }));
      const make = jest.fn(() => async (event: number) => event * 2);
      const handler = lambdaEntry(source, make);
      expect(source).not.toHaveBeenCalled();
      expect(make).not.toHaveBeenCalled();
      await expect(handler(1, lambdaContext('a'))).resolves.toBe(2);
      await expect(handler(2)).resolves.toBe(4);
      expect(source).toHaveBeenCalledTimes(1);
      expect(make).toHaveBeenCalledTimes(1);
    });
  });

  describe('A function without a tracer', () => {
    it('runs its invocations outside any subsegment, with the request id still on its log lines', async () => {
      const logger = new Logger({ serviceName: 'copy', logLevel: 'INFO' });
      const tracer = new Tracer({ serviceName: 'copy' });
      jest.spyOn(tracer, 'isTracingEnabled').mockReturnValue(true);
      const facade = new Segment('aurora-export-copy');
      const handler = lambdaEntry(
        () => ({ logger }),
        () => async () => {
          logger.info('copying');
          return tracer.getSegment();
        },
      );
      let segment: unknown;
      const lines = await stdoutJsonLines(async () => {
        segment = await tracer.provider.getNamespace().runAndReturn(() => {
          tracer.setSegment(facade);
          return handler({}, lambdaContext('req-copy'));
        });
      });
      expect(segment).toBe(facade);
      expect(facade.subsegments ?? []).toEqual([]);
      expect(lines.map((l) => [l.message, l.function_request_id])).toEqual([['copying', 'req-copy']]);
    });
  });

  describe('Function: traceHandler', () => {
    /** A tracer as in a function with active tracing, inside the segment Lambda opens for an invocation. */
    function activeTracing(): { tracer: Tracer; facade: Segment; within: <T>(fn: () => Promise<T>) => Promise<T> } {
      const tracer = new Tracer({ serviceName: 'cleanup' });
      jest.spyOn(tracer, 'isTracingEnabled').mockReturnValue(true);
      const facade = new Segment('aurora-export-cleanup');
      const within = <T>(fn: () => Promise<T>) =>
        tracer.provider.getNamespace().runAndReturn(() => {
          tracer.setSegment(facade);
          return fn();
        });
      return { tracer, facade, within };
    }

    it('runs the invocation in a closed subsegment annotated with ColdStart and Service, then restores the segment', async () => {
      const { tracer, facade, within } = activeTracing();
      const seen = await within(async () => {
        const inside = await traceHandler(tracer, '## index.handler', async () => tracer.getSegment()?.name);
        return { inside, after: tracer.getSegment() };
      });
      expect(seen.inside).toBe('## index.handler');
      expect(seen.after).toBe(facade);
      const [sub] = (facade.subsegments ?? []) as Subsegment[];
      expect(sub).toMatchObject({ name: '## index.handler', annotations: { ColdStart: true, Service: 'cleanup' } });
      expect(sub.isClosed()).toBe(true);
    });

    it('records a failure on the subsegment and rethrows it', async () => {
      const { tracer, facade, within } = activeTracing();
      await expect(
        within(() =>
          traceHandler(tracer, '## index.handler', async () => {
            throw new Error('RDS said no');
          }),
        ),
      ).rejects.toThrow('RDS said no');
      const [sub] = (facade.subsegments ?? []) as Subsegment[];
      expect(sub.isClosed()).toBe(true);
      expect(JSON.stringify(sub)).toContain('RDS said no');
    });

    it('just runs the work when tracing is off, as it is outside Lambda and in these tests', async () => {
      const tracer = new Tracer({ serviceName: 'cleanup' });
      expect(tracer.isTracingEnabled()).toBe(false);
      await expect(traceHandler(tracer, '## index.handler', async () => 'ran')).resolves.toBe('ran');
    });
  });
});
