import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { RdsGateway } from '../../lambdas/shared/adapters/rds';
import type { PipelineMessage } from '../../lambdas/shared/domain/messages';
import type { StageFunction } from '../../lambdas/shared/domain/run';
import { silentLogger } from '../../lambdas/shared/logger';
import { Metrics } from '../../lambdas/shared/metrics';
import { storeFor, type StageDeps } from '../../lambdas/shared/runtime';
import type { RuntimeSettings } from '../../lambdas/shared/settings';
import { simulationSettings } from '../simulation/harness';
import type { DynaliteHandle } from './dynalite';

/** Stage deps for unit tests: a fresh run table on dynalite, a (mockable) RDS client, recorders for the rest. */
export interface TestDeps extends StageDeps {
  readonly sent: { target: StageFunction; message: PipelineMessage }[];
  readonly alertsSent: { subject: string; text: string }[];
  readonly metricLines: Record<string, unknown>[];
  /** Sets the clock. */
  setNow(date: Date): void;
}

/** Builds {@link TestDeps} around a dynalite instance. */
export async function testDeps(db: DynaliteHandle, options: { s3?: S3Client; settings?: Partial<RuntimeSettings> } = {}): Promise<TestDeps> {
  const settings = simulationSettings(await db.createRunTable(), options.settings);
  let now = new Date('2026-05-15T09:15:00.000Z');
  const clock = () => new Date(now.getTime());
  const sent: TestDeps['sent'] = [];
  const alertsSent: TestDeps['alertsSent'] = [];
  const metricLines: TestDeps['metricLines'] = [];
  return {
    settings,
    store: storeFor(settings, db.documentClient(), clock),
    rds: new RdsGateway(new RDSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } })),
    s3: options.s3 ?? new S3Client({ region: 'eu-west-1' }),
    publisher: { publish: async (target, message) => void sent.push({ target, message }) },
    alerts: { alert: async (subject, text) => void alertsSent.push({ subject, text }) },
    logger: silentLogger(),
    metrics: new Metrics(settings.namePrefix, (line) => void metricLines.push(JSON.parse(line)), clock),
    now: clock,
    sent,
    alertsSent,
    metricLines,
    setNow: (d) => {
      now = d;
    },
  };
}
