/**
 * `runs list|show|start|retry|cancel`: read the run table through the engine's run store, and act by
 * publishing pipeline-topic messages that the stage functions handle exactly as they handle their own.
 */
import type { DBClusterSnapshot } from '@aws-sdk/client-rds';
import { CopyBatchStore } from '../../lambdas/shared/adapters/copy-batch-store';
import { RdsGateway } from '../../lambdas/shared/adapters/rds';
import type { RunStore } from '../../lambdas/shared/adapters/run-store';
import { pipelineMessageSchema, type PipelineMessage } from '../../lambdas/shared/domain/messages';
import { runIdFor } from '../../lambdas/shared/domain/naming';
import { isTerminal, RunStage, StageFunction, type Run } from '../../lambdas/shared/domain/run';
import { destinationOf, destinationRefusal, runDestinationPrefix } from '../../lambdas/shared/stage/destination';
import type { CliContext, Command, FlagValues } from '../context';
import { CliError, DeliveryRefused, InvalidRunState, toCliError, UsageError } from '../errors';
import { formatBytes, formatDuration, formatTable, formatTime, printJson } from '../output';
import {
  endedAt,
  listRuns,
  mustGetRun,
  parseSince,
  parseStatuses,
  reading,
  runDurationMs,
  runStoreFor,
  stageLabel,
  stageTimeline,
} from '../run-table';
import {
  checkClusterId,
  checkPositive,
  checkRunId,
  checkSnapshot,
  configuredCluster,
  configuredClusterList,
} from '../validate';

/** Flags shared by the commands that can follow a run to its end. */
const WAIT_OPTIONS = {
  wait: { type: 'boolean', description: 'Follow the run until it ends, printing each stage change' },
  'timeout-minutes': { type: 'string', description: 'Give up waiting after this many minutes (default 240)' },
  'poll-seconds': { type: 'string', description: 'Seconds between polls while waiting (default 15)' },
} as const;

function row(run: Run, now: Date): string[] {
  return [
    run.runId,
    run.sourceClusterId,
    run.sourceSnapshotId,
    run.path,
    stageLabel(run),
    formatTime(run.createdAt) as string,
    (formatDuration(runDurationMs(run, now)) ?? '') + (endedAt(run) ? '' : ' so far'),
  ];
}

/** The JSON view of a run: the item plus derived durations. */
function runJson(run: Run, now: Date) {
  return { ...run, durationMs: runDurationMs(run, now), stages: stageTimeline(run, now) };
}

async function publish(ctx: CliContext, target: StageFunction, message: PipelineMessage): Promise<void> {
  const publisher = ctx.publisher();
  const checked = pipelineMessageSchema.parse(message);
  try {
    await publisher.publish(target, checked);
  } catch (e) {
    throw toCliError(e, { region: ctx.aws.region, env: ctx.env });
  }
}

/** Prints progress lines on stderr (never on stdout, so --json stays clean). */
function progress(ctx: CliContext, text: string): void {
  ctx.io.err(`${formatTime(ctx.now().toISOString())}  ${text}`);
}

interface WaitOptions {
  readonly timeoutMs: number;
  readonly pollMs: number;
}

function waitOptions(flags: FlagValues): WaitOptions {
  return {
    timeoutMs: checkPositive(flags['timeout-minutes'], 'timeout-minutes', 240) * 60_000,
    pollMs: checkPositive(flags['poll-seconds'], 'poll-seconds', 15) * 1000,
  };
}

/** Polls until `find` returns a value or the timeout passes. */
async function pollFor<T>(
  ctx: CliContext,
  opts: WaitOptions,
  find: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const until = ctx.now().getTime() + opts.timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (ctx.now().getTime() >= until) return undefined;
    await ctx.sleep(opts.pollMs);
  }
}

/** Follows a run to a terminal stage, printing each stage it enters; returns the run as it ended. */
async function follow(ctx: CliContext, store: RunStore, first: Run, opts: WaitOptions): Promise<Run> {
  const until = ctx.now().getTime() + opts.timeoutMs;
  let last = first;
  progress(ctx, `${first.runId} ${stageLabel(first)}`);
  while (!isTerminal(last.stage)) {
    if (ctx.now().getTime() >= until) {
      throw new CliError(
        `${first.runId} is still ${stageLabel(last)} after ${opts.timeoutMs / 60_000} minutes; follow it with: npm run -s pipeline -- runs show ${first.runId}`,
      );
    }
    await ctx.sleep(opts.pollMs);
    const run = await mustGetRun(ctx, store, first.runId);
    if (run.stage !== last.stage || run.outcome !== last.outcome) {
      progress(
        ctx,
        `${run.runId} ${stageLabel(run)}${run.error && !last.error ? ` (${run.error.kind}: ${run.error.message})` : ''}`,
      );
    } else if (run.copy && run.copy.objectsCopied !== last.copy?.objectsCopied) {
      progress(
        ctx,
        `${run.runId} ${stageLabel(run)} ${run.copy.objectsCopied}/${run.copy.objects} objects, ${formatBytes(run.copy.bytesCopied)}`,
      );
    }
    last = run;
  }
  return last;
}

