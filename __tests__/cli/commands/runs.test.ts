import { mockClient } from 'aws-sdk-client-mock';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { type DBClusterSnapshot, DescribeDBClusterSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { defaultClients, type AwsClients } from '../../../cli/aws';
import { main } from '../../../cli/main';
import type { LocatedStack } from '../../../cli/stack';
import { CopyBatchStore } from '../../../lambdas/shared/adapters/copy-batch-store';
import { RunStore } from '../../../lambdas/shared/adapters/run-store';
import type { Run } from '../../../lambdas/shared/domain/run';
import { startDynalite, type DynaliteHandle } from '../../support/dynalite';
import { captureIo } from '../support/io';
import { DEFAULT_STAGE_DEADLINES } from '../../../config/schema';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:aurora-export-pipeline';
const T0 = new Date('2026-11-27T12:00:00Z');
const deadlines = DEFAULT_STAGE_DEADLINES;

const sns = mockClient(SNSClient);
const rds = mockClient(RDSClient);
let dynalite: DynaliteHandle;
let tableName: string;
let clock: number;
let onSleep: (() => Promise<void>) | undefined;

const iso = (minutesFromT0: number) => new Date(T0.getTime() + minutesFromT0 * 60_000).toISOString();

function snapshotArn(id: string): string {
  return `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:${id}`;
}

/** A run as the engine writes it, created `ago` minutes before T0. */
function makeRun(runId: string, over: Partial<Run> & { ago?: number } = {}): Run {
  const ago = over.ago ?? 60;
  const snapshotId = over.sourceSnapshotId ?? `rds:orders-provisioned-2026-11-27-03-10`;
  const { ago: _ago, ...rest } = over;
  return {
    runId,
    attempt: 1,
    sourceClusterId: 'orders-provisioned',
    sourceSnapshotId: snapshotId,
    sourceSnapshotArn: snapshotArn(snapshotId),
    path: 'direct',
    stage: 'EXPORTING',
    exportAttempt: 1,
    stageEnteredAt: { PENDING: iso(-ago), EXPORTING: iso(-ago + 1) },
    createdAt: iso(-ago),
    updatedAt: iso(-ago + 1),
    ...rest,
  } as Run;
}

function store(): RunStore {
  return new RunStore({
    tableName,
    client: dynalite.documentClient(),
    deadlinesMinutes: deadlines,
    retentionDays: 90,
    now: () => new Date(clock),
  });
}

async function seed(...runs: Run[]): Promise<void> {
  for (const r of runs) await store().createRun(r);
}

function aws(): AwsClients {
  const doc = dynalite.documentClient();
  return { ...defaultClients('eu-west-1', {}), dynamo: () => doc };
}

async function cli(args: string[], stackInfo: LocatedStack['info'] = { tableName, pipelineTopicArn: TOPIC }) {
  const io = captureIo();
  const code = await main(args, {
    io,
    env: { PIPELINE_ENVIRONMENT: 'production' },
    aws: aws(),
    stack: { source: 'test', info: stackInfo },
    now: () => new Date(clock),
    sleep: async (ms) => {
      clock += ms;
      await onSleep?.();
    },
  });
  return { code, io, out: io.text(), err: io.stderr.join('\n') };
}

function published() {
  return sns.commandCalls(PublishCommand).map((c) => ({
    topic: c.args[0].input.TopicArn,
    target: c.args[0].input.MessageAttributes?.target?.StringValue,
    body: JSON.parse(c.args[0].input.Message as string),
  }));
}

beforeAll(async () => {
  dynalite = await startDynalite();
});

afterAll(async () => {
  await dynalite.stop();
});

beforeEach(async () => {
  tableName = await dynalite.createRunTable();
  clock = T0.getTime();
  onSleep = undefined;
  sns.reset();
  rds.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
});

describe('Command: runs list', () => {
  beforeEach(async () => {
    await seed(
      makeRun('orders-a', { ago: 30 }),
      makeRun('orders-b', {
        ago: 60 * 26,
        stage: 'SUCCEEDED',
        stageEnteredAt: {
          PENDING: iso(-60 * 26),
          EXPORTING: iso(-60 * 26 + 1),
          COPYING: iso(-60 * 25),
          CLEANING_UP: iso(-60 * 25 + 10),
          SUCCEEDED: iso(-60 * 25 + 12),
        },
        updatedAt: iso(-60 * 25 + 12),
      }),
      makeRun('me3-c', {
        ago: 120,
        sourceClusterId: 'me3-serverless',
        sourceSnapshotId: 'rds:me3-serverless-2026-11-27-02-00',
        path: 'restore',
        stage: 'FAILED',
        stageEnteredAt: { PENDING: iso(-120), RESTORING: iso(-119), CLEANING_UP: iso(-100), FAILED: iso(-99) },
        updatedAt: iso(-99),
        error: { stage: 'RESTORING', kind: 'RestoreFailed', message: 'insufficient capacity' },
      }),
      makeRun('orders-old', {
        ago: 60 * 24 * 30,
        stage: 'SUCCEEDED',
        updatedAt: iso(-60 * 24 * 30 + 50),
        stageEnteredAt: { PENDING: iso(-60 * 24 * 30), SUCCEEDED: iso(-60 * 24 * 30 + 50) },
      }),
    );
  });

  it('prints an aligned table of the last 7 days, newest first, with durations', async () => {
    const { code, io } = await cli(['runs', 'list']);
    expect(code).toBe(0);
    const [header, ...rows] = io.stdout;
    expect(header).toMatch(/^RUN ID\s+CLUSTER\s+SNAPSHOT\s+PATH\s+STAGE\s+STARTED\s+DURATION$/);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['orders-a', 'me3-c', 'orders-b']);
    const col = header.indexOf('STAGE');
    expect(rows.map((r) => r.slice(col).split(/\s{2,}/)[0])).toEqual(['EXPORTING', 'FAILED', 'SUCCEEDED']);
    expect(rows[0]).toMatch(/2026-11-27 11:30:00Z\s+30m 00s so far$/);
    expect(rows[2]).toMatch(/1h 12m$/);
  });

  it('filters by status, cluster and since', async () => {
    expect((await cli(['runs', 'list', '--status', 'failed'])).io.stdout.slice(1).map((r) => r.split(' ')[0])).toEqual([
      'me3-c',
    ]);
    expect((await cli(['runs', 'list', '--status', 'active'])).io.stdout.slice(1).map((r) => r.split(' ')[0])).toEqual([
      'orders-a',
    ]);
    expect(
      (await cli(['runs', 'list', '--cluster', 'ME3-Serverless'])).io.stdout.slice(1).map((r) => r.split(' ')[0]),
    ).toEqual(['me3-c']);
    expect((await cli(['runs', 'list', '--since', '3h'])).io.stdout.slice(1).map((r) => r.split(' ')[0])).toEqual([
      'orders-a',
      'me3-c',
    ]);
    expect(
      (await cli(['runs', 'list', '--since', 'all', '--status', 'succeeded'])).io.stdout
        .slice(1)
        .map((r) => r.split(' ')[0]),
    ).toEqual(['orders-b', 'orders-old']);
  });

  it('prints runs as JSON with derived durations and stage spans', async () => {
    const { out } = await cli(['runs', 'list', '--json', '--status', 'SUCCEEDED']);
    const { runs } = JSON.parse(out);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ runId: 'orders-b', durationMs: 72 * 60_000 });
    expect(runs[0].stages.map((s: { stage: string }) => s.stage)).toEqual([
      'PENDING',
      'EXPORTING',
      'COPYING',
      'CLEANING_UP',
      'SUCCEEDED',
    ]);
  });

  it('says so when nothing matches', async () => {
    expect((await cli(['runs', 'list', '--cluster', 'nobody'])).out).toBe(
      'No runs updated since 2026-11-20 12:00:00Z for nobody.',
    );
  });

  it('rejects an unknown status with the list of stages', async () => {
    const { code, err } = await cli(['runs', 'list', '--status', 'broken']);
    expect(code).toBe(2);
    expect(err).toContain('Unknown status "BROKEN": use PENDING, RESTORING');
  });

  it('reports a missing run table as a stack that is not deployed', async () => {
    const { code, err } = await cli(['runs', 'list'], { tableName: 'no-such-table', pipelineTopicArn: TOPIC });
    expect(code).toBe(1);
    expect(err).toContain('Run table no-such-table not found in eu-west-1: is the stack deployed');
  });

  it('explains how to point at the stack when the table name is unknown', async () => {
    const { code, err } = await cli(['runs', 'list'], {});
    expect(code).toBe(1);
    expect(err).toMatch(/Deployed stack not found.*run_table_name \(or env PIPELINE_TABLE_NAME\)/);
  });
});

