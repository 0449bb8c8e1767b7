/**
 * SNS publishing: pipeline messages (with the `target` attribute the subscriptions filter on) and alerts.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  TARGET_ATTRIBUTE,
  type AlertPublisher,
  type PipelineMessage,
  type PipelinePublisher,
} from '../domain/messages';
import type { StageFunction } from '../domain/run';

/** Publishes pipeline messages on the pipeline topic. */
export class SnsPipelinePublisher implements PipelinePublisher {
  constructor(
    private readonly topicArn: string,
    private readonly client: SNSClient = new SNSClient({}),
  ) {}

  async publish(target: StageFunction, message: PipelineMessage): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: JSON.stringify(message),
        MessageAttributes: { [TARGET_ATTRIBUTE]: { DataType: 'String', StringValue: target } },
      }),
    );
  }
}

/** Sends alerts to every configured alert topic. SNS subjects are limited to 100 characters. */
export class SnsAlertPublisher implements AlertPublisher {
  constructor(
    private readonly topicArns: readonly string[],
    private readonly client: SNSClient = new SNSClient({}),
  ) {}

  async alert(subject: string, text: string): Promise<void> {
    const clean = subject.replace(/[^\x20-\x7e]/g, ' ').slice(0, 100);
    await Promise.all(
      this.topicArns.map((TopicArn) =>
        this.client.send(new PublishCommand({ TopicArn, Subject: clean, Message: text })),
      ),
    );
  }
}
