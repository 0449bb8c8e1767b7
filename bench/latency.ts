/**
 * Latency-true copy benchmark: `npm run bench:latency`.
 *
 * The emulators answer in microseconds; real S3 answers a CopyObject in tens to hundreds of milliseconds and
 * refuses writes to a prefix past its rate. This benchmark runs the in-memory S3 with a model of real S3
 * (bench/memory-s3.ts, `S3Model`): log-normal latency per request (median 100 ms, σ 0.35), copy time growing
 * with size (100 MiB/s per request), and 503 SlowDown past 3,500 writes per second per prefix. Under that model
 * and the same total concurrency C it delivers the same export with:
 * - the copy stage, fanned out as Lambda runs it: W workers (one thread each, a warm container), C / W objects
 *   in flight in each, the run table on dynalite in its own process;
 * - `aws s3 cp --recursive` with `s3.max_concurrent_requests = C`;
 * - `rclone copy` (server-side copy within one remote) with `--transfers C --checkers C`.
 *
 * Beside each row it prints the latency bound: min(C, objects) ÷ the model's mean time of one CopyObject of that size
 * (objects/s, and MiB/s), the most any client can do at that concurrency whatever its CPU; and the share of
 * the machine's cores the client used, which tells when CPU, not latency, sets the pace.
 *
 * Knobs: BENCH_SMALL_OBJECTS (40000 × 64 KiB: an export large enough that planning and finalization, fixed costs,
 * weigh about 1%), BENCH_MEDIUM_OBJECTS (64 × 64 MiB), BENCH_TOTAL_CONCURRENCY
 * (`64,256`), BENCH_WORKERS (4), BENCH_BATCHES_PER_WORKER (4: the export's batches per worker, by count and bytes, more when a batch would hold more than the default 1,000 objects, fewer when it would hold less than a worker copies at once), BENCH_CLIENTS (`copy,aws,rclone`), BENCH_COPY_PATH (`direct`, as deployed; `sdk`
 * sends every CopyObject through the SDK's client), BENCH_MEDIAN_MS (100), BENCH_SIGMA (0.35),
 * BENCH_COPY_MIBPS (100), BENCH_PREFIX_WRITES (3500).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineMessage } from '../lambdas/shared/domain/messages';
import type { StageFunction } from '../lambdas/shared/domain/run';
import { benchSettings, buildCopyStage, type CopyStageSetup } from './copy-stage';
import { startMemoryEmulator, type Emulator } from './emulators';
import {
  cliConfig,
  deliverRun,
  cliVersion,
  FanOut,
  measure,
  runCli,
  startDynaliteProcess,
  WorkerPool,
} from './harness';
import { REAL_S3_MODEL, type S3Model } from './memory-s3';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const CORES = cpus().length;
const SMALL = Number(process.env.BENCH_SMALL_OBJECTS ?? 40000);
const MEDIUM = Number(process.env.BENCH_MEDIUM_OBJECTS ?? 64);
const TOTALS = (process.env.BENCH_TOTAL_CONCURRENCY ?? '64,256').split(',').map(Number);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const BATCHES_PER_WORKER = Number(process.env.BENCH_BATCHES_PER_WORKER ?? 4);
/** The configuration's default batch size (`copy.batchMaxObjects`). */
const DEFAULT_BATCH_MAX_OBJECTS = 1000;
const CLIENTS = (process.env.BENCH_CLIENTS ?? 'copy,aws,rclone').split(',').map((c) => c.trim());
const COPY_PATH = process.env.BENCH_COPY_PATH === 'sdk' ? 'sdk' : 'direct';
const MODEL: S3Model = {
  medianMs: Number(process.env.BENCH_MEDIAN_MS ?? REAL_S3_MODEL.medianMs),
  sigma: Number(process.env.BENCH_SIGMA ?? REAL_S3_MODEL.sigma),
  copyMiBps: Number(process.env.BENCH_COPY_MIBPS ?? REAL_S3_MODEL.copyMiBps),
  writesPerSecondPerPrefix: Number(process.env.BENCH_PREFIX_WRITES ?? REAL_S3_MODEL.writesPerSecondPerPrefix),
};
const SOURCE = 'bench-export';
/** The export of the untimed warm-up delivery each worker gets first. */
const WARM_PREFIX = 'exports/warm/task';
const DEST = 'bench-lake';
const TABLES = ['public.orders', 'public.customers', 'public.items', 'public.events'];

interface Phase {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly objects: number;
  readonly objectBytes: number;
}

