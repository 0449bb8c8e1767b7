/**
 * The run table on DynamoDB: one item per run (`pk` = run id, `sk` = RUN). Moves are conditional writes on
 * the stage the caller expects, so a duplicate or late delivery changes nothing; a failed condition becomes
 * a {@link StaleTransition}.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type NativeAttributeValue,
} from '@aws-sdk/lib-dynamodb';
import { RunTableLayout } from '../contracts/table-layout';
import { RunNotFound, StaleTransition } from '../errors';
import type { Run, RunStage } from '../domain/run';
import {
  TransitionNotAllowed,
  findTransition,
  transition,
  type RunEvent,
  type TransitionContext,
} from '../domain/transitions';

/** Builds a document client that drops undefined fields, as the store expects. */
export function defaultDocumentClient(client: DynamoDBClient = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** How the store is built. */
export interface RunStoreOptions {
  readonly tableName: string;
  /** @default a client from the SDK's standard configuration */
  readonly client?: DynamoDBDocumentClient;
  /** Deadlines and retention used when a transition enters a stage. */
  readonly deadlinesMinutes: TransitionContext['deadlinesMinutes'];
  readonly retentionDays: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/**
 * A generic conditional update of a run item, for fields outside the state machine (copy progress and the
 * like). Keys are attribute paths; dotted paths reach into maps (`copy.batchesDone`).
 */
export interface RunUpdate {
  /** Fields to set. */
  readonly set?: Readonly<Record<string, NativeAttributeValue>>;
  /** Numbers to add atomically (DynamoDB ADD). */
  readonly add?: Readonly<Record<string, number>>;
  /** Fields to remove. */
  readonly remove?: readonly string[];
  /** Only if the run is in one of these stages. */
  readonly ifStage?: RunStage | readonly RunStage[];
  /** An extra condition, in DynamoDB syntax, with its own placeholders (use `#c*`/`:c*` names to avoid clashes). */
  readonly condition?: {
    readonly expression: string;
    readonly names?: Record<string, string>;
    readonly values?: Record<string, NativeAttributeValue>;
  };
}

/** Outcome of {@link RunStore.createRun}: the run in the table, and whether this call created it. */
export interface CreateRunResult {
  readonly created: boolean;
  readonly run: Run;
}

/**
 * Lists a transition grows from the run as read (`cleanedUp`): a write of one is conditioned on it still
 * holding what was read, so that two deliveries adding different entries at once cannot drop each other's.
 * Entries are only ever added, so "as long as when read" means "unchanged" (DynamoDB also compares lists
 * with `=`, but dynalite, the emulator the tests run on, does not).
 */
const GROWN_LISTS: readonly (keyof Run)[] = ['cleanedUp'];

const KEY = (runId: string) => ({
  [RunTableLayout.partitionKey]: runId,
  [RunTableLayout.sortKey]: RunTableLayout.runSortKey,
});

function toRun(item: Record<string, unknown>): Run {
  const { [RunTableLayout.partitionKey]: _pk, [RunTableLayout.sortKey]: _sk, ...rest } = item;
  return rest as unknown as Run;
}

class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, NativeAttributeValue> = {};
  private n = 0;
  path(p: string): string {
    return p
      .split('.')
      .map((part) => {
        const k = `#n${this.n++}`;
        this.names[k] = part;
        return k;
      })
      .join('.');
  }
  value(v: NativeAttributeValue): string {
    const k = `:v${this.n++}`;
    this.values[k] = v;
    return k;
  }
}

/** The run table. Inject a document client in tests; handlers build one per container. */
export class RunStore {
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
  private readonly ctx: () => TransitionContext;

  constructor(options: RunStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.client ?? defaultDocumentClient();
    const now = options.now ?? (() => new Date());
    this.ctx = () => ({ now: now(), deadlinesMinutes: options.deadlinesMinutes, retentionDays: options.retentionDays });
  }

  /** The run, read consistently, or undefined. */
  async get(runId: string): Promise<Run | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: KEY(runId), ConsistentRead: true }),
    );
    return out.Item ? toRun(out.Item) : undefined;
  }

  /** The run, or {@link RunNotFound}. */
  async mustGet(runId: string): Promise<Run> {
    const run = await this.get(runId);
    if (!run) throw new RunNotFound(runId);
    return run;
  }

  /**
   * Records a new run unless one with the same id exists. Run ids derive from the source snapshot and the
   * attempt, so this is what keeps one live run per snapshot: a second start finds the first run, and two
   * concurrent retries compute the same next attempt and only one of them wins.
   */
  async createRun(run: Run): Promise<CreateRunResult> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...run, ...KEY(run.runId) },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': RunTableLayout.partitionKey },
        }),
      );
      return { created: true, run };
    } catch (e) {
      if (
        !(e instanceof ConditionalCheckFailedException) &&
        (e as { name?: string }).name !== 'ConditionalCheckFailedException'
      )
        throw e;
      return { created: false, run: await this.mustGet(run.runId) };
    }
  }

  /** Every run of a source snapshot (all attempts), oldest first. Reads an index: eventually consistent. */
  async findBySnapshot(sourceSnapshotArn: string): Promise<Run[]> {
    const idx = RunTableLayout.bySourceSnapshotIndex;
    return this.queryAll({
      TableName: this.tableName,
      IndexName: idx.name,
      KeyConditionExpression: '#k = :k',
      ExpressionAttributeNames: { '#k': idx.partitionKey },
      ExpressionAttributeValues: { ':k': sourceSnapshotArn },
      ScanIndexForward: true,
    });
  }

  /**
   * Runs in a stage, least recently updated first; `updatedBefore` keeps only those idle since then and
   * `updatedAfter` only those updated since then (strict bounds; inclusive when both are given).
   */
  async listByStage(stage: RunStage, options: { updatedBefore?: Date; updatedAfter?: Date } = {}): Promise<Run[]> {
    const idx = RunTableLayout.byStageIndex;
    const before = options.updatedBefore?.toISOString();
    const after = options.updatedAfter?.toISOString();
    const range = [after ? '#s > :a' : '', before ? '#s < :b' : ''].filter(Boolean);
    return this.queryAll({
      TableName: this.tableName,
      IndexName: idx.name,
      KeyConditionExpression: ['#k = :k', ...(range.length === 2 ? ['#s BETWEEN :a AND :b'] : range)].join(' AND '),
      ExpressionAttributeNames: range.length
        ? { '#k': idx.partitionKey, '#s': idx.sortKey }
        : { '#k': idx.partitionKey },
      ExpressionAttributeValues: {
        ':k': stage,
        ...(after ? { ':a': after } : {}),
        ...(before ? { ':b': before } : {}),
      },
      ScanIndexForward: true,
    });
  }

  /**
   * Moves a run: reads it, checks it is in `expectedStage`, computes the next run with the transition
   * table, and writes only the changed fields on the condition that the stage is still `expectedStage`
   * (and, for an event that happens once, that the run still lacks what it records; for a grown list such as
   * `cleanedUp`, that it still holds what was read).
   * Throws {@link StaleTransition} when the run is elsewhere (another delivery moved it) or already took a
   * once-only event, and {@link RunNotFound} when there is no such run. Returns the run as written.
   */
  async apply(runId: string, expectedStage: RunStage, event: RunEvent): Promise<Run> {
    const run = await this.mustGet(runId);
    if (run.stage !== expectedStage) throw new StaleTransition(runId, expectedStage, `it is ${run.stage}`);
    const once = findTransition(expectedStage, event.type)?.unlessSet;
    let next: Run;
    try {
      next = transition(run, event, this.ctx());
    } catch (err) {
      if (err instanceof TransitionNotAllowed && once)
        throw new StaleTransition(runId, expectedStage, err.message, { cause: err });
      throw err;
    }
    const e = new Expr();
    const sets: string[] = [];
    const removes: string[] = [];
    for (const key of new Set([...Object.keys(run), ...Object.keys(next)]) as Set<keyof Run>) {
      const before = run[key];
      const after = next[key];
      if (JSON.stringify(before) === JSON.stringify(after)) continue;
      if (after === undefined) removes.push(e.path(key));
      else sets.push(`${e.path(key)} = ${e.value(after as NativeAttributeValue)}`);
    }
    const unchanged = GROWN_LISTS.filter((k) => JSON.stringify(run[k]) !== JSON.stringify(next[k])).map((k) =>
      run[k] === undefined
        ? `attribute_not_exists(${e.path(k)})`
        : `size(${e.path(k)}) = ${e.value((run[k] as readonly unknown[]).length)}`,
    );
    const cond = [
      `${e.path('stage')} = ${e.value(expectedStage)}`,
      ...(once ? [`attribute_not_exists(${e.path(once)})`] : []),
      ...unchanged,
    ].join(' AND ');
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: KEY(runId),
          UpdateExpression: [
            sets.length ? `SET ${sets.join(', ')}` : '',
            removes.length ? `REMOVE ${removes.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join(' '),
          ConditionExpression: cond,
          ExpressionAttributeNames: e.names,
          ExpressionAttributeValues: e.values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRun(out.Attributes ?? {});
    } catch (err) {
      if ((err as { name?: string }).name === 'ConditionalCheckFailedException') {
        throw new StaleTransition(runId, expectedStage, `${event.type} lost a race with another write`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Conditionally updates fields outside the state machine (e.g. copy progress) and returns the run as
   * written; `updatedAt` is always refreshed. A failed condition throws {@link StaleTransition}.
   */
  async update(runId: string, spec: RunUpdate): Promise<Run> {
    const e = new Expr();
    const sets = Object.entries({ ...spec.set, updatedAt: this.ctx().now.toISOString() }).map(
      ([k, v]) => `${e.path(k)} = ${e.value(v)}`,
    );
    const adds = Object.entries(spec.add ?? {}).map(([k, v]) => `${e.path(k)} ${e.value(v)}`);
    const removes = (spec.remove ?? []).map((k) => e.path(k));
    const conditions = [`attribute_exists(${e.path(RunTableLayout.partitionKey)})`];
    if (spec.ifStage !== undefined) {
      const stages = typeof spec.ifStage === 'string' ? [spec.ifStage] : spec.ifStage;
      const stagePath = e.path('stage');
      conditions.push(`(${stages.map((s) => `${stagePath} = ${e.value(s)}`).join(' OR ')})`);
    }
    if (spec.condition) conditions.push(`(${spec.condition.expression})`);
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: KEY(runId),
          UpdateExpression: [
            `SET ${sets.join(', ')}`,
            adds.length ? `ADD ${adds.join(', ')}` : '',
            removes.length ? `REMOVE ${removes.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join(' '),
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: { ...e.names, ...spec.condition?.names },
          ExpressionAttributeValues: { ...e.values, ...spec.condition?.values },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRun(out.Attributes ?? {});
    } catch (err) {
      if ((err as { name?: string }).name === 'ConditionalCheckFailedException') {
        throw new StaleTransition(
          runId,
          spec.ifStage ? String(spec.ifStage) : 'the expected state',
          'the update condition failed',
          { cause: err },
        );
      }
      throw err;
    }
  }

  private async queryAll(input: ConstructorParameters<typeof QueryCommand>[0]): Promise<Run[]> {
    const runs: Run[] = [];
    let start: Record<string, NativeAttributeValue> | undefined;
    do {
      const out = await this.client.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      for (const item of out.Items ?? []) runs.push(toRun(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return runs;
  }
}
