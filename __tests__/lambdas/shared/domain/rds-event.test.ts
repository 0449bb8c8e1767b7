import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { EXPORT_FINISHED_EVENT_IDS, parseRdsEvent, parseSnsRecord } from '../../../../lambdas/shared/domain/rds-event';
import { loadEvent } from '../../../support/events';

const RDS_EVENT_MODULE = join(__dirname, '../../../../lambdas/shared/domain/rds-event.ts');

/** An RDS event message as RDS sends it, with some fields replaced or removed (undefined). */
function rdsMessage(fields: Record<string, string | undefined> = {}): string {
  const message: Record<string, string | undefined> = {
    'Event Source': 'db-cluster-snapshot',
    'Event Time': '2021-05-15 09:10:41.570',
    'Identifier Link':
      'https://console.aws.amazon.com/rds/home?region=eu-west-1#snapshot:id=rds:orders-2021-05-15-09-10',
    'Source ID': 'rds:orders-2021-05-15-09-10',
    'Source ARN': 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2021-05-15-09-10',
    'Event ID': 'http://docs.amazonwebservices.com/AmazonRDS/latest/UserGuide/USER_Events.html#RDS-EVENT-0169',
    'Event Message': 'Automated cluster snapshot created',
    ...fields,
  };
  return JSON.stringify(message);
}

/**
 * Parses each message in a Node process whose time zone is `zone` (Jest's own process runs in UTC, where a
 * time read as local and one read as UTC agree). Also returns how that process reads a zone-less ISO time,
 * to show the zone is in force.
 */