describe('Command: runs show', () => {
  it('shows every stage with times and durations, resources, export, copy and the error', async () => {
    await seed(
      makeRun('me3-d', {
        ago: 120,
        sourceClusterId: 'me3-serverless',
        path: 'restore',
        stage: 'FAILED',
        tempClusterId: 'aurora-export-tmp-me3-d',
        tempSnapshotId: 'aurora-export-tmp-me3-d',
        exportTaskId: 'aurora-export-tmp-me3-d-e1',
        exportS3Prefix: 'exports/me3-d/aurora-export-tmp-me3-d-e1',
        copy: {
          objects: 10,
          bytes: 10 * 1024 * 1024,
          batchesTotal: 2,
          batchesDone: 1,
          objectsCopied: 5,
          bytesCopied: 5 * 1024 * 1024,
        },
        cleanedUp: ['snapshot:aurora-export-tmp-me3-d', 'cluster:aurora-export-tmp-me3-d'],
        stageEnteredAt: {
          PENDING: iso(-120),
          RESTORING: iso(-119),
          SNAPSHOTTING: iso(-100),
          EXPORTING: iso(-90),
          COPYING: iso(-30),
          CLEANING_UP: iso(-20),
          FAILED: iso(-18),
        },
        updatedAt: iso(-18),
        error: {
          stage: 'COPYING',
          kind: 'DestinationAccessDenied',
          message: 'access point policy denies s3:PutObject',
        },
      }),
    );
    const { code, out } = await cli(['runs', 'show', 'me3-d'], {
      tableName,
      pipelineTopicArn: TOPIC,
      exportBucket: 'aurora-export-exports',
    });
    expect(code).toBe(0);
    expect(out).toMatch(/stage\s+FAILED \(attempt 1\)/);
    expect(out).toMatch(/duration\s+1h 42m/);
    expect(out).toMatch(/RESTORING\s+2026-11-27 10:01:00Z\s+19m 00s/);
    expect(out).toMatch(/EXPORTING\s+2026-11-27 10:30:00Z\s+1h 00m/);
    expect(out).toMatch(/FAILED\s+2026-11-27 11:42:00Z\s+-/);
    expect(out).toMatch(/cleaned up\s+snapshot:aurora-export-tmp-me3-d, cluster:aurora-export-tmp-me3-d/);
    expect(out).toMatch(/output\s+s3:\/\/aurora-export-exports\/exports\/me3-d\/aurora-export-tmp-me3-d-e1/);
    expect(out).toMatch(/objects\s+5 of 10 copied/);
    expect(out).toMatch(/bytes\s+5\.0 MiB of 10\.0 MiB/);
    expect(out).toContain('DestinationAccessDenied in COPYING: access point policy denies s3:PutObject');
  });

  it('shows what a cleanup still waits for, and nothing of the kind once it has finished', async () => {
    await seed(
      makeRun('me3-w', {
        ago: 30,
        stage: 'CLEANING_UP',
        tempClusterId: 'aurora-export-tmp-me3-w',
        tempSnapshotId: 'aurora-export-tmp-me3-w',
        cleanedUp: ['cluster:aurora-export-tmp-me3-w'],
        cleanupWaitingFor: [
          'snapshot:aurora-export-tmp-me3-w (held by export aurora-export-tmp-me3-w-x1 being cancelled)',
        ],
      }),
    );
    const waiting = await cli(['runs', 'show', 'me3-w']);
    expect(waiting.out).toMatch(
      /waiting for\s+snapshot:aurora-export-tmp-me3-w \(held by export aurora-export-tmp-me3-w-x1 being cancelled\)/,
    );
    await seed(makeRun('me3-f', { ago: 30, stage: 'SUCCEEDED', cleanedUp: ['cluster:aurora-export-tmp-me3-f'] }));
    const finished = await cli(['runs', 'show', 'me3-f']);
    expect(finished.code).toBe(0);
    expect(finished.out).not.toContain('waiting for');
  });

  it('counts the current stage of a live run up to now', async () => {
    await seed(makeRun('orders-live', { ago: 45 }));
    const { out } = await cli(['runs', 'show', 'orders-live']);
    expect(out).toMatch(/EXPORTING\s+2026-11-27 11:16:00Z\s+44m 00s/);
    expect(out).toMatch(/duration\s+45m 00s so far/);
    expect(out).toMatch(/cluster\s+none \(direct path\)/);
  });

  it('names a wrong run id and how to list runs', async () => {
    const { code, err } = await cli(['runs', 'show', 'nope']);
    expect(code).toBe(1);
    expect(err).toBe(
      `error: No run nope in table ${tableName}. List recent runs with: npm run -s pipeline -- runs list`,
    );
  });

  it('needs the run id', async () => {
    const { code, err } = await cli(['runs', 'show']);
    expect(code).toBe(2);
    expect(err).toContain('Missing <run-id>');
  });
});