interface Row {
  readonly client: string;
  readonly concurrency: number;
  readonly phase: Phase;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly slowDowns: number;
  readonly requests: number;
  /** Sum of the latencies the model drew for the client's requests, in seconds. */
  readonly latencySeconds: number;
  /** Share of the machine's CPU time that was busy (every process: client, emulators, anything else). */
  readonly machineBusy: number;
  /** The copy stage: how long the planner took before its handler returned. */
  readonly planSeconds?: number;
}

/** The model's mean time of one CopyObject of `bytes`: the log-normal's mean plus the bytes at the copy rate. */
function meanCopySeconds(bytes: number): number {
  return (MODEL.medianMs * Math.exp((MODEL.sigma * MODEL.sigma) / 2)) / 1000 + bytes / (MODEL.copyMiBps * MiB);
}

const dataKeys = (phase: Phase) =>
  Array.from(
    { length: phase.objects },
    (_, i) => `${phase.prefix}/shop/${TABLES[i % TABLES.length]}/1/part-${String(i).padStart(5, '0')}-0b6d.gz.parquet`,
  );

async function seed(emulator: Emulator, phase: Phase): Promise<void> {
  await emulator.seed(SOURCE, dataKeys(phase), { size: phase.objectBytes }, 'application/octet-stream');
  const info = JSON.stringify({ perTableStatus: TABLES.map((t) => ({ target: `shop.${t}`, status: 'COMPLETE' })) });
  await emulator.seed(
    SOURCE,
    [`${phase.prefix}/export_tables_info_task_from_1_to_4.json`],
    { text: info },
    'text/json',
  );
}

/** The machine's CPU time so far, busy and in all (Linux `/proc/stat`, every process); NaN elsewhere. */
function machineCpu(): { busy: number; total: number } {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string)
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    // idle and iowait
    return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** What the model did while `work` ran, and how busy the whole machine was. */
async function modelled<T>(
  emulator: Emulator,
  work: () => Promise<T>,
): Promise<T & { slowDowns: number; requests: number; latencySeconds: number; machineBusy: number }> {
  const before = await emulator.modelCounters?.();
  const cpu = machineCpu();
  const out = await work();
  const used = machineCpu();
  const after = await emulator.modelCounters?.();
  return {
    ...out,
    machineBusy: (used.busy - cpu.busy) / (used.total - cpu.total),
    slowDowns: (after?.slowDowns ?? 0) - (before?.slowDowns ?? 0),
    requests: (after?.requests ?? 0) - (before?.requests ?? 0),
    latencySeconds: ((after?.latencyMs ?? 0) - (before?.latencyMs ?? 0)) / 1000,
  };
}

/** The copy stage at total concurrency `total`: W worker threads, each with total / W objects in flight. */
async function copyStage(
  emulator: Emulator,
  dynamoEndpoint: string,
  total: number,
  phases: readonly Phase[],
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const phase of phases) {
    // At least BATCHES_PER_WORKER batches per worker, and batches of at most the configuration's default
    // (copy.batchMaxObjects), each at least as large as what a worker copies at once.
    const perWorker = Math.max(1, Math.floor(total / WORKERS));
    const batchesPerWorker = Math.max(
      1,
      Math.min(
        Math.max(BATCHES_PER_WORKER, Math.ceil(phase.objects / (WORKERS * DEFAULT_BATCH_MAX_OBJECTS))),
        Math.floor(phase.objects / (WORKERS * perWorker)),
      ),
    );
    const settings = benchSettings({
      tableName: 'bench-runs',
      sourceBucket: SOURCE,
      destinationBucket: DEST,
      concurrency: perWorker,
      batchMaxObjects: Math.ceil((phase.objects + 1) / (WORKERS * batchesPerWorker)),
    });
    // By bytes as well as by count; the function's worker bound is the pool's threads plus the planner's own
    // execution.
    const cfg = {
      ...settings,
      copy: {
        ...settings.copy,
        batchMaxGiB: (phase.objects * phase.objectBytes) / (WORKERS * batchesPerWorker) / GiB + 1e-6,
        maxWorkers: WORKERS + 1,
      },
    };
    const setup: CopyStageSetup = {
      s3Endpoint: emulator.endpoint,
      credentials: emulator.credentials,
      dynamoEndpoint,
      settings: cfg,
      copyPath: COPY_PATH,
    };
    const fanOut = new FanOut();
    const planner = buildCopyStage(setup, fanOut);
    const pool = new WorkerPool(
      WORKERS,
      setup,
      (m: PipelineMessage) => void fanOut.publish('copy' as StageFunction, m),
    );
    fanOut.deliver = (message) => pool.run(message);
    try {
      // Warm every worker (code loading, first connections) on a small delivery, untimed.
      for (let i = 0; i < WORKERS; i++)
        await deliverRun(planner, fanOut, `warm-${total}-${phase.id}-${i}`, WARM_PREFIX);
      let planSeconds = 0;
      const r = await modelled(emulator, () =>
        measure(async () => {
          planSeconds = (await deliverRun(planner, fanOut, `run-${total}-${phase.id}`, phase.prefix)).planSeconds;
        }),
      );
      rows.push({
        client: `copy stage ${WORKERS}×${settings.copy.concurrency}${COPY_PATH === 'sdk' ? ' sdk' : ''}`,
        concurrency: total,
        phase,
        seconds: r.seconds,
        cpuSeconds: r.cpuSeconds,
        slowDowns: r.slowDowns,
        requests: r.requests,
        latencySeconds: r.latencySeconds,
        machineBusy: r.machineBusy,
        planSeconds,
      });
    } finally {
      await pool.close();
      planner.destroy();
    }
  }
  return rows;
}