/** Prints the end of a followed run and returns the exit code: 0 only for SUCCEEDED. */
function finish(ctx: CliContext, run: Run, extra: Record<string, unknown>): number {
  if (ctx.json) printJson(ctx.io, { ...extra, run: runJson(run, ctx.now()) });
  else {
    ctx.io.out(`${run.runId} ${run.stage} after ${formatDuration(runDurationMs(run, ctx.now()))}`);
    if (run.error) ctx.io.out(`error (${run.error.stage}, ${run.error.kind}): ${run.error.message}`);
  }
  return run.stage === RunStage.SUCCEEDED ? 0 : 1;
}

export const runsListCommand: Command = {
  name: 'runs list',
  summary: 'List runs: id, cluster, snapshot, path, stage, start, duration',
  usage: '[--cluster ID] [--status STAGE[,STAGE]|active|finished] [--since 7d|2026-11-01|all] [--limit N]',
  options: {
    cluster: { type: 'string', description: 'Only runs of this source cluster' },
    status: { type: 'string', description: 'Only runs in these stages (comma-separated), or active, or finished' },
    since: { type: 'string', description: 'Only runs updated since: 12h, 7d, a date, or all (default 7d)' },
    limit: { type: 'string', description: 'At most this many runs, newest first (default 50)' },
  },
  async run(ctx, flags) {
    const cluster = flags.cluster === undefined ? undefined : checkClusterId(flags.cluster as string);
    const filter = {
      stages: parseStatuses(flags.status as string | undefined),
      since: parseSince(flags.since as string | undefined, ctx.now()),
      cluster,
      limit: checkPositive(flags.limit, 'limit', 50, true),
    };
    if (cluster && !configuredCluster(ctx.config, cluster))
      ctx.io.err(
        `note: ${cluster} is not a configured source cluster (${configuredClusterList(ctx.config)}); listing its runs anyway`,
      );
    const store = runStoreFor(ctx);
    const runs = await reading(ctx, store, () => listRuns(store, filter));
    if (ctx.json) {
      printJson(ctx.io, { runs: runs.map((r) => runJson(r, ctx.now())) });
      return 0;
    }
    if (runs.length === 0) {
      ctx.io.out(
        `No runs${filter.since ? ` updated since ${formatTime(filter.since.toISOString())}` : ''}${filter.cluster ? ` for ${filter.cluster}` : ''}.`,
      );
      return 0;
    }
    formatTable(
      ['RUN ID', 'CLUSTER', 'SNAPSHOT', 'PATH', 'STAGE', 'STARTED', 'DURATION'],
      runs.map((r) => row(r, ctx.now())),
    ).forEach((l) => {
      ctx.io.out(l);
    });
    return 0;
  },
};