describe('Command: runs retry', () => {
  it('publishes a retry for the start function', async () => {
    await seed(makeRun('orders-f', { stage: 'FAILED' }));
    const { code, out } = await cli(['runs', 'retry', 'orders-f']);
    expect(code).toBe(0);
    expect(published()).toEqual([{ topic: TOPIC, target: 'start', body: { kind: 'retry', runId: 'orders-f' } }]);
    expect(out).toContain('attempt 2');
  });

  it("asks for delivery under the earlier attempt's prefix with --reuse-destination", async () => {
    await seed(makeRun('orders-f', { stage: 'FAILED' }));
    const { code } = await cli(['runs', 'retry', 'orders-f', '--reuse-destination']);
    expect(code).toBe(0);
    expect(published()).toEqual([
      { topic: TOPIC, target: 'start', body: { kind: 'retry', runId: 'orders-f', reuseDestination: true } },
    ]);
  });

  it('refuses a run that succeeded, and one that is still running', async () => {
    await seed(
      makeRun('orders-s', { stage: 'SUCCEEDED' }),
      makeRun('orders-r', { sourceSnapshotId: 'rds:orders-provisioned-2026-11-26-03-10' }),
    );
    const s = await cli(['runs', 'retry', 'orders-s']);
    expect(s.code).toBe(1);
    expect(s.err).toContain('it succeeded');
    const r = await cli(['runs', 'retry', 'orders-r']);
    expect(r.err).toContain('cancel it first with: npm run -s pipeline -- runs cancel orders-r');
    expect(published()).toEqual([]);
  });

  it('refuses when a later attempt of the snapshot exists', async () => {
    await seed(makeRun('orders-f', { stage: 'FAILED' }), makeRun('orders-f-r2', { attempt: 2, ago: 10 }));
    const { err } = await cli(['runs', 'retry', 'orders-f']);
    expect(err).toContain('already has a later attempt: run orders-f-r2 (EXPORTING)');
  });

  it('follows the new attempt to its end with --wait, printing each stage', async () => {
    await seed(makeRun('orders-f', { stage: 'FAILED' }));
    let step = 0;
    onSleep = async () => {
      step++;
      if (step === 2) await store().createRun(makeRun('orders-f-r2', { attempt: 2, ago: 0, stage: 'EXPORTING' }));
      if (step === 4) await store().apply('orders-f-r2', 'EXPORTING', { type: 'ExportCompleted' });
      if (step === 5) await store().apply('orders-f-r2', 'COPYING', { type: 'CopySucceeded', objects: 3, bytes: 300 });
      if (step === 6) await store().apply('orders-f-r2', 'CLEANING_UP', { type: 'CleanupDone', cleanedUp: [] });
    };
    const { code, io } = await cli(['runs', 'retry', 'orders-f', '--wait', '--poll-seconds', '5']);
    expect(code).toBe(0);
    expect(io.stderr.map((l) => l.replace(/^\S+ \S+\s+/, ''))).toEqual([
      'retry published for orders-f; waiting for attempt 2',
      'orders-f-r2 EXPORTING',
      'orders-f-r2 COPYING',
      'orders-f-r2 CLEANING_UP → SUCCEEDED',
      'orders-f-r2 SUCCEEDED',
    ]);
    expect(io.stdout.at(-1)).toMatch(/^orders-f-r2 SUCCEEDED after/);
  });

  it('gives up waiting after --timeout-minutes with a pointer to runs show', async () => {
    await seed(makeRun('orders-f', { stage: 'FAILED' }));
    onSleep = async () => {
      if ((await store().findBySnapshot(snapshotArn('rds:orders-provisioned-2026-11-27-03-10'))).length === 1) {
        await store().createRun(makeRun('orders-f-r2', { attempt: 2, ago: 0 }));
      }
    };
    const { code, err } = await cli(['runs', 'retry', 'orders-f', '--wait', '--timeout-minutes', '1']);
    expect(code).toBe(1);
    expect(err).toContain(
      'orders-f-r2 is still EXPORTING after 1 minutes; follow it with: npm run -s pipeline -- runs show orders-f-r2',
    );
  });
});

