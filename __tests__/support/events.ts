import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SNSEvent } from 'aws-lambda';

/** Loads a JSON event fixture from __tests__/events. */
export function loadEvent(name: string): SNSEvent {
  return JSON.parse(readFileSync(join(__dirname, '..', 'events', name), 'utf8')) as SNSEvent;
}

/** A fixture with its RDS message fields replaced (Source ID, Source ARN, Event ID, ...). */
export function rdsEventWith(name: string, fields: Record<string, string>): SNSEvent {
  const event = loadEvent(name);
  const record = event.Records[0];
  const message = { ...JSON.parse(record.Sns.Message), ...fields };
  return { Records: [{ ...record, Sns: { ...record.Sns, Message: JSON.stringify(message) } }] };
}

/** An SNS event carrying one pipeline message for `target`. */
export function pipelineEvent(target: string, message: unknown): SNSEvent {
  const event = loadEvent('pipeline-start.json');
  const record = event.Records[0];
  return {
    Records: [
      {
        ...record,
        Sns: {
          ...record.Sns,
          Message: JSON.stringify(message),
          MessageAttributes: { target: { Type: 'String', Value: target } },
        },
      },
    ],
  };
}
