/**
 * Planning memory benchmark: `npm run bench:plan`.
 *
 * Plans a synthetic export of 10 million keys (BENCH_PLAN_KEYS), listed in pages of 1,000 as S3 returns them,
 * with the copy stage's planner (`planListing`) and today's per-batch limits (1,000 objects, 50 GiB, 300 KB
 * of record), and prints the process's peak resident memory (getrusage's maxrss: the true peak, not a sample).
 * The batches are handed to a sink that keeps only a digest of the plan, as the copy stage hands them to the
 * run table, so the figure is the planner's own. The target is a peak under 256 MiB.
 *
 * With BENCH_PLAN_WHOLE=1 it also plans the same listing the way it was planned before (every key in memory,
 * sorted, then cut), in a child process of its own, for comparison; expect that to need gigabytes at 10
 * million keys.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  DEFAULT_MAX_RECORD_BYTES,
  planBatches,
  planListing,
  type CopyBatch,
  type PlannedObject,
} from '../lambdas/shared/copy/batching';

const KEYS = Number(process.env.BENCH_PLAN_KEYS ?? 10_000_000);
const PAGE = 1000;
const TABLES = 50;
const LIMITS = { maxObjects: 1000, maxBytes: 50 * 1024 ** 3, maxRecordBytes: DEFAULT_MAX_RECORD_BYTES };
const MiB = 1024 ** 2;

/** The export's listing, generated page by page in key order (tables, then zero-padded part numbers). */
async function* listing(keys: number): AsyncGenerator<PlannedObject[]> {
  const perTable = Math.ceil(keys / TABLES);
  let made = 0;
  let page: PlannedObject[] = [];
  for (let t = 0; t < TABLES && made < keys; t++) {
    for (let i = 0; i < perTable && made < keys; i++, made++) {
      page.push({
        key: `shop/public.t${String(t).padStart(2, '0')}/1/part-${String(i).padStart(8, '0')}-4b1f.gz.parquet`,
        size: 1024 + ((i * 7919) % 65_536),
      });
      if (page.length === PAGE) {
        yield page;
        page = [];
        // A page of S3 listing arrives over the network: let the event loop breathe as it would.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
  if (page.length > 0) yield page;
}

const topLevel: PlannedObject[] = [
  { key: 'export_info_task.json', size: 512 },
  { key: 'export_tables_info_task_from_1_to_50.json', size: 4096 },
];

async function main(): Promise<void> {
  if (process.argv[2] === '--whole') {
    const all: PlannedObject[] = [...topLevel];
    for await (const page of listing(KEYS)) all.push(...page);
    const batches = planBatches(all, LIMITS);
    console.log(JSON.stringify({ batches: batches.length, peakMiB: process.resourceUsage().maxRSS / 1024 }));
    return;
  }
  const digest = createHash('sha256');
  const started = process.hrtime.bigint();
  const baseline = process.resourceUsage().maxRSS / 1024;
  const totals = await planListing(topLevel, listing(KEYS), LIMITS, async (batches: CopyBatch[]) => {
    for (const b of batches) digest.update(`${b.id}:${b.objects.length}:${b.bytes}:${b.objects[0]?.key}\n`);
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peak = process.resourceUsage().maxRSS / 1024;
  console.log(`Planning ${totals.objects.toLocaleString('en-US')} keys, listed in pages of ${PAGE}`);
  console.log(`  batches           ${totals.batches.toLocaleString('en-US')}`);
  console.log(`  bytes planned     ${(totals.bytes / 1024 ** 3).toFixed(1)} GiB`);
  console.log(
    `  time              ${seconds.toFixed(1)} s (${Math.round(totals.objects / seconds).toLocaleString('en-US')} keys/s)`,
  );
  console.log(
    `  peak RSS          ${peak.toFixed(0)} MiB (process at start: ${baseline.toFixed(0)} MiB; target < 256 MiB)`,
  );
  console.log(
    `  plan digest       ${digest.digest('hex').slice(0, 16)} (the same on every run: the plan is deterministic)`,
  );
  console.log(`  verdict           ${peak < 256 ? 'within' : 'OVER'} the 256 MiB target`);
  if (process.env.BENCH_PLAN_WHOLE === '1') {
    const out = spawnSync(process.execPath, [...process.execArgv, __filename, '--whole'], {
      encoding: 'utf8',
      env: process.env,
      maxBuffer: 16 * MiB,
    });
    const line = out.stdout.trim().split('\n').pop() ?? '';
    try {
      const whole = JSON.parse(line) as { batches: number; peakMiB: number };
      console.log(`  whole listing     ${whole.peakMiB.toFixed(0)} MiB peak for the same plan held in memory`);
    } catch {
      console.log(
        `  whole listing     did not finish (${out.signal ?? `exit ${out.status}`}): ${out.stderr.split('\n')[0]}`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
