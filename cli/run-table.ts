/**
 * Reading runs for the operator through the engine's run store, and the pure views (rows, stage timeline)
 * the commands print.
 */
import { RunStore } from '../lambdas/shared/adapters/run-store';
import { RunStage, TERMINAL_STAGES, type Run } from '../lambdas/shared/domain/run';
import type { CliContext } from './context';
import { RunNotFound, toCliError, UsageError } from './errors';
import { requireStack } from './stack';

/** The run store of the deployed stack, on the CLI's DynamoDB client. */
export function runStoreFor(ctx: CliContext): RunStore {
  const { tableName } = requireStack(ctx.stack(), ['tableName']);
  return new RunStore({
    tableName,
    client: ctx.aws.dynamo(),
    deadlinesMinutes: ctx.config.stageDeadlinesMinutes,
    retentionDays: ctx.config.runRetentionDays,
    now: () => ctx.now(),
  });
}

/** Runs an AWS read, translating failures (missing table, credentials) into one-line CLI errors. */
export async function reading<T>(ctx: CliContext, store: RunStore, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw toCliError(e, { tableName: store.tableName, region: ctx.aws.region, env: ctx.env });
  }
}

/** The run, or a RunNotFound that says how to list runs. */
export async function mustGetRun(ctx: CliContext, store: RunStore, runId: string): Promise<Run> {
  const run = await reading(ctx, store, () => store.get(runId));
  if (!run) throw new RunNotFound(runId, store.tableName);
  return run;
}

/** Runs of one stage whose last update is at or after `since` (every run of the stage without it). */
export async function listStageSince(store: RunStore, stage: RunStage, since: Date | undefined): Promise<Run[]> {
  return store.listByStage(stage, since ? { updatedAfter: new Date(since.getTime() - 1) } : {});
}

const ALL_STAGES = Object.values(RunStage);
const LIVE_STAGES = ALL_STAGES.filter((s) => !TERMINAL_STAGES.includes(s));

/** `--status`: stage names (any case, comma-separated), `active` (every live stage) or `finished` (terminal ones). */
export function parseStatuses(value: string | undefined): RunStage[] {
  if (!value) return [...ALL_STAGES];
  const stages = new Set<RunStage>();
  for (const raw of value
    .split(',')
    .map((v) => v.trim().toUpperCase().replace(/-/g, '_'))
    .filter(Boolean)) {
    if (raw === 'ACTIVE' || raw === 'LIVE')
      LIVE_STAGES.forEach((s) => {
        stages.add(s);
      });
    else if (raw === 'FINISHED' || raw === 'TERMINAL')
      TERMINAL_STAGES.forEach((s) => {
        stages.add(s);
      });
    else if ((ALL_STAGES as string[]).includes(raw)) stages.add(raw as RunStage);
    else throw new UsageError(`Unknown status "${raw}": use ${ALL_STAGES.join(', ')}, active or finished`);
  }
  return [...stages];
}

/** `--since`: a duration back from now (`90m`, `12h`, `7d`, `2w`), a date or a timestamp, or `all`. */
export function parseSince(value: string | undefined, now: Date, fallback = '7d'): Date | undefined {
  const v = (value ?? fallback).trim();
  if (v === 'all') return undefined;
  const m = /^(\d+)\s*(m|h|d|w)$/.exec(v);
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'm' | 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(m[1]) * unit);
  }
  const d = new Date(v);
  if (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(d.getTime())) {
    // JavaScript rolls 2026-02-30 over to March 2: a day that does not exist is a typo, not a date.
    if (d.toISOString().slice(0, 10) !== v.slice(0, 10) && /^\d{4}-\d{2}-\d{2}$/.test(v))
      throw new UsageError(`--since ${v}: there is no such day`);
    if (d.getTime() > now.getTime())
      throw new UsageError(`--since ${v} is in the future (now is ${now.toISOString()}): no run was updated after it`);
    return d;
  }
  throw new UsageError(
    `Cannot read --since "${v}": use a duration such as 12h or 7d, a date such as 2026-11-01, or all`,
  );
}

/** Filters of `runs list`. */
export interface RunFilter {
  readonly stages: readonly RunStage[];
  readonly since?: Date;
  readonly cluster?: string;
  readonly limit?: number;
}

/** Runs matching the filter, newest first (by creation). */
export async function listRuns(store: RunStore, filter: RunFilter): Promise<Run[]> {
  const perStage = await Promise.all(filter.stages.map((s) => listStageSince(store, s, filter.since)));
  const cluster = filter.cluster?.toLowerCase();
  const runs = perStage
    .flat()
    .filter((r) => !cluster || r.sourceClusterId.toLowerCase() === cluster)
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.runId.localeCompare(b.runId)));
  return filter.limit ? runs.slice(0, filter.limit) : runs;
}

/** When the run ended (entered its terminal stage), if it has. */
export function endedAt(run: Run): string | undefined {
  return TERMINAL_STAGES.includes(run.stage) ? (run.stageEnteredAt[run.stage] ?? run.updatedAt) : undefined;
}

/** Milliseconds from creation to the end, or to now for a live run. */
export function runDurationMs(run: Run, now: Date): number {
  const end = endedAt(run);
  return (end ? new Date(end).getTime() : now.getTime()) - new Date(run.createdAt).getTime();
}

/** The stage column: CLEANING_UP shows the outcome it is heading for. */
export function stageLabel(run: Run): string {
  return run.stage === RunStage.CLEANING_UP && run.outcome ? `${run.stage} → ${run.outcome}` : run.stage;
}

/** One stage the run went through, with how long it stayed there (to now, for the current live stage). */
export interface StageSpan {
  readonly stage: RunStage;
  readonly enteredAt: string;
  readonly durationMs?: number;
}

/** Every stage the run entered, in order, with durations. */
export function stageTimeline(run: Run, now: Date): StageSpan[] {
  const entries = Object.entries(run.stageEnteredAt)
    .filter((e): e is [RunStage, string] => typeof e[1] === 'string')
    .sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : ALL_STAGES.indexOf(a[0]) - ALL_STAGES.indexOf(b[0])));
  return entries.map(([stage, enteredAt], i) => {
    const next = entries[i + 1]?.[1];
    const terminal = TERMINAL_STAGES.includes(stage);
    const end = next ? new Date(next).getTime() : terminal ? undefined : now.getTime();
    return { stage, enteredAt, ...(end === undefined ? {} : { durationMs: end - new Date(enteredAt).getTime() }) };
  });
}