export const runsShowCommand: Command = {
  name: 'runs show',
  summary: 'Show one run: every stage with times, temporary resources, export task, copy progress, error',
  usage: '<run-id>',
  options: {},
  positionals: ['run-id'],
  async run(ctx, _flags, [runId]) {
    checkRunId(runId);
    const store = runStoreFor(ctx);
    const run = await mustGetRun(ctx, store, runId);
    const now = ctx.now();
    if (ctx.json) {
      printJson(ctx.io, { run: runJson(run, now) });
      return 0;
    }
    const kv = (pairs: [string, string | undefined][]) =>
      formatTable(
        ['', ''],
        pairs.filter((p) => p[1] !== undefined),
      )
        .slice(1)
        .map((l) => `  ${l}`);
    const out = (lines: string[]) =>
      lines.forEach((l) => {
        ctx.io.out(l);
      });
    out([`Run ${run.runId}`]);
    out(
      kv([
        ['cluster', run.sourceClusterId],
        [
          'snapshot',
          `${run.sourceSnapshotId}${run.sourceSnapshotCreatedAt ? ` (taken ${formatTime(run.sourceSnapshotCreatedAt)})` : ''}`,
        ],
        ['path', run.path],
        ['stage', `${stageLabel(run)} (attempt ${run.attempt})`],
        ['started', formatTime(run.createdAt)],
        ['ended', formatTime(endedAt(run))],
        ['duration', `${formatDuration(runDurationMs(run, now))}${endedAt(run) ? '' : ' so far'}`],
        ['deadline', isTerminal(run.stage) ? undefined : formatTime(run.deadline)],
      ]),
    );
    ctx.io.out('');
    out(['Stages']);
    out(
      formatTable(
        ['STAGE', 'ENTERED', 'DURATION'],
        stageTimeline(run, now).map((s) => [s.stage, formatTime(s.enteredAt), formatDuration(s.durationMs)]),
      ).map((l) => `  ${l}`),
    );
    ctx.io.out('');
    out(['Temporary resources']);
    out(
      kv([
        ['cluster', run.tempClusterId ?? 'none (direct path)'],
        ['snapshot', run.tempSnapshotId ?? 'none (direct path)'],
        [
          'cleaned up',
          run.cleanedUp
            ? run.cleanedUp.length
              ? run.cleanedUp.join(', ')
              : 'nothing to clean'
            : isTerminal(run.stage)
              ? '-'
              : 'not yet',
        ],
        ['waiting for', run.cleanupWaitingFor?.length ? run.cleanupWaitingFor.join('; ') : undefined],
      ]),
    );
    ctx.io.out('');
    out(['Export']);
    const bucket = ctx.stack().info.exportBucket;
    out(
      kv([
        ['task', run.exportTaskId ?? 'not started'],
        ['attempts', String(run.exportAttempt)],
        ['source', run.exportSourceArn],
        [
          'output',
          run.exportS3Prefix ? (bucket ? `s3://${bucket}/${run.exportS3Prefix}` : run.exportS3Prefix) : undefined,
        ],
      ]),
    );
    ctx.io.out('');
    out(['Copy']);
    const c = run.copy;
    out(
      kv(
        c
          ? [
              ['objects', `${c.objectsCopied} of ${c.objects} copied`],
              ['bytes', `${formatBytes(c.bytesCopied)} of ${formatBytes(c.bytes)}`],
              ['batches', `${c.batchesDone} of ${c.batchesTotal} done`],
              ['destination', run.destinationPrefix],
              ['manifest', c.manifestKey],
            ]
          : [['objects', 'not started']],
      ),
    );
    if (run.warnings?.length) {
      ctx.io.out('');
      out(['Warnings', ...run.warnings.map((w) => `  ${w}`)]);
    }
    if (run.error) {
      ctx.io.out('');
      out(['Error', `  ${run.error.kind} in ${run.error.stage}: ${run.error.message}`]);
    }
    return 0;
  },
};

/**
 * Resolves a snapshot (ARN, id, or the cluster's newest available automated one) asking RDS the way the start
 * function does, so that the CLI checks and follows the run the start function will make: a snapshot still
 * being created, or one of another cluster, is refused here rather than ignored there.
 */
async function resolveSnapshot(
  ctx: CliContext,
  clusterId: string,
  snapshot: string | undefined,
): Promise<DBClusterSnapshot & { DBClusterSnapshotArn: string; DBClusterSnapshotIdentifier: string }> {
  const rds = new RdsGateway(ctx.aws.rds());
  let found: DBClusterSnapshot | undefined;
  try {
    found = snapshot ? await rds.describeClusterSnapshot(snapshot) : await rds.newestAutomatedSnapshot(clusterId);
  } catch (e) {
    throw toCliError(e, { region: ctx.aws.region, env: ctx.env });
  }
  if (!found?.DBClusterSnapshotArn || !found.DBClusterSnapshotIdentifier) {
    throw new CliError(
      snapshot
        ? `No cluster snapshot ${snapshot} in ${ctx.aws.region}`
        : `Cluster ${clusterId} has no available automated snapshot yet in ${ctx.aws.region}`,
    );
  }
  if (found.Status !== 'available')
    throw new CliError(
      `Snapshot ${snapshot ?? found.DBClusterSnapshotIdentifier} is ${found.Status ?? 'not available'}; the start function exports only available snapshots`,
    );
  if (found.DBClusterIdentifier && found.DBClusterIdentifier.toLowerCase() !== clusterId.toLowerCase())
    throw new UsageError(
      `Snapshot ${snapshot} is a snapshot of ${found.DBClusterIdentifier}, not of --cluster ${clusterId}; the start function exports only snapshots of the cluster it is asked for`,
    );
  return found as DBClusterSnapshot & { DBClusterSnapshotArn: string; DBClusterSnapshotIdentifier: string };
}

