/**
 * Cost model from measured counts: `npm run bench:cost`.
 *
 * Delivers a synthetic export (BENCH_COST_OBJECTS, 20,000 × 64 KiB by default) through the real copy stage
 * with the deployed defaults (16 objects in flight per worker, batches of ≤ 1,000 objects, 512 MiB of
 * memory), on the in-memory S3 with the real-S3 timing model (bench/memory-s3.ts: median 100 ms per request),
 * so that invocation durations are the ones a night on AWS would bill. Invocations run one at a time, each
 * with a core to itself. It counts what it does:
 * - Lambda invocations of the copy function and their billed duration (each rounded up to the millisecond,
 *   × the configured memory), from the handler calls themselves;
 * - DynamoDB requests and the write and read units DynamoDB reports for them (ReturnConsumedCapacity);
 * - SNS publishes to the pipeline topic;
 * - S3 requests (CopyObject, LIST, the manifest's writes).
 * and prints them per million objects with their price at AWS list prices beside what S3 Batch Operations
 * charges for the same copy. The S3 requests are the same for both (one CopyObject per object) and are shown
 * apart. Prices: us-east-1 list prices as published on 2026-12-01 (see PRICES), without free tiers.
 *
 * The reconciler's passes (one invocation every `reconcilerPeriodMinutes`, whatever the size) and the other
 * stages' invocations are per run, not per object: they are left out of the per-object figure.
 */
import type { PipelineMessage, PipelinePublisher } from '../lambdas/shared/domain/messages';
import type { StageFunction } from '../lambdas/shared/domain/run';
import { benchSettings, buildCopyStage, sns } from './copy-stage';
import { startMemoryEmulator } from './emulators';
import { copyingRun, startDynaliteProcess } from './harness';
import { REAL_S3_MODEL } from './memory-s3';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const OBJECTS = Number(process.env.BENCH_COST_OBJECTS ?? 20_000);
const MEMORY_MIB = Number(process.env.BENCH_COST_MEMORY_MIB ?? 512);
const CONCURRENCY = 16;
const BATCH_OBJECTS = 1000;
const SOURCE = 'cost-export';
const DEST = 'cost-lake';
const PREFIX = 'exports/run-cost/task';

/** us-east-1 list prices used (USD), and where each comes from. Checked 2026-12-01. */
const PRICES = {
  lambdaGbSecond: 0.0000166667, // AWS Lambda pricing, x86, first 6 billion GB-s a month
  lambdaRequest: 0.2 / 1e6, // AWS Lambda pricing: $0.20 per million requests
  dynamoWriteUnit: 0.625 / 1e6, // DynamoDB on-demand: $0.625 per million write request units
  dynamoReadUnit: 0.125 / 1e6, // DynamoDB on-demand: $0.125 per million read request units
  snsPublish: 0.5 / 1e6, // SNS standard topics: $0.50 per million publishes (Lambda deliveries free)
  s3Copy: 0.005 / 1000, // S3 Standard: PUT, COPY, POST, LIST $0.005 per 1,000 requests
  s3Get: 0.0004 / 1000, // S3 Standard: GET and others $0.0004 per 1,000 requests
  batchOpsJob: 0.25, // S3 Batch Operations: $0.25 per job
  batchOpsObject: 1.0 / 1e6, // S3 Batch Operations: $1.00 per million objects processed
} as const;

