/**
 * What the copy benchmarks share: timing a piece of work with its peak memory and CPU, the pipeline topic's
 * fan-out, warm copy-stage workers on threads (one per Lambda container), and dynalite in a process of its own.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PipelineMessage, PipelinePublisher } from '../lambdas/shared/domain/messages';
import type { Run, StageFunction } from '../lambdas/shared/domain/run';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createRunTable } from '../__tests__/support/dynalite';
import { sns, type CopyStage, type CopyStageSetup } from './copy-stage';
import type { Emulator } from './emulators';

const MiB = 1024 * 1024;

/**
 * A direct-export run of the `shop` cluster already in COPYING, its export under `exportS3Prefix`: what every copy
 * benchmark (and the benchmark's own test) hands the copy stage.
 */
export function copyingRun(runId: string, exportS3Prefix: string, snapshotName = `shop-${runId}`): Run {
  const now = new Date().toISOString();
  return {
    runId,
    attempt: 1,
    sourceClusterId: 'shop',
    sourceSnapshotId: `rds:${snapshotName}`,
    sourceSnapshotArn: `arn:aws:rds:us-east-1:123456789012:cluster-snapshot:rds:${snapshotName}`,
    sourceSnapshotCreatedAt: now,
    path: 'direct',
    stage: 'COPYING',
    exportTaskId: 'task',
    exportAttempt: 1,
    exportS3Prefix,
    stageEnteredAt: { COPYING: now },
    createdAt: now,
    updatedAt: now,
  };
}

/** Samples RSS while `work` runs; returns its duration, the peak and the process's CPU time. */
export async function measure(
  work: () => Promise<void>,
): Promise<{ seconds: number; peakRssMiB: number; cpuSeconds: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const used = process.cpuUsage(cpu);
  peak = Math.max(peak, process.memoryUsage().rss);
  return {
    seconds: Number(process.hrtime.bigint() - start) / 1e9,
    peakRssMiB: peak / MiB,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}

/** Stands in for the pipeline topic: hands every copy-batch message to a worker at once. */
export class FanOut implements PipelinePublisher {
  readonly inFlight: Promise<void>[] = [];
  deliver: (message: PipelineMessage) => Promise<void> = async () => undefined;
  async publish(_target: StageFunction, message: PipelineMessage): Promise<void> {
    if (message.kind === 'copy-batch') this.inFlight.push(this.deliver(message));
  }
  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift();
  }
}

/**
 * Warm copy-stage workers, one thread each (bench/copy-worker.ts), each taking one message at a time like a
 * Lambda container; a message goes to the worker idle the longest.
 */
export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ message: PipelineMessage; resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly running = new Map<number, { worker: Worker; resolve: () => void; reject: (e: Error) => void }>();
  private readonly workers: Worker[] = [];
  private nextId = 0;

  constructor(size: number, setup: CopyStageSetup, onPublish: (message: PipelineMessage) => void) {
    const entry = `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(join(__dirname, 'copy-worker.ts'))});`;
    for (let i = 0; i < size; i++) {
      const worker = new Worker(entry, { eval: true, workerData: setup });
      worker.on('message', (m: { publish?: PipelineMessage; done?: number; error?: string }) => {
        if (m.publish) onPublish(m.publish);
        if (m.done === undefined) return;
        const job = this.running.get(m.done);
        this.running.delete(m.done);
        this.idle.push(worker);
        if (m.error) job?.reject(new Error(m.error));
        else job?.resolve();
        this.pump();
      });
      worker.on('error', (e) => {
        for (const [id, job] of this.running)
          if (job.worker === worker) {
            this.running.delete(id);
            job.reject(e);
          }
      });
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  run(message: PipelineMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.shift() as Worker;
      const job = this.queue.shift() as (typeof this.queue)[number];
      const id = ++this.nextId;
      this.running.set(id, { worker, resolve: job.resolve, reject: job.reject });
      worker.postMessage({ id, message: job.message });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Starts dynalite in its own process, as DynamoDB is a remote service: its work is not the copier's. */
export async function startDynaliteProcess(): Promise<{
  endpoint: string;
  pid: number;
  /** Creates a run table (the deployed table's layout) named `tableName`. */
  createRunTable: (tableName: string) => Promise<void>;
  stop: () => void;
}> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const child = spawn(
    process.execPath,
    [require.resolve('dynalite/cli.js'), '--port', String(port), '--host', '127.0.0.1', '--createTableMs', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    pid: child.pid as number,
    createRunTable: async (tableName) => {
      const dynamo = new DynamoDBClient({
        region: 'us-east-1',
        endpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      try {
        await createRunTable(dynamo, tableName);
      } finally {
        dynamo.destroy();
      }
    },
    stop: () => child.kill(),
  };
}

/**
 * Delivers one run through a copy stage: records it COPYING with its export at `prefix`, plans it, waits until
 * every message it fanned out is handled, and throws unless the run succeeded. Returns the planning time.
 */
export async function deliverRun(
  stage: Pick<CopyStage, 'handler' | 'store'>,
  fanOut: FanOut,
  runId: string,
  prefix: string,
): Promise<{ run: Run; planSeconds: number }> {
  await stage.store.createRun(copyingRun(runId, prefix));
  const start = performance.now();
  await stage.handler(sns({ kind: 'copy-plan', runId }));
  const planSeconds = (performance.now() - start) / 1000;
  await fanOut.drain();
  const run = await stage.store.mustGet(runId);
  if (run.outcome !== 'SUCCEEDED') throw new Error(`run ${runId} did not succeed: ${JSON.stringify(run.error)}`);
  return { run, planSeconds };
}

export function cliVersion(): string | undefined {
  const out = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  return out.status === 0 ? (out.stdout || out.stderr).trim() : undefined;
}

/**
 * Runs the CLI under `sh -c '…; times'`, whose second line is the CPU time of the shell's children: the CLI's
 * own CPU, which no Node API reports for another process.
 */
export function runCli(
  emulator: Emulator,
  configFile: string,
  args: string[],
  okStatuses: readonly number[] = [0],
): { seconds: number; cpuSeconds: number } {
  const start = process.hrtime.bigint();
  const out = spawnSync(
    'sh',
    ['-c', '"$@"; status=$?; times; exit $status', 'sh', 'aws', ...args, '--endpoint-url', emulator.endpoint],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_CONFIG_FILE: configFile,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_PAGER: '',
      },
    },
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (!okStatuses.includes(out.status ?? -1)) throw new Error(`aws ${args.join(' ')} failed: ${out.stderr}`);
  const children = out.stdout.trim().split('\n').pop() ?? '';
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(children);
  const cpuSeconds = m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : Number.NaN;
  return { seconds, cpuSeconds };
}

/** A CLI configuration file of its own (the user's is left alone) with the given `s3.max_concurrent_requests`. */
export function cliConfig(folder: string, concurrency: number): string {
  const file = join(folder, `config-${concurrency}`);
  writeFileSync(file, `[default]\ns3 =\n    max_concurrent_requests = ${concurrency}\n`);
  return file;
}