/**
 * Refuses a start whose delivery prefix already holds another run's delivery, with the start stage's own rule
 * and message (see lambdas/shared/stage/destination): the new run's prefix is computed as the start function
 * will compute it, and the claim on it read from the run table. Without this the run would restore and export
 * for hours, then fail at the copy's claim.
 */
async function checkDestination(
  ctx: CliContext,
  store: RunStore,
  clusterId: string,
  snapshot: DBClusterSnapshot & { DBClusterSnapshotArn: string; DBClusterSnapshotIdentifier: string },
): Promise<void> {
  const settings = { destination: ctx.config.destination };
  const run = {
    runId: runIdFor(snapshot.DBClusterSnapshotIdentifier, 1),
    sourceClusterId: clusterId,
    sourceSnapshotArn: snapshot.DBClusterSnapshotArn,
    sourceSnapshotCreatedAt: snapshot.SnapshotCreateTime?.toISOString(),
    createdAt: ctx.now().toISOString(),
  };
  const destination = destinationOf(settings);
  const prefix = runDestinationPrefix(settings, run);
  const batches = new CopyBatchStore({ tableName: store.tableName, client: ctx.aws.dynamo(), now: () => ctx.now() });
  const status = await reading(ctx, store, () => batches.destinationStatus(destination, prefix, run));
  const refusal = destinationRefusal(status, destination, prefix, run);
  if (refusal) throw new DeliveryRefused(`Not started: ${refusal.message}`, refusal);
}

export const runsStartCommand: Command = {
  name: 'runs start',
  summary: "Start a run for a configured cluster's newest automated snapshot, or a named one (backfill)",
  usage: '--cluster ID [--snapshot ARN|ID] [--wait]',
  options: {
    cluster: { type: 'string', description: 'A configured source cluster' },
    snapshot: { type: 'string', description: 'Snapshot ARN or id to export (default: the newest automated snapshot)' },
    ...WAIT_OPTIONS,
  },
  async run(ctx, flags) {
    const wanted = flags.cluster as string | undefined;
    if (!wanted)
      throw new UsageError('Missing --cluster. Usage: pipeline runs start --cluster ID [--snapshot ARN|ID] [--wait]');
    checkClusterId(wanted);
    const configured = configuredCluster(ctx.config, wanted);
    if (!configured) {
      throw new UsageError(
        `${wanted} is not a configured source cluster (${configuredClusterList(ctx.config)}); the start function ignores other clusters`,
      );
    }
    const clusterId = configured.identifier;
    const named = flags.snapshot as string | undefined;
    if (named !== undefined) checkSnapshot(named, clusterId, ctx.aws.region);
    const opts = waitOptions(flags);
    const store = runStoreFor(ctx);
    const resolved = await resolveSnapshot(ctx, clusterId, named);
    const snapshot = resolved.DBClusterSnapshotArn;
    const known = await reading(ctx, store, () => store.findBySnapshot(snapshot));
    const latest = known.at(-1);
    if (latest) {
      if (isTerminal(latest.stage)) {
        const hint =
          latest.stage === RunStage.SUCCEEDED
            ? 'it was delivered already'
            : `retry it with: npm run -s pipeline -- runs retry ${latest.runId}`;
        throw new InvalidRunState(`Snapshot ${snapshot} already has run ${latest.runId} (${latest.stage}); ${hint}`);
      }
      if (!flags.wait) {
        if (ctx.json) printJson(ctx.io, { published: false, run: runJson(latest, ctx.now()) });
        else
          ctx.io.out(`Snapshot ${snapshot} is already being exported by run ${latest.runId} (${stageLabel(latest)}).`);
        return 0;
      }
      return finish(ctx, await follow(ctx, store, latest, opts), { published: false });
    }
    await checkDestination(ctx, store, clusterId, resolved);
    const message: PipelineMessage = { kind: 'start', clusterId, snapshotArn: snapshot };
    await publish(ctx, StageFunction.START, message);
    if (!flags.wait) {
      if (ctx.json) printJson(ctx.io, { published: { target: StageFunction.START, message } });
      else
        ctx.io.out(
          `Asked the start function to export ${snapshot}. Follow it with: npm run -s pipeline -- runs list --cluster ${clusterId}`,
        );
      return 0;
    }
    progress(ctx, `start published for ${snapshot}; waiting for the run to appear`);
    const run = await pollFor(ctx, opts, async () =>
      (await reading(ctx, store, () => store.findBySnapshot(snapshot))).at(-1),
    );
    if (!run)
      throw new CliError(
        `No run appeared for ${snapshot} within ${opts.timeoutMs / 60_000} minutes: check the start function's logs and the pipeline topic's dead-letter queue`,
      );
    return finish(ctx, await follow(ctx, store, run, opts), { published: { target: StageFunction.START, message } });
  },
};

