import {
  STAGE_FUNCTIONS,
  TARGET_ATTRIBUTE,
  nextMessageFor,
  parsePipelineMessage,
} from '../../../../lambdas/shared/domain/messages';

describe('Module: messages', () => {
  describe('Function: parsePipelineMessage', () => {
    it('reads every kind of pipeline message', () => {
      const messages = [
        { kind: 'start', clusterId: 'orders' },
        { kind: 'start', clusterId: 'orders', snapshotArn: 'rds:orders-2026-05-15-09-10' },
        { kind: 'retry', runId: 'r' },
        { kind: 'retry', runId: 'r', reuseDestination: true },
        { kind: 'cancel', runId: 'r' },
        { kind: 'advance', runId: 'r' },
        { kind: 'cleanup', runId: 'r' },
        { kind: 'copy-plan', runId: 'r' },
        { kind: 'copy-batch', runId: 'r', batch: 0 },
      ];
      for (const m of messages) expect(parsePipelineMessage(JSON.stringify(m))).toEqual(m);
    });

    it("keeps the copier's own fields of a batch message", () => {
      expect(parsePipelineMessage('{"kind":"copy-batch","runId":"r","batch":3,"resume":"part-2"}')).toEqual({
        kind: 'copy-batch',
        runId: 'r',
        batch: 3,
        resume: 'part-2',
      });
    });

    it('accepts the highest batch index a batch id holds, and refuses one past it or a fraction', () => {
      expect(parsePipelineMessage('{"kind":"copy-batch","runId":"r","batch":999999}')).toBeDefined();
      expect(parsePipelineMessage('{"kind":"copy-batch","runId":"r","batch":1000000}')).toBeUndefined();
      expect(parsePipelineMessage('{"kind":"copy-batch","runId":"r","batch":-1}')).toBeUndefined();
      expect(parsePipelineMessage('{"kind":"copy-batch","runId":"r","batch":1.5}')).toBeUndefined();
    });

    it('refuses an empty run id, and one longer than 128 characters', () => {
      expect(parsePipelineMessage(JSON.stringify({ kind: 'cancel', runId: 'r'.repeat(128) }))).toBeDefined();
      expect(parsePipelineMessage(JSON.stringify({ kind: 'cancel', runId: 'r'.repeat(129) }))).toBeUndefined();
      expect(parsePipelineMessage('{"kind":"cancel","runId":""}')).toBeUndefined();
    });

    it('refuses a start without a cluster, or with an empty cluster or snapshot', () => {
      expect(parsePipelineMessage('{"kind":"start"}')).toBeUndefined();
      expect(parsePipelineMessage('{"kind":"start","clusterId":""}')).toBeUndefined();
      expect(parsePipelineMessage('{"kind":"start","clusterId":"c","snapshotArn":""}')).toBeUndefined();
    });

    it('refuses a retry whose reuseDestination is not a boolean', () => {
      expect(parsePipelineMessage('{"kind":"retry","runId":"r","reuseDestination":"yes"}')).toBeUndefined();
    });

    it('returns nothing for text that is not JSON, and for an unknown kind', () => {
      expect(parsePipelineMessage('start orders')).toBeUndefined();
      expect(parsePipelineMessage('{"kind":"explode","runId":"r"}')).toBeUndefined();
    });
  });

  describe('Function: nextMessageFor', () => {
    it('starts the copy planner for a run entering COPYING and the cleanup for one entering CLEANING_UP', () => {
      expect(nextMessageFor('r', 'COPYING')).toEqual({ target: 'copy', message: { kind: 'copy-plan', runId: 'r' } });
      expect(nextMessageFor('r', 'CLEANING_UP')).toEqual({
        target: 'cleanup',
        message: { kind: 'cleanup', runId: 'r' },
      });
    });

    it('sends nothing for stages an RDS event moves on', () => {
      for (const stage of ['PENDING', 'RESTORING', 'SNAPSHOTTING', 'WAITING_FOR_EXPORT_SLOT', 'EXPORTING', 'SUCCEEDED'])
        expect(nextMessageFor('r', stage)).toBeUndefined();
    });
  });

  describe('Constants: addressing', () => {
    it('addresses messages to the stage functions through the target attribute', () => {
      expect(TARGET_ATTRIBUTE).toBe('target');
      expect(STAGE_FUNCTIONS).toEqual([
        'start',
        'snapshot',
        'export',
        'export-finished',
        'copy',
        'cleanup',
        'reconcile',
      ]);
    });
  });
});