describe('Command: runs cancel', () => {
  it('publishes a cancel for the cleanup function', async () => {
    await seed(makeRun('orders-x'));
    const { code, out } = await cli(['runs', 'cancel', 'orders-x', '--json']);
    expect(code).toBe(0);
    expect(published()).toEqual([{ topic: TOPIC, target: 'cleanup', body: { kind: 'cancel', runId: 'orders-x' } }]);
    expect(JSON.parse(out)).toEqual({
      published: { target: 'cleanup', message: { kind: 'cancel', runId: 'orders-x' } },
    });
  });

  it('refuses a run that ended or is already cleaning up', async () => {
    await seed(
      makeRun('orders-done', { stage: 'CANCELLED' }),
      makeRun('orders-cu', {
        stage: 'CLEANING_UP',
        outcome: 'FAILED',
        sourceSnapshotId: 'rds:orders-provisioned-2026-11-26-03-10',
      }),
    );
    expect((await cli(['runs', 'cancel', 'orders-done'])).err).toContain('has already ended (CANCELLED)');
    expect((await cli(['runs', 'cancel', 'orders-cu'])).err).toContain('already cleaning up (CLEANING_UP → FAILED)');
    expect(published()).toEqual([]);
  });

  it('follows the run to CANCELLED with --wait', async () => {
    await seed(makeRun('orders-x'));
    let step = 0;
    onSleep = async () => {
      step++;
      if (step === 1) await store().apply('orders-x', 'EXPORTING', { type: 'Cancelled' });
      if (step === 2)
        await store().apply('orders-x', 'CLEANING_UP', { type: 'CleanupDone', cleanedUp: ['export:orders-x-e1'] });
    };
    const { code, io } = await cli(['runs', 'cancel', 'orders-x', '--wait']);
    expect(code).toBe(0);
    expect(io.stderr.map((l) => l.replace(/^\S+ \S+\s+/, ''))).toEqual([
      'orders-x EXPORTING',
      'orders-x CLEANING_UP → CANCELLED (Cancelled: cancelled by an operator)',
      'orders-x CANCELLED',
    ]);
  });

  it('names a wrong run id', async () => {
    const { code, err } = await cli(['runs', 'cancel', 'ghost']);
    expect(code).toBe(1);
    expect(err).toContain('No run ghost');
  });
});