async function main(): Promise<void> {
  const emulator = await startMemoryEmulator([SOURCE, DEST], { latencyMs: 0, model: REAL_S3_MODEL });
  const dynalite = await startDynaliteProcess();
  try {
    await dynalite.createRunTable('cost-runs');
    const tables = ['public.orders', 'public.customers', 'public.items', 'public.events'];
    const keys = Array.from(
      { length: OBJECTS },
      (_, i) => `${PREFIX}/shop/${tables[i % 4]}/1/part-${String(i).padStart(6, '0')}.gz.parquet`,
    );
    await emulator.seed(SOURCE, keys, { size: 64 * 1024 }, 'application/octet-stream');
    const info = JSON.stringify({ perTableStatus: tables.map((t) => ({ target: `shop.${t}`, status: 'COMPLETE' })) });
    await emulator.seed(SOURCE, [`${PREFIX}/export_tables_info_task_from_1_to_4.json`], { text: info }, 'text/json');

    const settings = benchSettings({
      tableName: 'cost-runs',
      sourceBucket: SOURCE,
      destinationBucket: DEST,
      concurrency: CONCURRENCY,
      batchMaxObjects: BATCH_OBJECTS,
    });
    const invocations: number[] = [];
    const cpuMs: number[] = [];
    const published: PipelineMessage[] = [];
    const queue: PipelineMessage[] = [];
    // The pipeline topic: every message is published (counted) and queued; invocations run one at a time, so
    // that each has this machine's core to itself as a Lambda container has its own, and its duration is its own.
    const publisher: PipelinePublisher = {
      publish: async (target: StageFunction, message: PipelineMessage) => {
        published.push(message);
        if (target === 'copy') queue.push(message);
      },
    };
    const stage = buildCopyStage(
      {
        s3Endpoint: emulator.endpoint,
        credentials: emulator.credentials,
        dynamoEndpoint: dynalite.endpoint,
        settings,
      },
      publisher,
    );
    const invoke = async (message: PipelineMessage) => {
      const start = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      await stage.handler(sns(message), {
        awsRequestId: `cost-${invocations.length}-${Math.random()}`,
        getRemainingTimeInMillis: () => 900_000 - Number(process.hrtime.bigint() - start) / 1e6,
      });
      invocations.push(Math.ceil(Number(process.hrtime.bigint() - start) / 1e6));
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
    };
    const run = copyingRun('run-cost', PREFIX, 'shop-cost');
    await stage.store.createRun(run);
    const before = await emulator.modelCounters?.();
    const started = Date.now();
    await publisher.publish('copy' as StageFunction, { kind: 'copy-plan', runId: run.runId });
    for (let next = queue.shift(); next; next = queue.shift()) await invoke(next);
    const seconds = (Date.now() - started) / 1000;
    const after = await emulator.modelCounters?.();
    const done = await stage.store.mustGet(run.runId);
    if (done.outcome !== 'SUCCEEDED' && done.stage !== 'CLEANING_UP')
      throw new Error(`the run did not finish: ${done.stage} ${JSON.stringify(done.error)}`);
    stage.destroy();

    const scale = 1e6 / OBJECTS;
    const gbSeconds = (invocations.reduce((a, b) => a + b, 0) / 1000) * (MEMORY_MIB / 1024);
    const s3Requests = (after?.requests ?? 0) - (before?.requests ?? 0);
    const lines: Array<[string, number, number]> = [
      ['Lambda invocations', invocations.length * scale, invocations.length * scale * PRICES.lambdaRequest],
      [`Lambda GB-s (${MEMORY_MIB} MiB)`, gbSeconds * scale, gbSeconds * scale * PRICES.lambdaGbSecond],
      [
        `DynamoDB write units (${stage.dynamo.writes} requests)`,
        stage.dynamo.writeUnits * scale,
        stage.dynamo.writeUnits * scale * PRICES.dynamoWriteUnit,
      ],
      [
        `DynamoDB read units (${stage.dynamo.reads} requests)`,
        stage.dynamo.readUnits * scale,
        stage.dynamo.readUnits * scale * PRICES.dynamoReadUnit,
      ],
      ['SNS publishes', published.length * scale, published.length * scale * PRICES.snsPublish],
    ];
    const ours = lines.reduce((sum, l) => sum + l[2], 0);
    // Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB. Where the copy's own CPU
    // time, scaled to that share, exceeds the measured duration, the function would be CPU-bound on Lambda.
    const vcpu = Math.min(1, MEMORY_MIB / 1769);
    const cpuBoundSeconds = invocations.reduce((sum, ms, i) => sum + Math.max(ms, (cpuMs[i] ?? 0) / vcpu), 0) / 1000;
    const cpuBoundGbSeconds = cpuBoundSeconds * (MEMORY_MIB / 1024);
    const batchOps = PRICES.batchOpsJob + PRICES.batchOpsObject * 1e6;
    const copies = 1e6 * PRICES.s3Copy;
    console.log(
      `cost model: ${OBJECTS.toLocaleString('en-US')} × 64 KiB copied in ${seconds.toFixed(1)} s through the copy stage ` +
        `(${CONCURRENCY} objects in flight per worker, batches of ≤ ${BATCH_OBJECTS}), S3 model: median ${REAL_S3_MODEL.medianMs} ms per request`,
    );
    console.log(
      `measured: ${invocations.length} invocations, ${gbSeconds.toFixed(1)} GB-s, ${stage.dynamo.writes} DynamoDB writes ` +
        `(${stage.dynamo.writeUnits} WCU), ${stage.dynamo.reads} reads (${stage.dynamo.readUnits} RCU), ${published.length} SNS publishes, ${s3Requests} S3 requests`,
    );
    console.log('');
    console.log('per million objects, us-east-1 list prices (USD, 2026-12-01, no free tier)');
    console.log('item                                         count        cost');
    for (const [name, count, cost] of lines)
      console.log(`${name.padEnd(40)} ${count.toFixed(0).padStart(10)} ${cost.toFixed(4).padStart(11)}`);
    console.log(`${'copy stage, total'.padEnd(40)} ${''.padStart(10)} ${ours.toFixed(4).padStart(11)}`);
    console.log(
      `${'S3 Batch Operations ($0.25/job + $1/M)'.padEnd(40)} ${''.padStart(10)} ${batchOps.toFixed(4).padStart(11)}`,
    );
    console.log(
      `${'common to both: 1M CopyObject ($0.005/1k)'.padEnd(40)} ${''.padStart(10)} ${copies.toFixed(4).padStart(11)}`,
    );
    console.log(
      `${'  our other S3 requests (LIST, manifest)'.padEnd(40)} ${((s3Requests - OBJECTS) * scale).toFixed(0).padStart(10)} ${((s3Requests - OBJECTS) * scale * PRICES.s3Copy).toFixed(4).padStart(11)}`,
    );
    const cpuTotal = cpuMs.reduce((a, b) => a + b, 0);
    console.log(
      `CPU: ${(cpuTotal / OBJECTS).toFixed(2)} ms per object; at ${MEMORY_MIB} MiB (${vcpu.toFixed(2)} vCPU) the copy would bill ` +
        `${(cpuBoundGbSeconds * scale).toFixed(0)} GB-s per million objects where CPU binds, ` +
        `$${(cpuBoundGbSeconds * scale * PRICES.lambdaGbSecond).toFixed(4)}; total $${(ours - gbSeconds * scale * PRICES.lambdaGbSecond + cpuBoundGbSeconds * scale * PRICES.lambdaGbSecond).toFixed(4)}`,
    );
    console.log('');
    console.log(
      `copy stage ÷ S3 Batch Operations: ${(ours / batchOps).toFixed(2)} (${ours < batchOps ? 'below' : 'ABOVE'}; target: below). ` +
        'Batch Operations also needs a manifest (an S3 Inventory report or a CSV written by us), not counted here.',
    );
  } finally {
    dynalite.stop();
    await emulator.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
