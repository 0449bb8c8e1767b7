/**
 * Copy benchmark: `npm run bench:copy`.
 *
 * Generates an export on a local S3 emulator (s3rver) — 2,000 × 64 KiB and 20 × 4 MiB objects by default —
 * and delivers it bucket to bucket through the real copy stage (planner, batch workers running side by side
 * as SNS would fan them out, per-object progress on a local DynamoDB, manifest and `_SUCCESS`). It prints
 * objects/s, MiB/s and the peak RSS of each phase (small objects, large objects), so one can see memory stay
 * flat whatever the object size: the copy is server-side and no byte passes through the function.
 *
 * When the AWS CLI is installed, it then times `aws s3 cp --recursive` between two buckets of the same
 * emulator on the same data, and prints the ratio of objects/s.
 *
 * Knobs: BENCH_SMALL_OBJECTS, BENCH_LARGE_OBJECTS, BENCH_CONCURRENCY (objects in flight per worker),
 * BENCH_S3RVER_PROCESSES (emulator processes sharing one port; default 2, so the emulator is less of a ceiling).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import type { SNSEvent } from 'aws-lambda';
import { makeHandler } from '../lambdas/copy/handler';
import { CopyBatchStore } from '../lambdas/shared/adapters/copy-batch-store';
import { RunStore, defaultDocumentClient } from '../lambdas/shared/adapters/run-store';
import { createCopyS3Client } from '../lambdas/shared/adapters/s3-copy';
import type { PipelineMessage, PipelinePublisher } from '../lambdas/shared/domain/messages';
import type { Run, StageFunction } from '../lambdas/shared/domain/run';
import { silentLogger } from '../lambdas/shared/logger';
import type { RuntimeSettings } from '../lambdas/shared/settings';
import { createRunTable } from '../__tests__/support/dynalite';
import { S3RVER_CREDENTIALS, startS3rver, type S3rverHandle } from '../__tests__/support/s3rver';

const KiB = 1024;
const MiB = 1024 * KiB;
const SMALL = Number(process.env.BENCH_SMALL_OBJECTS ?? 2000);
const LARGE = Number(process.env.BENCH_LARGE_OBJECTS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WORKERS = Number(process.env.BENCH_S3RVER_PROCESSES ?? 2);
const SOURCE = 'bench-export';
const DEST = 'bench-lake';
const DEST_CLI = 'bench-lake-cli';

interface Phase {
  readonly name: string;
  readonly prefix: string;
  readonly objects: number;
  readonly bytes: number;
}

/** Samples RSS while `work` runs; returns its duration and the peak. */
async function measure(work: () => Promise<void>): Promise<{ seconds: number; peakRssMiB: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const start = process.hrtime.bigint();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, peakRssMiB: peak / MiB };
}

function seed(s3rver: S3rverHandle, phase: Phase, count: number, size: number): void {
  const body = randomBytes(size);
  const tables = ['public.orders', 'public.customers', 'public.items', 'public.events'];
  s3rver.seed(
    SOURCE,
    Array.from({ length: count }, (_, i) => ({
      key: `${phase.prefix}/shop/${tables[i % tables.length]}/1/part-${String(i).padStart(5, '0')}-0b6d.gz.parquet`,
      body,
      contentType: 'application/octet-stream',
    })),
  );
  s3rver.seed(SOURCE, [
    {
      key: `${phase.prefix}/export_tables_info_task_from_1_to_4.json`,
      body: JSON.stringify({ perTableStatus: tables.map((t) => ({ target: `shop.${t}`, status: 'COMPLETE', sizeGB: 0 })) }),
      contentType: 'application/json',
    },
  ]);
}