export const runsRetryCommand: Command = {
  name: 'runs retry',
  summary: 'Start a new attempt for the snapshot of a FAILED or CANCELLED run',
  usage: '<run-id> [--reuse-destination] [--wait]',
  options: {
    'reuse-destination': {
      type: 'boolean',
      description:
        "Deliver under an earlier attempt's destination prefix: only once the client deleted the partial delivery there",
    },
    ...WAIT_OPTIONS,
  },
  positionals: ['run-id'],
  async run(ctx, flags, [runId]) {
    checkRunId(runId);
    const opts = waitOptions(flags);
    const store = runStoreFor(ctx);
    const run = await mustGetRun(ctx, store, runId);
    if (run.stage !== RunStage.FAILED && run.stage !== RunStage.CANCELLED) {
      const why = isTerminal(run.stage)
        ? 'it succeeded'
        : `it is still ${stageLabel(run)}; cancel it first with: npm run -s pipeline -- runs cancel ${runId}`;
      throw new InvalidRunState(`Only FAILED or CANCELLED runs can be retried; ${runId}: ${why}`);
    }
    const before = await reading(ctx, store, () => store.findBySnapshot(run.sourceSnapshotArn));
    const newer = before.filter((r) => r.attempt > run.attempt).at(-1);
    if (newer)
      throw new InvalidRunState(
        `Snapshot ${run.sourceSnapshotId} already has a later attempt: run ${newer.runId} (${stageLabel(newer)})`,
      );
    const message: PipelineMessage = {
      kind: 'retry',
      runId,
      ...(flags['reuse-destination'] ? { reuseDestination: true } : {}),
    };
    await publish(ctx, StageFunction.START, message);
    if (!flags.wait) {
      if (ctx.json) printJson(ctx.io, { published: { target: StageFunction.START, message } });
      else
        ctx.io.out(
          `Asked the start function to retry ${runId} (attempt ${run.attempt + 1} of ${run.sourceSnapshotId}). Follow it with: npm run -s pipeline -- runs list --cluster ${run.sourceClusterId}`,
        );
      return 0;
    }
    progress(ctx, `retry published for ${runId}; waiting for attempt ${run.attempt + 1}`);
    const next = await pollFor(ctx, opts, async () =>
      (await reading(ctx, store, () => store.findBySnapshot(run.sourceSnapshotArn)))
        .filter((r) => r.attempt > run.attempt)
        .at(-1),
    );
    if (!next)
      throw new CliError(
        `No new attempt appeared for ${runId} within ${opts.timeoutMs / 60_000} minutes: check the start function's logs and the dead-letter queue`,
      );
    return finish(ctx, await follow(ctx, store, next, opts), {
      published: { target: StageFunction.START, message },
      retriedRunId: runId,
    });
  },
};

export const runsCancelCommand: Command = {
  name: 'runs cancel',
  summary: 'Cancel a live run: stops its export task and deletes its temporary resources',
  usage: '<run-id> [--wait]',
  options: { ...WAIT_OPTIONS },
  positionals: ['run-id'],
  async run(ctx, flags, [runId]) {
    checkRunId(runId);
    const opts = waitOptions(flags);
    const store = runStoreFor(ctx);
    const run = await mustGetRun(ctx, store, runId);
    if (isTerminal(run.stage))
      throw new InvalidRunState(`${runId} has already ended (${run.stage}); nothing to cancel`);
    if (run.stage === RunStage.CLEANING_UP) {
      throw new InvalidRunState(
        `${runId} is already cleaning up (${stageLabel(run)}); follow it with: npm run -s pipeline -- runs show ${runId}`,
      );
    }
    const message: PipelineMessage = { kind: 'cancel', runId };
    await publish(ctx, StageFunction.CLEANUP, message);
    if (!flags.wait) {
      if (ctx.json) printJson(ctx.io, { published: { target: StageFunction.CLEANUP, message } });
      else
        ctx.io.out(
          `Asked the cleanup function to cancel ${runId} (now ${run.stage}). Follow it with: npm run -s pipeline -- runs show ${runId}`,
        );
      return 0;
    }
    const done = await follow(ctx, store, run, opts);
    finish(ctx, done, { published: { target: StageFunction.CLEANUP, message } });
    return done.stage === RunStage.CANCELLED ? 0 : 1;
  },
};

export const runsCommands: readonly Command[] = [
  runsListCommand,
  runsShowCommand,
  runsStartCommand,
  runsRetryCommand,
  runsCancelCommand,
];