describe('Command: runs start', () => {
  const ACCESS_POINT = 'arn:aws:s3:eu-west-1:210987654321:accesspoint/me3-datalake';

  /** A cluster snapshot as DescribeDBClusterSnapshots returns it. */
  function snapshot(id: string, created: string, over: Partial<DBClusterSnapshot> = {}): DBClusterSnapshot {
    return {
      DBClusterSnapshotIdentifier: id,
      DBClusterSnapshotArn: snapshotArn(id),
      DBClusterIdentifier: 'orders-provisioned',
      SnapshotCreateTime: new Date(created),
      SnapshotType: id.startsWith('rds:') ? 'automated' : 'manual',
      Status: 'available',
      ...over,
    };
  }

  const nov26 = snapshot('rds:orders-provisioned-2026-11-26-03-10', '2026-11-26T03:10:00Z');
  const nov27 = snapshot('rds:orders-provisioned-2026-11-27-03-10', '2026-11-27T03:10:00Z');

  it("publishes a start for a configured cluster's newest available automated snapshot", async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [nov26, nov27] });
    const { code, out } = await cli(['runs', 'start', '--cluster', 'orders-provisioned']);
    expect(code).toBe(0);
    expect(rds.commandCalls(DescribeDBClusterSnapshotsCommand)[0].args[0].input).toEqual({
      DBClusterIdentifier: 'orders-provisioned',
      SnapshotType: 'automated',
    });
    expect(published()).toEqual([
      {
        topic: TOPIC,
        target: 'start',
        body: { kind: 'start', clusterId: 'orders-provisioned', snapshotArn: nov27.DBClusterSnapshotArn },
      },
    ]);
    expect(out).toContain(`Asked the start function to export ${nov27.DBClusterSnapshotArn}`);
  });

  it('passes a named snapshot through for a backfill', async () => {
    const nov01 = snapshot('rds:orders-provisioned-2026-11-01-03-10', '2026-11-01T03:10:00Z');
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [nov01] });
    expect(
      (
        await cli([
          'runs',
          'start',
          '--cluster',
          'orders-provisioned',
          '--snapshot',
          nov01.DBClusterSnapshotArn as string,
        ])
      ).code,
    ).toBe(0);
    expect(published()[0].body).toEqual({
      kind: 'start',
      clusterId: 'orders-provisioned',
      snapshotArn: nov01.DBClusterSnapshotArn,
    });
  });

  it('refuses a cluster that is not configured', async () => {
    const { code, err } = await cli(['runs', 'start', '--cluster', 'billing']);
    expect(code).toBe(2);
    expect(err).toContain('billing is not a configured source cluster (me3-serverless, orders-provisioned)');
    expect(published()).toEqual([]);
  });

  it.each([
    [['--cluster', 'orders_provisioned'], '--cluster "orders_provisioned" is not a DB cluster identifier'],
    [
      ['--cluster', 'orders-provisioned', '--snapshot', 'my snapshot'],
      '--snapshot "my snapshot" is not a DB cluster snapshot',
    ],
    [
      ['--cluster', 'orders-provisioned', '--snapshot', 'arn:aws:rds:eu-west-1:123:cluster-snapshot:x'],
      'is not a DB cluster snapshot ARN',
    ],
    [
      ['--cluster', 'orders-provisioned', '--snapshot', 'arn:aws:rds:us-east-1:123456789012:cluster-snapshot:manual-1'],
      'is in us-east-1, the pipeline runs in eu-west-1',
    ],
    [
      ['--cluster', 'orders-provisioned', '--snapshot', 'rds:me3-serverless-2026-11-27-02-00'],
      'is an automated snapshot of me3-serverless, not of --cluster orders-provisioned',
    ],
    [['--cluster', 'orders-provisioned', '--timeout-minutes', 'soon'], '--timeout-minutes must be a positive number'],
  ])('refuses %j before any AWS call', async (args, message) => {
    const { code, err } = await cli(['runs', 'start', ...args]);
    expect(code).toBe(2);
    expect(err).toContain(message);
    expect(rds.calls()).toHaveLength(0);
    expect(published()).toEqual([]);
  });

  it('refuses a manual snapshot that RDS says belongs to another cluster', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [snapshot('manual-1', '2026-11-20T10:00:00Z', { DBClusterIdentifier: 'billing' })],
    });
    const { code, err } = await cli(['runs', 'start', '--cluster', 'orders-provisioned', '--snapshot', 'manual-1']);
    expect(code).toBe(2);
    expect(err).toContain('Snapshot manual-1 is a snapshot of billing, not of --cluster orders-provisioned');
    expect(published()).toEqual([]);
  });

  it('does not start a snapshot that already has a live run', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [nov27] });
    await seed(makeRun('orders-a'));
    const { code, out } = await cli([
      'runs',
      'start',
      '--cluster',
      'orders-provisioned',
      '--snapshot',
      nov27.DBClusterSnapshotArn as string,
    ]);
    expect(code).toBe(0);
    expect(out).toContain('already being exported by run orders-a (EXPORTING)');
    expect(published()).toEqual([]);
  });

  describe('a backfill whose delivery prefix already holds another run', () => {
    /** The prefix the start function gives a run of orders-provisioned for a snapshot taken on 2026-11-27. */
    const PREFIX = 'me3/orders-provisioned/dt=2026-11-27';
    const manual = snapshot('orders-before-upgrade', '2026-11-27T14:00:00Z');

    async function claim(prefix: string, runId: string, snapshotArnHeld: string): Promise<void> {
      const batches = new CopyBatchStore({ tableName, client: dynalite.documentClient() });
      expect(
        (await batches.claimDestination(ACCESS_POINT, prefix, { runId, sourceSnapshotArn: snapshotArnHeld })).kind,
      ).toBe('free');
    }

    it('is refused before anything is published, naming the prefix, the run there and the ways out', async () => {
      await claim(PREFIX, 'orders-provisioned-202611270310-a1b2c3', nov27.DBClusterSnapshotArn as string);
      rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [manual] });
      const { code, err } = await cli([
        'runs',
        'start',
        '--cluster',
        'orders-provisioned',
        '--snapshot',
        'orders-before-upgrade',
      ]);
      expect(code).toBe(1);
      expect(err).toBe(
        `error: Not started: the destination prefix ${PREFIX} of ${ACCESS_POINT} already holds the delivery of run ` +
          `orders-provisioned-202611270310-a1b2c3 (snapshot ${nov27.DBClusterSnapshotArn}); a run never writes over another ` +
          "run's delivery. Add {runId} to destination.keyPrefixTemplate to keep both, or remove the other delivery first.",
      );
      expect(published()).toEqual([]);
    });

    it('says so as JSON with the engine’s kind of error', async () => {
      await claim(PREFIX, 'orders-provisioned-202611270310-a1b2c3', nov27.DBClusterSnapshotArn as string);
      rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [manual] });
      const { code, out } = await cli([
        'runs',
        'start',
        '--cluster',
        'orders-provisioned',
        '--snapshot',
        'orders-before-upgrade',
        '--json',
      ]);
      expect(code).toBe(1);
      expect(JSON.parse(out).error.name).toBe('DestinationTaken');
    });

    it("goes ahead when the claim is another day's prefix", async () => {
      await claim(
        'me3/orders-provisioned/dt=2026-11-26',
        'orders-provisioned-202611260310-d4e5f6',
        nov26.DBClusterSnapshotArn as string,
      );
      rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [manual] });
      const { code } = await cli([
        'runs',
        'start',
        '--cluster',
        'orders-provisioned',
        '--snapshot',
        'orders-before-upgrade',
      ]);
      expect(code).toBe(0);
      expect(published()[0].body).toEqual({
        kind: 'start',
        clusterId: 'orders-provisioned',
        snapshotArn: manual.DBClusterSnapshotArn,
      });
    });
  });

  it('resolves the newest available automated snapshot, not one still being created', async () => {
    rds
      .on(DescribeDBClusterSnapshotsCommand)
      .resolves({ DBClusterSnapshots: [nov26, { ...nov27, Status: 'creating' }] });
    onSleep = async () =>
      void (await store().createRun(
        makeRun('orders-n', {
          ago: 0,
          stage: 'SUCCEEDED',
          sourceSnapshotId: nov26.DBClusterSnapshotIdentifier,
        }),
      ));
    const { code } = await cli(['runs', 'start', '--cluster', 'orders-provisioned', '--wait', '--json']);
    expect(code).toBe(0);
    expect(published()[0].body).toEqual({
      kind: 'start',
      clusterId: 'orders-provisioned',
      snapshotArn: nov26.DBClusterSnapshotArn,
    });
  });

  it('refuses a named snapshot that is not available instead of waiting for a run that never comes', async () => {
    rds
      .on(DescribeDBClusterSnapshotsCommand)
      .resolves({ DBClusterSnapshots: [snapshot('manual-1', '2026-11-27T10:00:00Z', { Status: 'creating' })] });
    const { code, err } = await cli([
      'runs',
      'start',
      '--cluster',
      'orders-provisioned',
      '--snapshot',
      'manual-1',
      '--wait',
    ]);
    expect(code).not.toBe(0);
    expect(err).toContain('Snapshot manual-1 is creating');
    expect(published()).toEqual([]);
  });

  it('follows the new run with --wait', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [nov26, nov27] });
    let step = 0;
    onSleep = async () => {
      step++;
      if (step === 1) await store().createRun(makeRun('orders-n', { ago: 0, stage: 'FAILED' }));
    };
    const { code, out, io } = await cli(['runs', 'start', '--cluster', 'orders-provisioned', '--wait', '--json']);
    expect(code).toBe(1);
    expect(published()[0].body).toEqual({
      kind: 'start',
      clusterId: 'orders-provisioned',
      snapshotArn: nov27.DBClusterSnapshotArn,
    });
    expect(JSON.parse(out).run).toMatchObject({ runId: 'orders-n', stage: 'FAILED' });
    expect(io.stderr.length).toBeGreaterThan(0);
  });
});