function settings(tableName: string): RuntimeSettings {
  return {
    namePrefix: 'bench',
    tempResourcePrefix: 'bench-tmp-',
    managedByTag: 'bench',
    accountId: '123456789012',
    tableName,
    exportBucket: SOURCE,
    exportPrefix: 'exports',
    exportKmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
    exportRoleArn: 'arn:aws:iam::123456789012:role/bench-export',
    pipelineTopicArn: 'arn:aws:sns:us-east-1:123456789012:bench-pipeline',
    alertTopicArns: [],
    notifyOnSuccess: false,
    sourceClusters: [{ identifier: 'shop', exportMode: 'auto', exportOnly: [] }],
    restore: { vpcSecurityGroupIds: [] },
    destination: { bucket: DEST, expectedOwnerAccountId: '210987654321', keyPrefixTemplate: 'lake/{cluster}/{dt}/{runId}', aclMode: 'none' },
    tableFailurePolicy: 'fail',
    copy: { concurrency: CONCURRENCY, partSizeMiB: 128, batchMaxObjects: 1000, batchMaxGiB: 50 },
    stageDeadlinesMinutes: { restoring: 120, snapshotting: 120, waitingForExportSlot: 720, exporting: 720, copying: 240, cleaningUp: 60 },
    orphanGraceMinutes: 240,
    runRetentionDays: 1,
  };
}

/** Stands in for the pipeline topic: delivers every copy-batch message to its own worker at once. */
class FanOut implements PipelinePublisher {
  readonly inFlight: Promise<void>[] = [];
  deliver: (message: PipelineMessage) => Promise<void> = async () => undefined;
  async publish(_target: StageFunction, message: PipelineMessage): Promise<void> {
    if (message.kind === 'copy-batch') this.inFlight.push(this.deliver(message));
  }
  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift();
  }
}

const sns = (message: PipelineMessage) => ({ Records: [{ Sns: { Message: JSON.stringify(message) } }] }) as unknown as SNSEvent;

