import type { SNSEvent } from 'aws-lambda';
import { forEachRecord } from '../../../../lambdas/shared/runtime/records';
import { silentLogger } from '../../../../lambdas/shared/runtime/logger';
import { makeHandler as makeStart } from '../../../../lambdas/start/handler';
import { makeHandler as makeCleanup } from '../../../../lambdas/cleanup/handler';
import { useStageDeps } from '../../../support/stage-deps';

describe('Module: records', () => {
  describe('Function: forEachRecord', () => {
    it.each([
      ['an object', { Records: { Sns: {} } }, 'object'],
      ['a number', { Records: 5 }, 'number'],
      ['a string', { Records: 'Records' }, 'string'],
      ['null', { Records: null }, 'null'],
      ['missing', { source: 'aws.events' }, 'undefined'],
    ])('logs and ignores an event whose Records is %s, never throwing', async (_what, event, recordsType) => {
      const logger = silentLogger();
      const warn = jest.spyOn(logger, 'warn');
      const handle = jest.fn();
      await expect(forEachRecord(event as unknown as SNSEvent, logger, handle)).resolves.toBeUndefined();
      expect(handle).not.toHaveBeenCalled();
      expect(warn).toHaveBeenCalledWith(
        'ignoring an event without a Records list',
        expect.objectContaining({ recordsType }),
      );
    });

    it('logs and ignores a null event', async () => {
      const logger = silentLogger();
      const warn = jest.spyOn(logger, 'warn');
      await expect(forEachRecord(null as unknown as SNSEvent, logger, jest.fn())).resolves.toBeUndefined();
      expect(warn).toHaveBeenCalledWith('ignoring an event without a Records list', expect.anything());
    });
  });

  describe('Stage functions given an event whose Records is not a list', () => {
    const env = useStageDeps();
    it.each([
      ['start', makeStart],
      ['cleanup', makeCleanup],
    ])('the %s function returns quietly', async (_name, make) => {
      await expect(make(env.deps)({ Records: { 0: 'x' } } as unknown as SNSEvent)).resolves.toBeUndefined();
      expect(env.rds.calls()).toHaveLength(0);
    });
  });
});