describe('Arguments checked before the run table is read', () => {
  /** A stack without a table: any command that got as far as reading runs would fail on that instead. */
  const noStack = {};

  it.each([
    [['runs', 'show', 'Orders_1'], '"Orders_1" is not a run id: run ids are at most 38 lowercase letters'],
    [['runs', 'retry', 'orders--x'], '"orders--x" is not a run id'],
    [['runs', 'cancel', `r${'x'.repeat(38)}`], 'is not a run id'],
    [['runs', 'retry', 'orders-f', '--poll-seconds', '0'], '--poll-seconds must be a positive number, got "0"'],
    [
      ['runs', 'cancel', 'orders-f', '--wait', '--timeout-minutes', '-5'],
      '--timeout-minutes must be a positive number',
    ],
    [['runs', 'list', '--limit', '2.5'], '--limit must be a positive whole number, got "2.5"'],
    [['runs', 'list', '--since', 'yesterday'], 'Cannot read --since "yesterday": use a duration such as 12h or 7d'],
    [['runs', 'list', '--since', '2026-02-30'], '--since 2026-02-30: there is no such day'],
    [['runs', 'list', '--since', '2027-01-01'], '--since 2027-01-01 is in the future'],
    [['runs', 'list', '--cluster', '-orders'], '--cluster "-orders" is not a DB cluster identifier'],
  ])('%j is a usage error', async (args, message) => {
    const { code, err } = await cli(args, noStack);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  it('notes a cluster that is not configured on stderr and lists its runs anyway', async () => {
    await seed(makeRun('billing-a', { ago: 30, sourceClusterId: 'billing' }));
    const { code, io } = await cli(['runs', 'list', '--cluster', 'billing']);
    expect(code).toBe(0);
    expect(io.stderr).toEqual([
      'note: billing is not a configured source cluster (me3-serverless, orders-provisioned); listing its runs anyway',
    ]);
    expect(io.stdout[1]).toMatch(/^billing-a /);
  });
});
