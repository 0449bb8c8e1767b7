/**
 * Runs whole pipelines through the real handlers: a stateful fake RDS control plane behind the mocked RDS
 * client, dynalite for the run table, s3rver for the export bucket and the destination, an in-memory SNS
 * that routes RDS events with the stages' filter policies and pipeline messages by `target`, Lambda's
 * async retries (two, then a dead-letter list), a fake clock, and the reconciler on a schedule.
 */
import type { SNSEvent, SNSEventRecord } from 'aws-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { runtimeSettingsSchema, type RuntimeSettings } from '../../lambdas/shared/contracts/settings';
import type { RunStore } from '../../lambdas/shared/adapters/run-store';
import { RdsGateway } from '../../lambdas/shared/adapters/rds';
import type { AlertPublisher, PipelineMessage, PipelinePublisher } from '../../lambdas/shared/domain/messages';
import { STAGES_IN_ORDER, StageFunction, isTerminal, type Run } from '../../lambdas/shared/domain/run';
import type { RunEvent } from '../../lambdas/shared/domain/transitions';
import { silentLogger } from '../../lambdas/shared/runtime/logger';
import { RunTableLayout } from '../../lambdas/shared/contracts/table-layout';
import { capturedMetrics } from '../support/emf';
import { storeFor, type StageDeps } from '../../lambdas/shared/runtime/stage-deps';
import { makeHandler as makeStart } from '../../lambdas/start/handler';
import { makeHandler as makeSnapshot } from '../../lambdas/snapshot/handler';
import { makeHandler as makeExport } from '../../lambdas/export/handler';
import { makeHandler as makeExportFinished } from '../../lambdas/export-finished/handler';
import { makeHandler as makeCleanup } from '../../lambdas/cleanup/handler';
import { makeHandler as makeReconcile } from '../../lambdas/reconcile/handler';
import { makeHandler as makeCopy } from '../../lambdas/copy/handler';
import { CopyBatchStore } from '../../lambdas/shared/adapters/copy-batch-store';
import { startDynalite, type DynaliteHandle } from '../support/dynalite';
import { startS3rver, type S3rverHandle } from '../support/s3rver';
import { FakeRds, type FakeTable } from '../support/fake-rds';
import { DEFAULT_STAGE_DEADLINES } from '../../config/schema';

export const SIM_EXPORT_BUCKET = 'sim-exports';
export const SIM_DESTINATION_BUCKET = 'client-lake';
export const SIM_ACCOUNT = '123456789012';

/** The SNS subscription filter policies on the RDS events topic: stage ← Event ID suffixes. */
export const RDS_EVENT_ROUTES: Readonly<Record<string, StageFunction>> = {
  'RDS-EVENT-0169': StageFunction.START,
  'RDS-EVENT-0170': StageFunction.SNAPSHOT,
  'RDS-EVENT-0075': StageFunction.EXPORT,
  'RDS-EVENT-0164': StageFunction.EXPORT_FINISHED,
  'RDS-EVENT-0162': StageFunction.EXPORT_FINISHED,
  'RDS-EVENT-0163': StageFunction.EXPORT_FINISHED,
  'RDS-EVENT-0236': StageFunction.EXPORT_FINISHED,
  'RDS-EVENT-0234': StageFunction.EXPORT_FINISHED,
  'RDS-EVENT-0235': StageFunction.EXPORT_FINISHED,
};

/** Settings of the simulated deployment. */
export function simulationSettings(tableName: string, overrides: Partial<RuntimeSettings> = {}): RuntimeSettings {
  return runtimeSettingsSchema.parse({
    namePrefix: 'sim',
    tempResourcePrefix: 'sim-tmp-',
    managedByTag: 'sim-export-pipeline',
    accountId: SIM_ACCOUNT,
    tableName,
    exportBucket: SIM_EXPORT_BUCKET,
    exportPrefix: 'exports',
    exportKmsKeyArn: `arn:aws:kms:eu-west-1:${SIM_ACCOUNT}:key/11111111-2222-3333-4444-555555555555`,
    exportRoleArn: `arn:aws:iam::${SIM_ACCOUNT}:role/sim-export`,
    pipelineTopicArn: `arn:aws:sns:eu-west-1:${SIM_ACCOUNT}:sim-pipeline`,
    alertTopicArns: [`arn:aws:sns:eu-west-1:${SIM_ACCOUNT}:sim-alerts`],
    notifyOnSuccess: true,
    sourceClusters: [
      { identifier: 'orders-provisioned', exportMode: 'auto', exportOnly: [] },
      { identifier: 'me3-serverless', exportMode: 'auto', exportOnly: [] },
    ],
    restore: { dbSubnetGroupName: 'private-db-subnets', vpcSecurityGroupIds: ['sg-0123456789abcdef0'] },
    destination: {
      bucket: SIM_DESTINATION_BUCKET,
      expectedOwnerAccountId: SIM_ACCOUNT,
      keyPrefixTemplate: 'lake/{cluster}/{date}',
      aclMode: 'none',
    },
    tableFailurePolicy: 'fail',
    copy: { concurrency: 4, partSizeMiB: 5, batchMaxObjects: 3, batchMaxGiB: 1 },
    stageDeadlinesMinutes: DEFAULT_STAGE_DEADLINES,
    orphanGraceMinutes: 60,
    runRetentionDays: 30,
    ...overrides,
  });
}

