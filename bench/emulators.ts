/**
 * The S3 emulators the copy benchmark runs on, each in its own process, with the CPU time that process
 * (and its workers) spent: the figure that tells whether the server or the client set the pace.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3RVER_CREDENTIALS, startS3rver } from '../__tests__/support/s3rver';
import type { ModelCounters, S3Model } from './memory-s3';

/** Content of seeded objects: random bytes of a size (one body shared by every key), or a text. */
export type SeedBody = { readonly size: number } | { readonly text: string };

/** A running emulator. */
export interface Emulator {
  readonly name: string;
  /** One line on how it runs (processes, storage). */
  readonly description: string;
  readonly endpoint: string;
  /** Credentials the emulator accepts. */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** Whether it implements UploadPartCopy (the CLI copies objects above 8 MiB part by part). */
  readonly uploadPartCopy: boolean;
  /** Lays objects out without HTTP. */
  seed(bucket: string, keys: readonly string[], body: SeedBody, contentType: string): Promise<void>;
  /** CPU seconds (user + system) spent so far by the emulator's processes, or NaN where /proc is missing. */
  cpuSeconds(): number;
  /** What the S3 model did so far (requests, SlowDowns, latency drawn), when the emulator runs one. */
  modelCounters?(): Promise<ModelCounters>;
  stop(): Promise<void>;
}

const TICKS_PER_SECOND = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(out.stdout?.trim()) || 100;
})();

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, ..., utime at 11, stime at 12]. */
function statFields(pid: string | number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds of a process and all its live descendants (Linux /proc; NaN elsewhere). */
export function processTreeCpuSeconds(root: number): number {
  if (!existsSync('/proc/self/stat')) return Number.NaN;
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name);
    if (!f) continue;
    const ppid = Number(f[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  let ticks = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]);
    stack.push(...(children.get(pid) ?? []));
  }
  return ticks / TICKS_PER_SECOND;
}

/** A RAM-backed folder when the machine has one (/dev/shm), so that disk speed is not measured. */
function scratchRoot(): string {
  try {
    if (existsSync('/dev/shm')) {
      const probe = mkdtempSync('/dev/shm/bench-probe-');
      rmSync(probe, { recursive: true, force: true });
      return '/dev/shm';
    }
  } catch {
    // not writable: fall back to the temporary folder
  }
  return tmpdir();
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    if (child.connected) child.disconnect();
    else child.kill();
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  });
}

/**
 * s3rver as the tests use it (`__tests__/support/s3rver-child.js`: silent, its own process, `workers`
 * processes sharing one port), with its store on tmpfs when available.
 */
export async function startS3rverEmulator(buckets: readonly string[], options: { workers: number }): Promise<Emulator> {
  const root = scratchRoot();
  const s3rver = await startS3rver(buckets, { workers: options.workers, root });
  return {
    name: 's3rver',
    description: `s3rver ${options.workers} process(es), silent, store in ${root}`,
    endpoint: s3rver.endpoint,
    credentials: S3RVER_CREDENTIALS,
    uploadPartCopy: false,
    seed: async (bucket, keys, body, contentType) => {
      const bytes = 'text' in body ? Buffer.from(body.text, 'utf8') : randomBytes(body.size);
      s3rver.seed(
        bucket,
        keys.map((key) => ({ key, body: bytes, contentType })),
      );
    },
    cpuSeconds: () => processTreeCpuSeconds(s3rver.pid),
    stop: () => s3rver.stop(),
  };
}

/** The in-memory emulator (bench/memory-s3.ts) in its own process. */
export async function startMemoryEmulator(
  buckets: readonly string[],
  options: { latencyMs: number; model?: S3Model },
): Promise<Emulator> {
  const child = fork(join(__dirname, 'memory-s3-child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (typeof (m as { port?: number }).port === 'number') {
        child.off('message', onMessage);
        resolve((m as { port: number }).port);
      }
    };
    child.on('message', onMessage);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the memory emulator exited early with code ${code}`)));
    child.send({ buckets, latencyMs: options.latencyMs, model: options.model });
  });
  let seeds = 0;
  const m = options.model;
  return {
    name: m ? 'memory+model' : 'memory',
    description: m
      ? `in-memory emulator with the S3 model (latency log-normal, median ${m.medianMs} ms, σ ${m.sigma}; copies at ${m.copyMiBps} MiB/s; SlowDown past ${m.writesPerSecondPerPrefix} writes/s per prefix), 1 process`
      : `in-memory emulator (bench/memory-s3.ts), 1 process${options.latencyMs > 0 ? `, ${options.latencyMs} ms added to every request` : ''}`,
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    uploadPartCopy: true,
    seed: (bucket, keys, body, contentType) =>
      new Promise<void>((resolve) => {
        const id = ++seeds;
        const onMessage = (m: unknown) => {
          if ((m as { seeded?: number }).seeded === id) {
            child.off('message', onMessage);
            resolve();
          }
        };
        child.on('message', onMessage);
        child.send({ seed: { id, bucket, keys, contentType, ...body } });
      }),
    cpuSeconds: () => processTreeCpuSeconds(child.pid as number),
    modelCounters: () =>
      new Promise<ModelCounters>((resolve) => {
        const id = ++seeds;
        const onMessage = (msg: unknown) => {
          if ((msg as { countersOf?: number }).countersOf === id) {
            child.off('message', onMessage);
            resolve((msg as { counters: ModelCounters }).counters);
          }
        };
        child.on('message', onMessage);
        child.send({ counters: id });
      }),
    stop: () => stopChild(child),
  };
}
