import { Logger } from '@aws-lambda-powertools/logger';
import { forRun } from '../../../../lambdas/shared/runtime/stage-deps';

describe('Module: logger', () => {
  it('writes structured JSON lines that carry the run id while a run is worked on, and not after', async () => {
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    const spies = [
      jest.spyOn(process.stdout, 'write').mockImplementation(capture),
      jest.spyOn(process.stderr, 'write').mockImplementation(capture),
    ];
    try {
      const logger = new Logger({ serviceName: 'start', logLevel: 'INFO' });
      await forRun(logger, 'orders-202605150910-abcdef', async () => {
        logger.info('restore started');
        logger.warn('something odd');
      });
      logger.info('after the run');
    } finally {
      spies.forEach((s) => {
        s.mockRestore();
      });
    }
    const parsed = lines
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => [p.message, p.runId])).toEqual([
      ['restore started', 'orders-202605150910-abcdef'],
      ['something odd', 'orders-202605150910-abcdef'],
      ['after the run', undefined],
    ]);
    expect(parsed[0]).toMatchObject({ level: 'INFO', service: 'start' });
  });
});
