import { RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { S3Client } from '@aws-sdk/client-s3';
import { RdsGateway } from '../../lambdas/shared/adapters/rds';
import type { PipelineMessage } from '../../lambdas/shared/domain/messages';
import type { StageFunction } from '../../lambdas/shared/domain/run';
import { silentLogger } from '../../lambdas/shared/runtime/logger';
import { storeFor, type StageDeps } from '../../lambdas/shared/runtime/stage-deps';
import type { RuntimeSettings } from '../../lambdas/shared/contracts/settings';
import { simulationSettings } from '../simulation/harness';
import { startDynalite, type DynaliteHandle } from './dynalite';
import { capturedMetrics } from './emf';

/** Stage deps for unit tests: a fresh run table on dynalite, a (mockable) RDS client, recorders for the rest. */
export interface TestDeps extends StageDeps {
  readonly sent: { target: StageFunction; message: PipelineMessage }[];
  readonly alertsSent: { subject: string; text: string }[];
  readonly metricLines: Record<string, unknown>[];
  /** Sets the clock. */
  setNow(date: Date): void;
}

/** What differs between {@link TestDeps}: the S3 client and settings overrides. */
export interface TestDepsOptions {
  readonly s3?: S3Client;
  readonly settings?: Partial<RuntimeSettings>;
}

/** Builds {@link TestDeps} around a dynalite instance. */
export async function testDeps(db: DynaliteHandle, options: TestDepsOptions = {}): Promise<TestDeps> {
  const settings = simulationSettings(await db.createRunTable(), options.settings);
  let now = new Date('2026-05-15T09:15:00.000Z');
  const clock = () => new Date(now.getTime());
  const sent: TestDeps['sent'] = [];
  const alertsSent: TestDeps['alertsSent'] = [];
  const { metrics, lines: metricLines } = capturedMetrics(settings.namePrefix);
  return {
    settings,
    store: storeFor(settings, db.documentClient(), clock),
    rds: new RdsGateway(
      new RDSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
    ),
    s3: options.s3 ?? new S3Client({ region: 'eu-west-1' }),
    publisher: { publish: async (target, message) => void sent.push({ target, message }) },
    alerts: { alert: async (subject, text) => void alertsSent.push({ subject, text }) },
    logger: silentLogger(),
    metrics,
    now: clock,
    sent,
    alertsSent,
    metricLines,
    setNow: (d) => {
      now = d;
    },
  };
}

const mockRds = () => mockClient(RDSClient);
/** The RDS client mock of a test file. */
export type RdsMock = ReturnType<typeof mockRds>;

/** What {@link useStageDeps} gives a stage handler test file. */
export interface StageTestEnv {
  /** Every RDS client in the test file, mocked; reset after each test. */
  readonly rds: RdsMock;
  /** The current test's deps, around a fresh run table. */
  readonly deps: TestDeps;
  /** Replaces the current test's deps, e.g. to change settings. */
  rebuild(options?: TestDepsOptions): Promise<TestDeps>;
}

/**
 * Registers the hooks a stage handler test file needs, inside its `describe`: one dynalite for the file,
 * fresh deps (own run table) and the default RDS answers from `stub` before each test, and a reset of the
 * RDS mock after each.
 */
export function useStageDeps(options: { readonly stub?: (rds: RdsMock) => void } = {}): StageTestEnv {
  const rds = mockRds();
  let db: DynaliteHandle | undefined;
  let current: TestDeps | undefined;
  const env: StageTestEnv = {
    rds,
    get deps(): TestDeps {
      if (!current) throw new Error('deps are built in beforeEach; use them inside a test');
      return current;
    },
    rebuild: async (o) => (current = await testDeps(db as DynaliteHandle, o)),
  };
  beforeAll(async () => {
    db = await startDynalite();
  });
  afterAll(async () => {
    await db?.stop();
  });
  beforeEach(async () => {
    await env.rebuild();
    options.stub?.(rds);
  });
  afterEach(() => {
    rds.reset();
    current = undefined;
  });
  return env;
}