function parseInZone(zone: string, messages: string[]): { localReading: string; times: (string | undefined)[] } {
  const script = `
    const { parseRdsEvent } = require(${JSON.stringify(RDS_EVENT_MODULE)});
    const messages = JSON.parse(process.argv[1]);
    process.stdout.write(JSON.stringify({
      localReading: new Date('2021-05-15T09:10:41.570').toISOString(),
      times: messages.map((m) => parseRdsEvent(m)?.time),
    }));`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script, JSON.stringify(messages)], {
    env: { ...process.env, TZ: zone },
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`parsing in ${zone} failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

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

  describe('Function: parseRdsEvent, fields', () => {
    it('reads every field of an RDS event', () => {
      expect(parseRdsEvent(rdsMessage())).toEqual({
        eventId: 'RDS-EVENT-0169',
        source: 'db-cluster-snapshot',
        sourceId: 'rds:orders-2021-05-15-09-10',
        sourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2021-05-15-09-10',
        time: '2021-05-15T09:10:41.570Z',
        message: 'Automated cluster snapshot created',
      });
    });

    it('leaves out a missing Source ARN and reads a missing Event Message as empty', () => {
      const event = parseRdsEvent(
        rdsMessage({ 'Source ARN': undefined, 'Event Message': undefined, 'Identifier Link': undefined }),
      );
      expect(event).not.toHaveProperty('sourceArn');
      expect(event?.message).toBe('');
    });

    it('refuses an event without a Source ID, or with an empty one', () => {
      expect(parseRdsEvent(rdsMessage({ 'Source ID': undefined }))).toBeUndefined();
      expect(parseRdsEvent(rdsMessage({ 'Source ID': '' }))).toBeUndefined();
    });

    it('refuses an Event ID that does not end in #RDS-EVENT- and four digits', () => {
      expect(parseRdsEvent(rdsMessage({ 'Event ID': 'RDS-EVENT-0169' }))).toBeUndefined();
      expect(parseRdsEvent(rdsMessage({ 'Event ID': 'http://x#RDS-EVENT-169' }))).toBeUndefined();
      expect(parseRdsEvent(rdsMessage({ 'Event ID': 'http://x#RDS-EVENT-0169-extra' }))).toBeUndefined();
      expect(parseRdsEvent(rdsMessage({ 'Event ID': 'http://x#y#RDS-EVENT-0169' }))?.eventId).toBe('RDS-EVENT-0169');
    });

    it('refuses an event without a source or a time', () => {
      expect(parseRdsEvent(rdsMessage({ 'Event Source': undefined }))).toBeUndefined();
      expect(parseRdsEvent(rdsMessage({ 'Event Time': undefined }))).toBeUndefined();
    });

    it('returns nothing for text that is not JSON, and for JSON that is not an object', () => {
      expect(parseRdsEvent('Subscription confirmed')).toBeUndefined();
      expect(parseRdsEvent('null')).toBeUndefined();
    });
  });

  describe('Function: parseRdsEvent, Event Time', () => {
    it('reads RDS\'s "yyyy-mm-dd hh:mm:ss.sss" as UTC while the process runs in another time zone', () => {
      const messages = [
        rdsMessage({ 'Event Time': '2021-05-15 09:10:41.570' }),
        rdsMessage({ 'Event Time': '2021-05-15 09:10:41' }),
      ];
      const auckland = parseInZone('Pacific/Auckland', messages);
      // The zone is in force: a zone-less ISO time reads as Auckland time, 12 hours ahead of UTC in May.
      expect(auckland.localReading).toBe('2021-05-14T21:10:41.570Z');
      expect(auckland.times).toEqual(['2021-05-15T09:10:41.570Z', '2021-05-15T09:10:41.000Z']);
      expect(messages.map((m) => parseRdsEvent(m)?.time)).toEqual(auckland.times);
    });

    it('reads a time without fractional seconds, and one with spaces around it', () => {
      expect(parseRdsEvent(rdsMessage({ 'Event Time': '2021-05-15 09:10:41' }))?.time).toBe('2021-05-15T09:10:41.000Z');
      expect(parseRdsEvent(rdsMessage({ 'Event Time': ' 2021-05-15 09:10:41.570 ' }))?.time).toBe(
        '2021-05-15T09:10:41.570Z',
      );
    });

    it('keeps the zone of a time that names one', () => {
      expect(parseRdsEvent(rdsMessage({ 'Event Time': '2021-05-15 09:10:41.570+02:00' }))?.time).toBe(
        '2021-05-15T07:10:41.570Z',
      );
      expect(parseRdsEvent(rdsMessage({ 'Event Time': '2021-05-15T09:10:41.570Z' }))?.time).toBe(
        '2021-05-15T09:10:41.570Z',
      );
    });

    it('keeps a time it cannot read as RDS wrote it, trimmed', () => {
      expect(parseRdsEvent(rdsMessage({ 'Event Time': ' yesterday ' }))?.time).toBe('yesterday');
    });
  });

  describe('Function: parseSnsRecord, reasons', () => {
    const record = loadEvent('pipeline-start.json').Records[0];

    it('says why it ignores a record', () => {
      expect(parseSnsRecord({ body: 'sqs?' })).toEqual({ type: 'ignored', reason: 'not an SNS record' });
      expect(
        parseSnsRecord({
          ...record,
          Sns: { ...record.Sns, MessageAttributes: { target: { Type: 'String', Value: 'nowhere' } } },
        }),
      ).toEqual({ type: 'ignored', reason: 'unknown target nowhere', body: record.Sns.Message });
      expect(parseSnsRecord({ ...record, Sns: { ...record.Sns, Message: '{"kind":"explode"}' } })).toEqual({
        type: 'ignored',
        reason: 'not a pipeline message',
        body: '{"kind":"explode"}',
      });
      expect(parseSnsRecord(loadEvent('sns-subscription-plain-text.json').Records[0])).toMatchObject({
        type: 'ignored',
        reason: 'not an RDS event (plain text or unknown JSON)',
      });
    });

    it('keeps the first 500 characters of an ignored message for the log', () => {
      const long = 'x'.repeat(600);
      const ignored = parseSnsRecord({ Sns: { Message: long } });
      expect(ignored).toEqual({
        type: 'ignored',
        reason: 'not an RDS event (plain text or unknown JSON)',
        body: 'x'.repeat(500),
      });
    });

    it('reads a record without message attributes as an RDS event', () => {
      expect(parseSnsRecord({ Sns: { Message: rdsMessage() } })).toMatchObject({
        type: 'rds',
        event: { eventId: 'RDS-EVENT-0169' },
      });
    });

    it('reads the target attribute without its Type', () => {
      expect(
        parseSnsRecord({ Sns: { Message: record.Sns.Message, MessageAttributes: { target: { Value: 'start' } } } }),
      ).toEqual({ type: 'pipeline', target: 'start', message: { kind: 'start', clusterId: 'orders-provisioned' } });
    });

    it('ignores a record whose message attribute has no value', () => {
      expect(
        parseSnsRecord({ Sns: { Message: rdsMessage(), MessageAttributes: { target: { Type: 'String' } } } }),
      ).toEqual({
        type: 'ignored',
        reason: 'not an SNS record',
      });
    });
  });

  describe('Constant: EXPORT_FINISHED_EVENT_IDS', () => {
    it('lists the completed, failed and canceled events of snapshot and cluster exports', () => {
      expect([...EXPORT_FINISHED_EVENT_IDS].sort()).toEqual([
        'RDS-EVENT-0162',
        'RDS-EVENT-0163',
        'RDS-EVENT-0164',
        'RDS-EVENT-0234',
        'RDS-EVENT-0235',
        'RDS-EVENT-0236',
      ]);
    });
  });
});