/** How deliveries misbehave in a scenario. */
export interface DeliveryFaults {
  /** Deliver every message three times, the first two concurrently. */
  readonly triplicate?: boolean;
  /** Deliver each batch of pending messages in reverse order. */
  readonly reverse?: boolean;
  /** Drop the first delivery of every distinct message (RDS events are then never sent again). */
  readonly loseEachOnce?: boolean;
  /** On every tick, deliver again every RDS event delivered so far, newest first: late, stale and out of order. */
  readonly replayStaleEvents?: boolean;
  /** Make the first run-store write of every transition type fail after the stage's AWS call. */
  readonly crashBeforeEachWrite?: boolean;
  /** Make the first run-store write of these transition types only fail after the stage's AWS call. */
  readonly crashBeforeFirstWriteOf?: readonly RunEvent['type'][];
  /** Make the first alert publish fail: a crash between a run's final write and its alert. */
  readonly crashBeforeFirstAlert?: boolean;
}

/** Options of a simulation. */
export interface SimulationOptions extends DeliveryFaults {
  readonly settings?: Partial<RuntimeSettings>;
  readonly tables?: readonly FakeTable[];
  readonly exportSlots?: number;
  /** Minutes the clock moves per tick. @default 5 */
  readonly minutesPerTick?: number;
  /** Ticks between reconciler passes. @default 1 */
  readonly reconcileEveryTicks?: number;
  /** Called for each thing that happens, for a narrated run. */
  readonly onStep?: (step: SimulationStep) => void;
  /** Emulators to share between simulations (each simulation gets its own table and buckets); started and stopped here otherwise. */
  readonly emulators?: { readonly dynalite: DynaliteHandle; readonly s3rver: S3rverHandle };
  /** Wraps the S3 client the copy stage uses (fault injection). */
  readonly copyS3?: (s3: S3Client) => S3Client;
}

/** Something that happened in the simulation. */
export type SimulationStep =
  | { readonly type: 'deliver'; readonly target: StageFunction; readonly what: string; readonly attempt: number }
  | {
      readonly type: 'failed-invocation';
      readonly target: StageFunction;
      readonly what: string;
      readonly error: string;
    }
  | { readonly type: 'stage'; readonly run: Run; readonly from: string }
  | { readonly type: 'tick'; readonly minutes: number; readonly now: Date }
  | { readonly type: 'reconcile'; readonly advanced: number; readonly failed: number; readonly orphans: number };

interface Delivery {
  readonly target: StageFunction;
  readonly record: SNSEventRecord;
  readonly what: string;
  readonly key: string;
}

let simulationCounter = 0;

/** A simulated deployment. */
export class Simulation {
  readonly alerts: { subject: string; text: string }[] = [];
  /** The EMF lines the functions printed, parsed. */
  readonly metrics: Record<string, unknown>[];
  readonly deadLetters: { target: StageFunction; what: string; error: string }[] = [];
  readonly published: { target: StageFunction; message: PipelineMessage }[] = [];
  private queue: Delivery[] = [];
  private readonly rdsDelivered: Delivery[] = [];
  private readonly seen = new Set<string>();
  /** Transition types whose first write was crashed (and `alert` once the first alert was). */
  readonly crashed = new Set<string>();
  private clock: Date;
  private ticks = 0;
  private readonly handlers: Record<string, (event: SNSEvent) => Promise<unknown>>;
  private readonly lastStage = new Map<string, string>();

