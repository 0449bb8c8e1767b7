import { parseRdsEvent, parseSnsRecord } from '../../../../lambdas/shared/domain/rds-event';
import { loadEvent } from '../../../support/events';

describe('Module: rds-event', () => {
  describe('Function: parseSnsRecord', () => {
    it('reads an automated snapshot event, taking the event id after the #', () => {
      const r = parseSnsRecord(loadEvent('rds-event-0169-automated-snapshot.json').Records[0]);
      expect(r).toEqual({
        type: 'rds',
        event: {
          eventId: 'RDS-EVENT-0169',
          source: 'db-cluster-snapshot',
          sourceId: 'rds:orders-provisioned-2026-05-15-09-10',
          sourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-provisioned-2026-05-15-09-10',
          time: '2026-05-15T09:10:41.570Z',
          message: 'Automated cluster snapshot created',
        },
      });
    });

    it('accepts any host in the Event ID URL', () => {
      const r = parseSnsRecord(loadEvent('rds-event-0164-export-completed.json').Records[0]);
      expect(r.type === 'rds' && r.event.eventId).toBe('RDS-EVENT-0164');
    });

    it('ignores the plain-text message sent after subscribing', () => {
      expect(parseSnsRecord(loadEvent('sns-subscription-plain-text.json').Records[0])).toMatchObject({
        type: 'ignored',
      });
    });

    it('reads a pipeline message by its target attribute', () => {
      expect(parseSnsRecord(loadEvent('pipeline-start.json').Records[0])).toEqual({
        type: 'pipeline',
        target: 'start',
        message: { kind: 'start', clusterId: 'orders-provisioned' },
      });
    });

    it('ignores a pipeline message with an unknown target or kind', () => {
      const record = loadEvent('pipeline-start.json').Records[0];
      expect(
        parseSnsRecord({
          ...record,
          Sns: { ...record.Sns, MessageAttributes: { target: { Type: 'String', Value: 'nowhere' } } },
        }),
      ).toMatchObject({ type: 'ignored' });
      expect(parseSnsRecord({ ...record, Sns: { ...record.Sns, Message: '{"kind":"explode"}' } })).toMatchObject({
        type: 'ignored',
      });
    });

    it('ignores something that is not an SNS record', () => {
      expect(parseSnsRecord({ body: 'sqs?' })).toMatchObject({ type: 'ignored' });
    });
  });

  describe('Function: parseRdsEvent', () => {
    it('returns nothing for JSON without an RDS event id', () => {
      expect(parseRdsEvent('{"Event ID":"no-hash"}')).toBeUndefined();
    });
  });
});