/** Starts dynalite in its own process, as DynamoDB is a remote service: its work is not the copier's. */
async function startDynaliteProcess(): Promise<{ endpoint: string; stop: () => void }> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const child = spawn(process.execPath, [require.resolve('dynalite/cli.js'), '--port', String(port), '--host', '127.0.0.1', '--createTableMs', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

function cliAvailable(): boolean {
  return spawnSync('aws', ['--version'], { encoding: 'utf8' }).status === 0;
}

function timeCli(endpoint: string, phase: Phase): number {
  const start = process.hrtime.bigint();
  const out = spawnSync('aws', ['s3', 'cp', '--recursive', '--only-show-errors', `s3://${SOURCE}/${phase.prefix}/`, `s3://${DEST_CLI}/${phase.prefix}/`, '--endpoint-url', endpoint], {
    encoding: 'utf8',
    env: { ...process.env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' },
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (out.status !== 0) throw new Error(`aws s3 cp failed: ${out.stderr}`);
  return seconds;
}

const fmt = (n: number, digits = 1) => n.toFixed(digits).padStart(8);

async function main(): Promise<void> {
  const [s3rver, dynalite] = await Promise.all([startS3rver([SOURCE, DEST, DEST_CLI], { workers: WORKERS }), startDynaliteProcess()]);
  try {
    const phases: Phase[] = [
      { name: `${SMALL} × 64 KiB`, prefix: 'exports/run-small/task', objects: SMALL, bytes: SMALL * 64 * KiB },
      { name: `${LARGE} × 4 MiB`, prefix: 'exports/run-large/task', objects: LARGE, bytes: LARGE * 4 * MiB },
    ];
    seed(s3rver, phases[0] as Phase, SMALL, 64 * KiB);
    seed(s3rver, phases[1] as Phase, LARGE, 4 * MiB);

    const tableName = 'bench-runs';
    const dynamo = new DynamoDBClient({ region: 'us-east-1', endpoint: dynalite.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    await createRunTable(dynamo, tableName);
    const cfg = settings(tableName);
    const documentClient = defaultDocumentClient(dynamo);
    const store = new RunStore({ tableName, client: documentClient, deadlinesMinutes: cfg.stageDeadlinesMinutes, retentionDays: 1 });
    const batches = new CopyBatchStore({ tableName, client: documentClient });
    const s3 = createCopyS3Client({
      region: 'us-east-1',
      endpoint: s3rver.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const fanOut = new FanOut();
    const handler = makeHandler({ settings: cfg, store, batches, s3, publisher: fanOut, logger: silentLogger(), principal: async () => 'bench' });
    fanOut.deliver = (message) => handler(sns(message));

    console.log(`copy benchmark on s3rver ${s3rver.endpoint} (${WORKERS} process(es)): worker concurrency ${CONCURRENCY}, batches of ≤ ${cfg.copy.batchMaxObjects} objects`);
    console.log('');
    console.log('phase              objects   MiB    seconds  objects/s     MiB/s  peak RSS MiB');
    const ours: Array<{ phase: Phase; seconds: number }> = [];
    for (const phase of phases) {
      const runId = phase.prefix.split('/')[1] as string;
      const now = new Date().toISOString();
      const run: Run = {
        runId,
        attempt: 1,
        sourceClusterId: 'shop',
        sourceSnapshotId: `rds:shop-${runId}`,
        sourceSnapshotArn: `arn:aws:rds:us-east-1:123456789012:cluster-snapshot:rds:shop-${runId}`,
        sourceSnapshotCreatedAt: now,
        path: 'direct',
        stage: 'COPYING',
        exportTaskId: 'task',
        exportAttempt: 1,
        exportS3Prefix: phase.prefix,
        stageEnteredAt: { COPYING: now },
        createdAt: now,
        updatedAt: now,
      };
      await store.createRun(run);
      const m = await measure(async () => {
        await handler(sns({ kind: 'copy-plan', runId }));
        await fanOut.drain();
      });
      const done = await store.mustGet(runId);
      if (done.outcome !== 'SUCCEEDED') throw new Error(`run ${runId} did not succeed: ${JSON.stringify(done.error)}`);
      ours.push({ phase, seconds: m.seconds });
      console.log(
        `copy stage ${phase.name.padEnd(12)} ${String(phase.objects).padStart(5)} ${fmt(phase.bytes / MiB, 0)} ${fmt(m.seconds, 2)} ${fmt(phase.objects / m.seconds)} ${fmt(phase.bytes / MiB / m.seconds)} ${fmt(m.peakRssMiB)}`,
      );
    }
    const total = (xs: Array<{ phase: Phase; seconds: number }>) => ({
      objects: xs.reduce((s, x) => s + x.phase.objects, 0),
      bytes: xs.reduce((s, x) => s + x.phase.bytes, 0),
      seconds: xs.reduce((s, x) => s + x.seconds, 0),
    });
    const t = total(ours);
    console.log(`copy stage all            ${String(t.objects).padStart(5)} ${fmt(t.bytes / MiB, 0)} ${fmt(t.seconds, 2)} ${fmt(t.objects / t.seconds)} ${fmt(t.bytes / MiB / t.seconds)}`);
    s3.destroy();

    if (!cliAvailable()) {
      console.log('');
      console.log('aws CLI not found: no comparison (install awscli to get the ratio)');
      return;
    }
    const version = spawnSync('aws', ['--version'], { encoding: 'utf8' });
    const cli = phases.map((phase) => ({ phase, seconds: timeCli(s3rver.endpoint, phase) }));
    for (const c of cli) {
      console.log(`aws s3 cp  ${c.phase.name.padEnd(12)} ${String(c.phase.objects).padStart(5)} ${fmt(c.phase.bytes / MiB, 0)} ${fmt(c.seconds, 2)} ${fmt(c.phase.objects / c.seconds)} ${fmt(c.phase.bytes / MiB / c.seconds)}`);
    }
    const c = total(cli);
    console.log(`aws s3 cp  all            ${String(c.objects).padStart(5)} ${fmt(c.bytes / MiB, 0)} ${fmt(c.seconds, 2)} ${fmt(c.objects / c.seconds)} ${fmt(c.bytes / MiB / c.seconds)}`);
    console.log('');
    console.log(`CLI: ${(version.stdout || version.stderr).trim()}`);
    ours.forEach((o, i) => {
      const other = cli[i] as { phase: Phase; seconds: number };
      console.log(`ratio ${o.phase.name.padEnd(12)} (copy stage / aws s3 cp), objects/s: ${(other.seconds / o.seconds).toFixed(2)}×`);
    });
    console.log(`ratio all          (copy stage / aws s3 cp), objects/s: ${((t.objects / t.seconds) / (c.objects / c.seconds)).toFixed(2)}×  (target ≥ 2×)`);
  } finally {
    dynalite.stop();
    await s3rver.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