  private constructor(
    readonly settings: RuntimeSettings,
    readonly rds: FakeRds,
    readonly store: RunStore,
    readonly s3: S3Client,
    private readonly dynalite: DynaliteHandle,
    private readonly s3rver: S3rverHandle,
    private readonly options: SimulationOptions,
  ) {
    this.clock = new Date('2026-05-15T09:10:00.000Z');
    const now = () => new Date(this.clock.getTime());
    const publisher: PipelinePublisher = {
      publish: async (target, message) => {
        this.published.push({ target, message });
        this.enqueue(
          target,
          pipelineRecord(settings.pipelineTopicArn, target, message),
          `${message.kind}${'batch' in message ? `#${message.batch}` : ''}`,
        );
      },
    };
    const alerts: AlertPublisher = {
      alert: async (subject, text) => {
        if (options.crashBeforeFirstAlert && !this.crashed.has('alert')) {
          this.crashed.add('alert');
          throw Object.assign(new Error('simulated crash before the alert was published'), { name: 'SimulatedCrash' });
        }
        this.alerts.push({ subject, text });
      },
    };
    const { metrics, lines } = capturedMetrics(settings.namePrefix);
    this.metrics = lines;
    const observed = this.observe(store);
    const deps: StageDeps = {
      settings,
      store: observed,
      rds: new RdsGateway(new RDSClient({ region: 'eu-west-1' })),
      s3,
      publisher,
      alerts,
      logger: silentLogger(),
      metrics,
      now,
    };
    const copyS3 = options.copyS3 ? options.copyS3(s3rver.client()) : s3;
    this.handlers = {
      [StageFunction.START]: makeStart(deps),
      [StageFunction.SNAPSHOT]: makeSnapshot(deps),
      [StageFunction.EXPORT]: makeExport(deps),
      [StageFunction.EXPORT_FINISHED]: makeExportFinished(deps),
      [StageFunction.CLEANUP]: makeCleanup(deps),
      [StageFunction.COPY]: makeCopy({
        settings,
        store: observed,
        batches: new CopyBatchStore({
          tableName: settings.tableName,
          client: store.client,
          retentionDays: settings.runRetentionDays,
          now,
        }),
        s3: copyS3,
        publisher,
        logger: silentLogger(),
        principal: async () => `arn:aws:sts::${SIM_ACCOUNT}:assumed-role/sim-copy/sim-copy`,
        finalizeLeaseSeconds: 600,
      }),
      [StageFunction.RECONCILE]: makeReconcile({ ...deps, stallMinutes: 10 }),
    };
  }

  /** Starts the emulators and the fake control plane. */
  static async start(options: SimulationOptions = {}): Promise<Simulation> {
    const shared = options.emulators;
    const [dynalite, s3rver] = shared
      ? [shared.dynalite, shared.s3rver]
      : await Promise.all([startDynalite(), startS3rver([SIM_EXPORT_BUCKET, SIM_DESTINATION_BUCKET])]);
    const tableName = await dynalite.createRunTable();
    const suffix = shared ? `-${++simulationCounter}` : '';
    const settings = simulationSettings(tableName, {
      exportBucket: `${SIM_EXPORT_BUCKET}${suffix}`,
      destination: {
        bucket: `${SIM_DESTINATION_BUCKET}${suffix}`,
        expectedOwnerAccountId: SIM_ACCOUNT,
        keyPrefixTemplate: 'lake/{cluster}/{date}',
        aclMode: 'none',
      },
      ...options.settings,
    });
    const s3 = s3rver.client();
    if (shared) {
      for (const bucket of [settings.exportBucket, settings.destination.bucket as string])
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    }
    let sim: Simulation | undefined;
    const now = () => (sim ? sim.now() : new Date('2026-05-15T09:10:00.000Z'));
    const rds = new FakeRds({ s3, now, tables: options.tables, exportSlots: options.exportSlots }).install();
    const store = storeFor(settings, dynalite.documentClient(), now);
    sim = new Simulation(settings, rds, store, s3, dynalite, s3rver, options);
    return sim;
  }

  /** The client's bucket deliveries land in. */
  get destinationBucket(): string {
    return this.settings.destination.bucket as string;
  }

  /** The simulated time. */
  now(): Date {
    return new Date(this.clock.getTime());
  }

  /** Stops everything started. */
  async stop(): Promise<void> {
    this.rds.restore();
    if (!this.options.emulators) await Promise.all([this.dynalite.stop(), this.s3rver.stop()]);
  }