async function awsCli(emulator: Emulator, folder: string, total: number, phases: readonly Phase[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const phase of phases) {
    const r = await modelled(emulator, async () =>
      runCli(emulator, cliConfig(folder, total), [
        's3',
        'cp',
        '--recursive',
        '--only-show-errors',
        `s3://${SOURCE}/${phase.prefix}/`,
        `s3://${DEST}/aws-${total}/${phase.prefix}/`,
      ]),
    );
    rows.push({ client: `aws s3 cp ×${total}`, concurrency: total, phase, ...r });
  }
  return rows;
}

function rcloneVersion(): string | undefined {
  const out = spawnSync('rclone', ['version'], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.split('\n')[0]?.trim() : undefined;
}

/** `rclone copy` within one remote, which copies server-side; CPU from the shell's `times`. */
function rclone(emulator: Emulator, total: number, phase: Phase): { seconds: number; cpuSeconds: number } {
  const start = process.hrtime.bigint();
  const args = [
    'copy',
    `lake:${SOURCE}/${phase.prefix}`,
    `lake:${DEST}/rclone-${total}/${phase.prefix}`,
    '--transfers',
    String(total),
    '--checkers',
    String(total),
    '--no-check-dest',
    '--s3-no-check-bucket',
    // One recursive listing, as the CLI and the copy stage list, rather than one listing per folder.
    '--fast-list',
    '--retries',
    '3',
  ];
  const out = spawnSync('sh', ['-c', '"$@"; status=$?; times; exit $status', 'sh', 'rclone', ...args], {
    encoding: 'utf8',
    env: {
      // A CA bundle for real AWS endpoints means nothing to an http emulator, and rclone refuses to start with one.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'AWS_CA_BUNDLE')),
      RCLONE_CONFIG: '/dev/null',
      RCLONE_CONFIG_LAKE_TYPE: 's3',
      RCLONE_CONFIG_LAKE_PROVIDER: 'Other',
      RCLONE_CONFIG_LAKE_ENDPOINT: emulator.endpoint,
      RCLONE_CONFIG_LAKE_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
      RCLONE_CONFIG_LAKE_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
      RCLONE_CONFIG_LAKE_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG_LAKE_LIST_VERSION: '2',
      RCLONE_CONFIG_LAKE_REGION: 'us-east-1',
    },
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (out.status !== 0) throw new Error(`rclone ${args.join(' ')} failed: ${out.stderr}`);
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(out.stdout.trim().split('\n').pop() ?? '');
  const cpuSeconds = m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : Number.NaN;
  return { seconds, cpuSeconds };
}

const f = (n: number, width: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-').padStart(width);

function print(row: Row): void {
  const objectsPerSecond = row.phase.objects / row.seconds;
  const mibPerSecond = (row.phase.objects * row.phase.objectBytes) / MiB / row.seconds;
  // No client can have more objects in flight than there are.
  const bound = Math.min(row.concurrency, row.phase.objects) / meanCopySeconds(row.phase.objectBytes);
  const boundMiB = (bound * row.phase.objectBytes) / MiB;
  const cpuMs = (row.cpuSeconds * 1000) / row.phase.objects;
  const cores = (row.cpuSeconds / row.seconds / CORES) * 100;
  console.log(
    `${row.client.padEnd(20)} ${row.phase.name.padEnd(13)} ${f(row.seconds, 7, 2)} ${f(objectsPerSecond, 9)} ${f(mibPerSecond, 8)} ` +
      `${f(bound, 9)} ${f(boundMiB, 8)} ${f((objectsPerSecond / bound) * 100, 6, 0)}% ${f(row.latencySeconds / row.seconds, 9)} ${f(row.requests / row.phase.objects, 7, 2)} ` +
      `${f(cpuMs, 8, 2)} ${f(cores, 6, 0)}% ${f(row.machineBusy * 100, 7, 0)}% ${String(row.slowDowns).padStart(6)}`,
  );
  if (row.planSeconds !== undefined)
    console.log(`${''.padEnd(20)} (planning: ${row.planSeconds.toFixed(2)} s until the planner's handler returned)`);
}

async function main(): Promise<void> {
  const phases: Phase[] = [
    { id: 'small', name: `${SMALL} × 64 KiB`, prefix: 'exports/run-small/task', objects: SMALL, objectBytes: 64 * KiB },
    {
      id: 'medium',
      name: `${MEDIUM} × 64 MiB`,
      prefix: 'exports/run-medium/task',
      objects: MEDIUM,
      objectBytes: 64 * MiB,
    },
  ].filter((p) => p.objects > 0);
  const emulator = await startMemoryEmulator([SOURCE, DEST], { latencyMs: 0, model: MODEL });
  const dynalite = await startDynaliteProcess();
  const folder = mkdtempSync(join(tmpdir(), 'bench-latency-'));
  const aws = CLIENTS.includes('aws') ? cliVersion() : undefined;
  const rc = CLIENTS.includes('rclone') ? rcloneVersion() : undefined;
  try {
    await dynalite.createRunTable('bench-runs');
    for (const phase of phases) await seed(emulator, phase);
    await emulator.seed(
      SOURCE,
      [`${WARM_PREFIX}/shop/public.orders/1/part-0.gz.parquet`],
      { size: KiB },
      'application/octet-stream',
    );
    console.log(`latency-true copy benchmark: ${CORES} cores; ${emulator.description}`);
    console.log(
      `clients: copy stage (${WORKERS} workers)${aws ? `; ${aws}` : '; aws CLI not found'}${rc ? `; ${rc}` : '; rclone not found'}`,
    );
    console.log(
      'bound = concurrency ÷ the model\'s mean time of one CopyObject of that size; "% bound" = objects/s ÷ bound; ' +
        '"in flight" = S3 requests the model held on average (its drawn latencies ÷ seconds); req/obj = S3 requests per object; ' +
        "CPU and cores = the client's own; machine = how busy all cores were (every process)",
    );
    const all: Row[] = [];
    for (const total of TOTALS) {
      console.log('');
      console.log(`== total concurrency ${total} ==`);
      console.log(
        'client               phase         seconds objects/s    MiB/s  bound/s bound MiB/s % bound in flight req/obj CPU ms/obj  cores machine SlowDn',
      );
      const rows: Row[] = [];
      if (CLIENTS.includes('copy')) rows.push(...(await copyStage(emulator, dynalite.endpoint, total, phases)));
      if (aws) rows.push(...(await awsCli(emulator, folder, total, phases)));
      if (rc)
        for (const phase of phases) {
          const r = await modelled(emulator, async () => rclone(emulator, total, phase));
          rows.push({ client: `rclone copy ×${total}`, concurrency: total, phase, ...r });
        }
      rows.forEach(print);
      all.push(...rows);
      for (const phase of phases) {
        const ours = rows.find((r) => r.client.startsWith('copy stage') && r.phase.id === phase.id);
        const others = rows.filter((r) => !r.client.startsWith('copy stage') && r.phase.id === phase.id);
        if (!ours || others.length === 0) continue;
        const best = others.reduce((a, b) => (a.seconds < b.seconds ? a : b));
        console.log(
          `${phase.name}: copy stage / ${best.client} (the better of the others) = ${(best.seconds / ours.seconds).toFixed(2)}× objects/s`,
        );
      }
    }
    const ours = all.filter((r) => r.client.startsWith('copy stage') && r.phase.id === 'small');
    if (ours.length > 0) {
      console.log('');
      console.log(
        `copy stage, small objects: client CPU ${ours.map((r) => `${((r.cpuSeconds * 1000) / r.phase.objects).toFixed(2)} ms/object at ${r.concurrency}`).join(', ')} (target ≤ 0.5)`,
      );
    }
  } finally {
    dynalite.stop();
    await emulator.stop();
    rmSync(folder, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