  /** Adds a source snapshot and lets RDS announce it (RDS-EVENT-0169). */
  announceSnapshot(clusterId: string, engineMode: 'provisioned' | 'serverless'): { id: string; arn: string } {
    const snap = this.rds.addSourceSnapshot(clusterId, engineMode, this.now());
    this.rds.emitSnapshotCreated(snap.id);
    return snap;
  }

  /** Sends a raw SNS message body to a stage, as if it arrived on its subscription. */
  deliverRaw(target: StageFunction, body: string, attributes: Record<string, string> = {}): void {
    const record = pipelineRecord(this.settings.pipelineTopicArn, target, undefined, body);
    const withAttrs: SNSEventRecord = {
      ...record,
      Sns: {
        ...record.Sns,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([k, v]) => [k, { Type: 'String', Value: v }]),
        ),
      },
    };
    this.queue.push({ target, record: withAttrs, what: 'raw', key: `raw:${this.queue.length}:${body}` });
  }

  /** Publishes a pipeline message, as an operator would. */
  publish(target: StageFunction, message: PipelineMessage): void {
    this.enqueue(target, pipelineRecord(this.settings.pipelineTopicArn, target, message), message.kind);
  }

  /**
   * Delivers messages and moves time until every run is finished (or `maxTicks` passes): drain the queue,
   * tick the control plane, route its events, run the reconciler on schedule.
   */
  async runUntilSettled(maxTicks = 80): Promise<Run[]> {
    for (let i = 0; i < maxTicks; i++) {
      await this.drain();
      const runs = await this.allRuns();
      if (runs.length > 0 && runs.every((r) => isTerminal(r.stage)) && this.queue.length === 0) return runs;
      await this.tick();
    }
    await this.drain();
    return this.allRuns();
  }

  /** Lets the control plane finish what is on its way (deletions in progress), without delivering anything. */
  async settleResources(ticks = 3): Promise<void> {
    for (let i = 0; i < ticks; i++) await this.rds.tick();
    this.rds.drainEvents();
  }

  /**
   * Every run in the table, in the order of a listing stage by stage (pipeline order, then last update). One
   * consistent scan of the table: the harness asks this after every tick, and a query per stage plus a read per
   * run were most of the requests of a simulation, none of them the pipeline's.
   */
  async allRuns(): Promise<Run[]> {
    const L = RunTableLayout;
    const runs: Run[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.store.client.send(
        new ScanCommand({
          TableName: this.settings.tableName,
          ConsistentRead: true,
          FilterExpression: '#sk = :run',
          ExpressionAttributeNames: { '#sk': L.sortKey },
          ExpressionAttributeValues: { ':run': L.runSortKey },
          ExclusiveStartKey: start,
        }),
      );
      for (const { [L.partitionKey]: _pk, [L.sortKey]: _sk, ...run } of page.Items ?? []) runs.push(run as Run);
      start = page.LastEvaluatedKey;
    } while (start);
    const order = (r: Run) => STAGES_IN_ORDER.indexOf(r.stage);
    return runs.sort(
      (a, b) => order(a) - order(b) || a.updatedAt.localeCompare(b.updatedAt) || a.runId.localeCompare(b.runId),
    );
  }

  /** Keys under a prefix of a bucket. */
  async keys(bucket: string, prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      keys.push(...(out.Contents ?? []).map((o) => o.Key as string));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  /** One reconciler pass, as the schedule would run it. */
  async reconcile(): Promise<void> {
    try {
      const report = (await this.handlers[StageFunction.RECONCILE]({ Records: [] })) as {
        advanced: unknown[];
        failed: unknown[];
        orphansDeleted: unknown[];
      };
      this.options.onStep?.({
        type: 'reconcile',
        advanced: report.advanced.length,
        failed: report.failed.length,
        orphans: report.orphansDeleted.length,
      });
    } catch (e) {
      this.options.onStep?.({
        type: 'failed-invocation',
        target: StageFunction.RECONCILE,
        what: 'schedule',
        error: (e as Error).message,
      });
    }
  }

  /** Moves the clock and the control plane one step, routes the events, and runs the reconciler on schedule. */
  async tick(): Promise<void> {
    const minutes = this.options.minutesPerTick ?? 5;
    this.clock = new Date(this.clock.getTime() + minutes * 60_000);
    this.ticks++;
    this.options.onStep?.({ type: 'tick', minutes, now: this.now() });
    await this.rds.tick();
    if (this.options.replayStaleEvents)
      this.queue.push(
        ...[...this.rdsDelivered].reverse().map((d, i) => ({ ...d, key: `${d.key}:replay:${this.ticks}:${i}` })),
      );
    this.routeRdsEvents();
    if (this.ticks % (this.options.reconcileEveryTicks ?? 1) === 0) {
      await this.drain();
      await this.reconcile();
    }
  }

  /** Delivers everything queued, including what the deliveries publish. */
  async drain(): Promise<void> {
    this.routeRdsEvents();
    for (let guard = 0; this.queue.length > 0 && guard < 10_000; guard++) {
      const batch = this.queue;
      this.queue = [];
      if (this.options.reverse) batch.reverse();
      for (const d of batch) await this.deliver(d);
      this.routeRdsEvents();
    }
  }

  private routeRdsEvents(): void {
    for (const record of this.rds.drainEvents()) {
      const body = JSON.parse(record.Sns.Message) as Record<string, string>;
      const code = body['Event ID'].slice(body['Event ID'].lastIndexOf('#') + 1);
      const target = RDS_EVENT_ROUTES[code];
      if (!target) continue;
      const delivery = {
        target,
        record,
        what: `${code} ${body['Source ID']}`,
        key: `rds:${record.Sns.MessageId}:${target}`,
      };
      this.queue.push(delivery);
      this.rdsDelivered.push(delivery);
    }
  }

  private enqueue(target: StageFunction, record: SNSEventRecord, what: string): void {
    this.queue.push({ target, record, what, key: `msg:${target}:${record.Sns.Message}` });
  }

  private async deliver(d: Delivery): Promise<void> {
    if (this.options.loseEachOnce && !this.seen.has(d.key)) {
      this.seen.add(d.key);
      return;
    }
    if (this.options.triplicate) {
      await Promise.all([this.invoke(d), this.invoke(d)]);
      await this.invoke(d);
      return;
    }
    await this.invoke(d);
  }

  /** One asynchronous Lambda invocation: the first try and up to two retries, then the dead-letter list. */
  private async invoke(d: Delivery): Promise<void> {
    const handler = this.handlers[d.target];
    let last: unknown;
    for (let attempt = 1; attempt <= 3; attempt++) {
      this.options.onStep?.({ type: 'deliver', target: d.target, what: d.what, attempt });
      try {
        await handler({ Records: [d.record] });
        return;
      } catch (e) {
        last = e;
        this.options.onStep?.({
          type: 'failed-invocation',
          target: d.target,
          what: d.what,
          error: `${(e as Error).name}: ${(e as Error).message}`,
        });
      }
    }
    this.deadLetters.push({ target: d.target, what: d.what, error: String((last as Error)?.message ?? last) });
  }

  /** The store every handler uses, watching stage changes and optionally crashing before the write. */
  private observe(store: RunStore): RunStore {
    const apply = store.apply.bind(store);
    const wrapped = Object.create(store) as RunStore;
    wrapped.apply = async (runId: string, expected, event: RunEvent) => {
      const crashes = this.options.crashBeforeEachWrite || this.options.crashBeforeFirstWriteOf?.includes(event.type);
      if (crashes && !this.crashed.has(event.type)) {
        this.crashed.add(event.type);
        const e = new Error(`simulated crash before recording ${event.type}`);
        e.name = 'SimulatedCrash';
        throw e;
      }
      const run = await apply(runId, expected, event);
      if (this.lastStage.get(runId) !== run.stage) {
        this.options.onStep?.({ type: 'stage', run, from: expected });
        this.lastStage.set(runId, run.stage);
      }
      return run;
    };
    return wrapped;
  }
}

/** An SNS record as the pipeline topic delivers it. */
export function pipelineRecord(
  topicArn: string,
  target: StageFunction,
  message?: PipelineMessage,
  body?: string,
): SNSEventRecord {
  return {
    EventSource: 'aws:sns',
    EventVersion: '1.0',
    EventSubscriptionArn: `${topicArn}:${target}`,
    Sns: {
      Type: 'Notification',
      MessageId: `msg-${Math.random().toString(36).slice(2)}`,
      TopicArn: topicArn,
      Subject: '',
      Message: body ?? JSON.stringify(message),
      Timestamp: new Date().toISOString(),
      SignatureVersion: '1',
      Signature: 'x',
      SigningCertUrl: 'https://example.com/cert.pem',
      UnsubscribeUrl: 'https://example.com/unsubscribe',
      MessageAttributes: message || body === undefined ? { target: { Type: 'String', Value: target } } : {},
    },
  };
}
