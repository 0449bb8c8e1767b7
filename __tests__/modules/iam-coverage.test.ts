/**
 * Every AWS call a stage function really makes is allowed by the policy the stack gives that function, and
 * the policy allows nothing no call needs. Whole pipelines run through the real handlers (the simulation:
 * fake RDS control plane, dynalite, s3rver); every SDK command is recorded per stage, mapped to the IAM
 * requests it makes, and evaluated against the synthesized role policy of that stage (Terraform tokens
 * replaced with the simulation's concrete ARNs) and, for the pipeline key, against the key policy too.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { STAGES } from '../../modules/export-pipeline';
import { RunStage, StageFunction } from '../../lambdas/shared/domain/run';
import { TagKeys } from '../../lambdas/shared/domain/naming';
import type { RuntimeSettings } from '../../lambdas/shared/contracts/settings';
import { SnsAlertPublisher, SnsPipelinePublisher } from '../../lambdas/shared/adapters/sns';
import { S3ObjectCopier } from '../../lambdas/shared/adapters/s3-copy';
import { SIM_DESTINATION_BUCKET, Simulation, type SimulationOptions } from '../simulation/harness';
import { startDynalite, type DynaliteHandle } from '../support/dynalite';
import { awsError } from '../support/fake-rds';
import { startS3rver, type S3rverHandle } from '../support/s3rver';
import {
  evaluatePolicy,
  allowedActions,
  resolveTokens,
  wildcardMatch,
  type PolicyDocumentJson,
} from '../support/iam-eval';
import { CallRecorder, requestsFor, type MappedRequest, type RecordedCall } from './iam-requests';
import { exampleConfig, only, resources, synthesizedSettings, synthStack, type SynthesizedStack } from './stack-helper';
import { DEFAULT_STAGE_DEADLINES } from '../../config/schema';

const REGION = 'eu-west-1';
const CLIENT_ACCOUNT = '210987654321';
const CLIENT_ACCESS_POINT = `arn:aws:s3:${REGION}:${CLIENT_ACCOUNT}:accesspoint/sim-lake`;
const CLIENT_KEY = `arn:aws:kms:${REGION}:${CLIENT_ACCOUNT}:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b`;
const MiB = 1024 ** 2;
const DEADLINES = DEFAULT_STAGE_DEADLINES;

/**
 * Actions a stage's policy grants that no recorded call makes, each with the reason it stays. A reason must
 * name the documented path that uses the action; an entry whose action is no longer granted fails the test.
 */
const JUSTIFIED_UNUSED: Readonly<Partial<Record<StageFunction, Readonly<Record<string, string>>>>> = {};

/**
 * Resources a statement names that no recorded call touches, by the ending of their ARN (a configured source
 * cluster written `{cluster}`), with the documented path that needs them.
 */
const MANUAL_SOURCE_SNAPSHOTS =
  'a manual start may name a manual snapshot of a configured cluster (`<cluster>-...`); the simulation starts from automated ones';
const FINAL_SNAPSHOT =
  'the Service Authorization Reference lists cluster-snapshot as a required resource type of DeleteDBCluster; every ' +
  'call skips the final snapshot, so no call names one';
const JUSTIFIED_UNUSED_RESOURCES: Readonly<Partial<Record<StageFunction, Readonly<Record<string, string>>>>> = {
  [StageFunction.CLEANUP]: { ':cluster-snapshot:sim-tmp-*': FINAL_SNAPSHOT },
  [StageFunction.RECONCILE]: { ':cluster-snapshot:sim-tmp-*': FINAL_SNAPSHOT },
  [StageFunction.START]: {
    ':cluster-snapshot:{cluster}-*': MANUAL_SOURCE_SNAPSHOTS,
    ':cluster-pg:*':
      'RDS authorizes a restore against the cluster parameter group the new cluster gets: the default one, as none is named',
    ':og:*':
      'RDS authorizes a restore against the option group the new cluster gets: the default one, as none is named',
  },
  [StageFunction.EXPORT]: {
    ':cluster-snapshot:{cluster}-*': MANUAL_SOURCE_SNAPSHOTS,
    ':cluster-snapshot:sim-tmp-*': FINAL_SNAPSHOT,
    ':cluster:sim-tmp-*':
      'the Service Authorization Reference lists cluster as a resource type of DescribeDBClusterSnapshots; the temporary ' +
      "snapshot's own cluster is named so the describe works whichever of the two RDS authorizes",
  },
};

// ---- the simulated deployments and their synthesized stacks ---------------------------------------------------

/** A simulated deployment and the stack synthesized from the same configuration, with every token resolved. */
interface Deployment {
  readonly name: string;
  readonly settings: RuntimeSettings;
  readonly tf: SynthesizedStack;
  readonly stagePolicies: ReadonlyMap<StageFunction, PolicyDocumentJson>;
  readonly keyPolicy: PolicyDocumentJson;
  readonly roleArns: ReadonlyMap<StageFunction, string>;
  readonly deadLetterQueueArns: ReadonlyMap<StageFunction, string>;
}

const TOKEN = /^\$\{([^}]+)\}$/;

/**
 * The destination bucket the stack is synthesized with. Each simulation has its own destination bucket, a
 * configuration value the policies name literally; it is put in place of this name like a token, so one
 * synthesized stack serves every simulation of the same configuration.
 */
const DESTINATION_BUCKET_SLOT = 'iam-coverage-destination-bucket';

/** The configuration of a simulation, with its own names (destination bucket) taken out. */
function shapeOf(settings: RuntimeSettings) {
  return {
    namePrefix: settings.namePrefix,
    tempResourcePrefix: settings.tempResourcePrefix,
    exportPrefix: settings.exportPrefix,
    sourceClusters: settings.sourceClusters.map((c) => c.identifier),
    restore: settings.restore,
    destination: {
      ...settings.destination,
      ...(settings.destination.bucket ? { bucket: DESTINATION_BUCKET_SLOT } : {}),
    },
  };
}

/** The stack synthesized from the configuration a simulation runs with. */
function stackFor(settings: RuntimeSettings): { tf: SynthesizedStack; synthesized: RuntimeSettings } {
  const config = exampleConfig((c) => ({
    ...c,
    namePrefix: settings.namePrefix,
    region: REGION,
    sourceClusters: settings.sourceClusters.map(({ identifier, exportMode }) => ({ identifier, exportMode })),
    restore: { ...settings.restore, vpcSecurityGroupIds: [...settings.restore.vpcSecurityGroupIds] },
    destination: shapeOf(settings).destination,
  }));
  const { tf, stack } = synthStack(config);
  return { tf, synthesized: synthesizedSettings(tf, stack, StageFunction.START) };
}

/** The stack's policies with its tokens replaced by the names and ARNs of one simulated deployment. */
function deploymentFor(
  name: string,
  stack: { tf: SynthesizedStack; synthesized: RuntimeSettings },
  settings: RuntimeSettings,
): Deployment {
  const { tf, synthesized } = stack;
  // The policies are only meaningful for the simulation if both were built from the same configuration.
  expect(shapeOf(synthesized)).toEqual(shapeOf(settings));

  // Tokens in the settings sit exactly where the simulation has concrete values: pair them.
  const account = settings.accountId;
  const bound = new Map<string, string>();
  const bind = (token: unknown, value: string) => {
    const inner = TOKEN.exec(String(token))?.[1];
    if (!inner) throw new Error(`expected a Terraform token, got ${String(token)}`);
    bound.set(inner, value);
    const [type, resourceName, attribute] = inner.split('.');
    if (type === 'aws_s3_bucket' && attribute === 'bucket')
      bound.set(`${type}.${resourceName}.arn`, `arn:aws:s3:::${value}`);
    if (type === 'aws_dynamodb_table' && attribute === 'name')
      bound.set(`${type}.${resourceName}.arn`, `arn:aws:dynamodb:${REGION}:${account}:table/${value}`);
  };
  bind(synthesized.accountId, account);
  bind(synthesized.tableName, settings.tableName);
  bind(synthesized.exportBucket, settings.exportBucket);
  bind(synthesized.exportKmsKeyArn, settings.exportKmsKeyArn);
  bind(synthesized.exportRoleArn, settings.exportRoleArn);
  bind(synthesized.pipelineTopicArn, settings.pipelineTopicArn);
  expect(synthesized.alertTopicArns).toHaveLength(settings.alertTopicArns.length);
  synthesized.alertTopicArns.forEach((t, i) => {
    bind(t, settings.alertTopicArns[i]);
  });

  // Everything else is named by the stack itself: ARNs follow from the resource's name.
  const resolve = (token: string): string | undefined => {
    if (bound.has(token)) return bound.get(token);
    const parts = token.split('.');
    if (parts[0] === 'data') {
      if (parts[1] === 'aws_partition' && parts[3] === 'partition') return 'aws';
      if (parts[1] === 'aws_region' && (parts[3] === 'name' || parts[3] === 'region')) return REGION;
      return undefined;
    }
    const [type, resourceName, attribute] = parts;
    const named = tf.resource[type]?.[resourceName]?.name as string | undefined;
    if (attribute !== 'arn' || !named) return undefined;
    const arns: Record<string, string> = {
      aws_cloudwatch_log_group: `arn:aws:logs:${REGION}:${account}:log-group:${named}`,
      aws_sqs_queue: `arn:aws:sqs:${REGION}:${account}:${named}`,
      aws_iam_role: `arn:aws:iam::${account}:role/${named}`,
      aws_sns_topic: `arn:aws:sns:${REGION}:${account}:${named}`,
    };
    return arns[type];
  };
  // Policies name the table, bucket, export role and topics by ARNs built from the stack's names; the simulated
  // deployment has its own names for them.
  const named = (type: string) => {
    const found = Object.values(resources(tf, type)).map((r) => r);
    if (found.length === 0) throw new Error(`no ${type} in the stack`);
    return found;
  };
  const tableName = String(named('aws_dynamodb_table')[0].name);
  const bucketName = resolveTokens(String(named('aws_s3_bucket')[0].bucket), resolve).text;
  const exportRole = named('aws_iam_role').find((r) => String(r.name).endsWith('-rds-export'));
  const topicArn = (suffix: string) =>
    `arn:aws:sns:${REGION}:${account}:${String(named('aws_sns_topic').find((t) => String(t.name).endsWith(suffix))?.name)}`;
  const renamed: [string, string][] = [
    [
      `arn:aws:dynamodb:${REGION}:${account}:table/${tableName}`,
      `arn:aws:dynamodb:${REGION}:${account}:table/${settings.tableName}`,
    ],
    [`arn:aws:s3:::${bucketName}`, `arn:aws:s3:::${settings.exportBucket}`],
    [`arn:aws:iam::${account}:role/${String(exportRole?.name)}`, settings.exportRoleArn],
    [topicArn('-pipeline'), settings.pipelineTopicArn],
    [topicArn('-alerts'), settings.alertTopicArns[0]],
  ];
  const parse = (where: string, text: string): PolicyDocumentJson => {
    const { text: resolvedText, unresolved } = resolveTokens(text, resolve);
    if (unresolved.length > 0) throw new Error(`${where}: cannot resolve ${unresolved.join(', ')}`);
    const resolved = renamed.reduce((t, [from, to]) => t.split(`"${from}`).join(`"${to}`), resolvedText);
    const named = settings.destination.bucket
      ? resolved.split(`arn:aws:s3:::${DESTINATION_BUCKET_SLOT}`).join(`arn:aws:s3:::${settings.destination.bucket}`)
      : resolved;
    return JSON.parse(named) as PolicyDocumentJson;
  };

  const rolePolicies = Object.values(resources(tf, 'aws_iam_role_policy'));
  const stagePolicies = new Map<StageFunction, PolicyDocumentJson>();
  const roleArns = new Map<StageFunction, string>();
  const deadLetterQueueArns = new Map<StageFunction, string>();
  for (const stage of STAGES) {
    const policy = rolePolicies.find((p) => p.name === `${stage}-stage`);
    if (!policy) throw new Error(`no role policy for ${stage}`);
    stagePolicies.set(stage, parse(`${stage} role policy`, policy.policy as string));
    const role = Object.values(resources(tf, 'aws_iam_role')).find((r) => r.name === `${settings.namePrefix}-${stage}`);
    if (!role) throw new Error(`no role for ${stage}`);
    roleArns.set(stage, `arn:aws:iam::${account}:role/${role.name as string}`);
    // The queue the function's failed async events go to (its on-failure destination).
    const invokeConfig = Object.values(resources(tf, 'aws_lambda_function_event_invoke_config')).find((c) =>
      String(c.function_name).includes(`_${stage}_function_`),
    );
    if (!invokeConfig) throw new Error(`no async invoke config for ${stage}`);
    deadLetterQueueArns.set(
      stage,
      resolveTokens(String((invokeConfig.destination_config as any).on_failure.destination), resolve).text,
    );
  }
  return {
    name,
    settings,
    tf,
    stagePolicies,
    keyPolicy: parse('key policy', only(tf, 'aws_kms_key').policy as string),
    roleArns,
    deadLetterQueueArns,
  };
}

// ---- recording the simulated pipelines ------------------------------------------------------------------------

type Handler = (event: unknown, context?: unknown) => Promise<unknown>;

/**
 * Makes a simulation record what each stage sends: its handlers run "as" their stage; RDS calls are seen
 * where the fake control plane logs them, S3 and DynamoDB calls by a middleware on the very clients the
 * handlers use, SNS publishes where the in-memory topics receive them.
 */
function instrument(sim: Simulation, recorder: CallRecorder): Record<StageFunction, Handler> {
  const handlers = (sim as unknown as { handlers?: Record<StageFunction, Handler> }).handlers;
  if (!handlers || STAGES.some((s) => typeof handlers[s] !== 'function'))
    throw new Error('the simulation keeps no handler per stage where this test wraps them');
  for (const stage of STAGES) {
    const handler = handlers[stage];
    handlers[stage] = (event, context) => recorder.as(stage, () => handler(event, context));
  }
  const rdsPush = sim.rds.calls.push.bind(sim.rds.calls);
  sim.rds.calls.push = (...calls) => {
    for (const c of calls) recorder.record('rds', c.command, c.input);
    return rdsPush(...calls);
  };
  recorder.attach(sim.s3, 's3');
  recorder.attach(sim.store.client, 'dynamodb');
  const published = sim.published.push.bind(sim.published);
  sim.published.push = (...messages) => {
    for (const _ of messages) recorder.record('sns', 'Publish', { TopicArn: sim.settings.pipelineTopicArn });
    return published(...messages);
  };
  const alerted = sim.alerts.push.bind(sim.alerts);
  sim.alerts.push = (...alerts) => {
    for (const _ of alerts)
      for (const TopicArn of sim.settings.alertTopicArns) recorder.record('sns', 'Publish', { TopicArn });
    return alerted(...alerts);
  };
  return handlers;
}

/**
 * What Lambda itself does with each function's role: write its logs, park a failed async event, and (active
 * tracing) upload the trace segments and the daemon's telemetry.
 */
function recordLambdaService(recorder: CallRecorder, d: Deployment): void {
  recorder.scenario = 'Lambda runtime logs, traces and on-failure destination';
  for (const stage of STAGES) {
    recorder.as(stage, () => {
      const stream = {
        logGroupName: `/aws/lambda/${d.settings.namePrefix}-${stage}`,
        logStreamName: '2026/05/15/[$LATEST]0f1e2d3c4b5a6978',
      };
      recorder.record('logs', 'CreateLogStream', stream);
      recorder.record('logs', 'PutLogEvents', stream);
      recorder.record('sqs', 'SendMessage', { QueueArn: d.deadLetterQueueArns.get(stage) });
      recorder.record('xray', 'PutTraceSegments', { TraceSegmentDocuments: [] });
      recorder.record('xray', 'PutTelemetryRecords', { TelemetryRecords: [] });
    });
  }
}

/**
 * The copy stage's multipart path (objects above 5 GiB), which the simulation's small exports never take:
 * the same S3ObjectCopier the copy stage builds, configured as it does, against a client that answers every
 * call itself. Once through to completion, once with a failing completion (the upload is aborted).
 */
async function recordMultipartCopy(recorder: CallRecorder, s: RuntimeSettings): Promise<void> {
  recorder.scenario = 'multipart copy (UploadPartCopy), completed and aborted';
  let failCompletion = false;
  const client = new S3Client({ region: REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  recorder.attach(client, 's3');
  client.middlewareStack.add(
    (_next: unknown, context: { commandName?: string }) => async () => {
      const answers: Record<string, object> = {
        HeadObjectCommand: { ContentLength: 12 * MiB, ETag: '"src"' },
        CreateMultipartUploadCommand: { UploadId: 'upload-1' },
        UploadPartCopyCommand: { CopyPartResult: { ETag: '"part"' } },
        CompleteMultipartUploadCommand: { ETag: '"whole"' },
        AbortMultipartUploadCommand: {},
      };
      if (context.commandName === 'CompleteMultipartUploadCommand' && failCompletion)
        throw Object.assign(new Error('We encountered an internal error'), { name: 'InternalError', $fault: 'server' });
      const output = answers[String(context.commandName)];
      if (!output) throw new Error(`unexpected ${context.commandName}`);
      return { output: { ...output, $metadata: {} }, response: {} };
    },
    { step: 'initialize', priority: 'low', name: 'answerLocally' },
  );
  const copier = new S3ObjectCopier({
    client,
    sourceBucket: s.exportBucket,
    sourceOwnerAccountId: s.accountId,
    destinationBucket: s.destination.accessPointArn ?? (s.destination.bucket as string),
    destinationOwnerAccountId: s.destination.expectedOwnerAccountId,
    kmsKeyArn: s.destination.kmsKeyArn,
    bucketOwnerFullControl: s.destination.aclMode === 'bucket-owner-full-control',
    partSizeBytes: 5 * MiB,
    multipartThresholdBytes: 5 * MiB,
  });
  const object = (n: number) => ({
    sourceKey: `${s.exportPrefix}/run-big/${s.tempResourcePrefix}run-big-x1/orders/public.orders/1/part-0000${n}.gz.parquet`,
    destinationKey: `lake/orders-provisioned/2026-05-15/orders/public.orders/1/part-0000${n}.gz.parquet`,
    size: 12 * MiB,
  });
  await recorder.as(StageFunction.COPY, async () => {
    await expect(copier.copy(object(0))).resolves.toMatchObject({ multipart: true, parts: 3 });
    failCompletion = true;
    await expect(copier.copy(object(1))).rejects.toThrow(/internal error/);
  });
  client.destroy();
}

// ---- evaluation ------------------------------------------------------------------------------------------------

/** What one simulated deployment asked of AWS, mapped to IAM requests. */
interface Recorded {
  readonly deployment: Deployment;
  readonly calls: readonly RecordedCall[];
  readonly requests: readonly MappedRequest[];
}

function recorded(deployment: Deployment, calls: readonly RecordedCall[]): Recorded {
  return {
    deployment,
    calls,
    requests: calls.flatMap((c) => requestsFor(c, { settings: deployment.settings, region: REGION })),
  };
}

/** Every (stage, action, resource) a policy does not allow, once each, with the call that needed it. */
function deniedRequests(runs: readonly Recorded[]): string[] {
  const denied = new Map<string, string>();
  for (const { deployment: d, requests } of runs) {
    const note = (r: MappedRequest, what: string) => {
      const key = `${r.stage}: ${r.action} on ${r.resource} — ${what}`;
      if (!denied.has(key)) denied.set(key, `${key} (first by ${r.via})`);
    };
    for (const r of requests) {
      const identity = evaluatePolicy(d.stagePolicies.get(r.stage) as PolicyDocumentJson, r);
      if (identity.decision !== 'allow') note(r, `${identity.decision} by the ${r.stage} role policy`);
      if (r.action.startsWith('kms:') && r.resource === d.settings.exportKmsKeyArn) {
        // A key policy allows a caller it names, or delegates to IAM through the account principal (whose
        // statement's conditions still apply); the identity policy was checked above.
        const asRole = evaluatePolicy(d.keyPolicy, {
          ...r,
          principal: { type: 'AWS', id: d.roleArns.get(r.stage) as string },
        });
        const asAccount = evaluatePolicy(d.keyPolicy, {
          ...r,
          principal: { type: 'AWS', id: `arn:aws:iam::${d.settings.accountId}:root` },
        });
        const decisions = [asRole.decision, asAccount.decision];
        if (decisions.includes('explicit-deny') || !decisions.includes('allow'))
          note(r, 'not allowed by the pipeline key policy');
      }
    }
  }
  return [...denied.values()].sort();
}

/**
 * Statements every stage shares by design, whose actions need only be used by some stage: the run table
 * grant (modules/run-table.ts) is one statement for all, as each stage reads and moves runs on one table.
 */
const SHARED_STATEMENTS: readonly string[] = ['RunTableItems'];

/**
 * Actions and statements of the stages' policies that no request of any run uses and no justification
 * covers. The runs share one configuration, so their policies differ only in names.
 */
function unusedGrants(runs: readonly Recorded[], stages: readonly StageFunction[] = STAGES): string[] {
  const problems: string[] = [];
  const all = runs.flatMap((run) => run.requests);
  for (const stage of stages) {
    const policy = runs[0].deployment.stagePolicies.get(stage) as PolicyDocumentJson;
    const justified = JUSTIFIED_UNUSED[stage] ?? {};
    const justifiedResources = JUSTIFIED_UNUSED_RESOURCES[stage] ?? {};
    const mine = all.filter((r) => r.stage === stage);
    // A grant repeated for each configured cluster counts as used when it is used for one of them.
    const clusters = runs[0].deployment.settings.sourceClusters.map((c) => c.identifier.toLowerCase());
    const canonical = (pattern: string) =>
      clusters.reduce(
        (p, c) =>
          p.replace(new RegExp(`(?<=[:/])${c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=[-/]|$)`, 'g'), '{cluster}'),
        pattern,
      );
    // Statements and resource entries (by position and canonical form: names differ from run to run) some call of the stage needs.
    const usedStatements = new Set<string>();
    const usedResources = new Set<string>();
    for (const run of runs) {
      const own = run.deployment.stagePolicies.get(stage) as PolicyDocumentJson;
      for (const r of run.requests.filter((x) => x.stage === stage)) {
        for (const sid of evaluatePolicy(own, r).by) usedStatements.add(sid);
        own.Statement.forEach((st, i) => {
          if (st.Effect !== 'Allow' || !evaluatePolicy({ Statement: [st] }, r).by.length) return;
          ([st.Resource ?? []].flat() as string[]).forEach((pattern) => {
            if (wildcardMatch(pattern, r.resource)) usedResources.add(`${i}/${canonical(pattern)}`);
          });
        });
      }
    }
    policy.Statement.forEach((st, i) => {
      if (st.Effect !== 'Allow') return;
      const sid = st.Sid ?? `#${i}`;
      const shared = SHARED_STATEMENTS.includes(sid);
      const actions = [st.Action ?? []].flat() as string[];
      for (const action of actions) {
        const used = (shared ? all : mine).some((r) => wildcardMatch(action, r.action, true));
        if (!used && !justified[action]) problems.push(`${stage}: grants ${action}, which no call makes`);
      }
      if (shared || actions.every((a) => justified[a])) return;
      if (!usedStatements.has(sid)) problems.push(`${stage}: statement ${sid} allows no call that is made`);
      else {
        for (const pattern of [st.Resource ?? []].flat() as string[]) {
          const excused = Object.keys(justifiedResources).some((suffix) => canonical(pattern).endsWith(suffix));
          if (!usedResources.has(`${i}/${canonical(pattern)}`) && !excused)
            problems.push(`${stage}: statement ${sid} names ${pattern}, which no call needs`);
        }
      }
    });
    const granted = allowedActions(policy);
    for (const action of Object.keys(justified)) {
      if (!granted.includes(action)) problems.push(`${stage}: ${action} is listed as justified but no longer granted`);
    }
  }
  return problems;
}

// ---- the runs --------------------------------------------------------------------------------------------------

const ACCESS_POINT_DESTINATION = {
  accessPointArn: CLIENT_ACCESS_POINT,
  expectedOwnerAccountId: CLIENT_ACCOUNT,
  keyPrefixTemplate: 'lake/{cluster}/{date}',
  kmsKeyArn: CLIENT_KEY,
  aclMode: 'bucket-owner-full-control' as const,
};

describe('IAM coverage: the calls the stage functions make against the policies the stack gives them', () => {
  let emulators: { dynalite: DynaliteHandle; s3rver: S3rverHandle };
  const bucketRuns: Recorded[] = [];
  const accessPointRuns: Recorded[] = [];
  /** A configuration naming no subnet group: its stack grants the start function one more statement. */
  const sourceNetworkRuns: Recorded[] = [];
  /** Stacks by configuration (names aside): one per destination shape. */
  const stacks = new Map<string, ReturnType<typeof stackFor>>();

  /**
   * Runs a scenario in a fresh simulation (its own table and buckets) and returns what it asked of AWS,
   * with the policies of the stack resolved for its names. `extra` records more calls in the same deployment.
   */
  async function scenario(
    name: string,
    options: SimulationOptions,
    run: (sim: Simulation, handlers: Record<StageFunction, Handler>) => Promise<void>,
    extra?: (recorder: CallRecorder, deployment: Deployment) => Promise<void>,
    recorder = new CallRecorder(),
  ): Promise<Recorded> {
    const sim = await Simulation.start(options);
    try {
      const handlers = instrument(sim, recorder);
      recorder.scenario = name;
      await run(sim, handlers);
    } finally {
      await sim.stop();
    }
    const destinationIsAccessPoint = Boolean(sim.settings.destination.accessPointArn);
    const key = JSON.stringify(shapeOf(sim.settings));
    const stack = stacks.get(key) ?? stackFor(sim.settings);
    stacks.set(key, stack);
    const deployment = deploymentFor(name, stack, sim.settings);
    if (extra) await extra(recorder, deployment);
    const result = recorded(deployment, recorder.calls);
    (destinationIsAccessPoint ? accessPointRuns : bucketRuns).push(result);
    return result;
  }

  const succeeded = async (sim: Simulation) =>
    expect((await sim.runUntilSettled()).map((r) => r.stage)).toEqual([RunStage.SUCCEEDED]);
  const documentedPaths = async (recorder: CallRecorder, deployment: Deployment) => {
    recordLambdaService(recorder, deployment);
    await recordMultipartCopy(recorder, deployment.settings);
  };

  beforeAll(async () => {
    const [dynalite, s3rver] = await Promise.all([startDynalite(), startS3rver([])]);
    emulators = { dynalite, s3rver };
    const shared = { emulators };

    // A destination bucket, no client key: most scenarios.
    await scenario(
      'direct path',
      shared,
      async (sim) => {
        sim.announceSnapshot('orders-provisioned', 'provisioned');
        await succeeded(sim);
      },
      documentedPaths,
    );
    await scenario('restore path', shared, async (sim) => {
      sim.announceSnapshot('me3-serverless', 'serverless');
      await succeeded(sim);
    });
    await scenario('export fails, cleanup, operator retry', shared, async (sim) => {
      sim.rds.failNextExportAsync('S3 bucket policy denies the export role');
      sim.announceSnapshot('me3-serverless', 'serverless');
      const [failed] = await sim.runUntilSettled();
      expect(failed.stage).toBe(RunStage.FAILED);
      sim.publish(StageFunction.START, { kind: 'retry', runId: failed.runId });
      const runs = await sim.runUntilSettled();
      expect(runs.map((r) => r.stage).sort()).toEqual([RunStage.FAILED, RunStage.SUCCEEDED]);
    });
    await scenario('operator start, then cancel while exporting', shared, async (sim) => {
      sim.rds.addSourceSnapshot('orders-provisioned', 'provisioned');
      sim.publish(StageFunction.START, { kind: 'start', clusterId: 'orders-provisioned' });
      await sim.drain();
      const [run] = await sim.allRuns();
      expect(run.stage).toBe(RunStage.EXPORTING);
      sim.publish(StageFunction.CLEANUP, { kind: 'cancel', runId: run.runId });
      expect((await sim.runUntilSettled()).map((r) => r.stage)).toEqual([RunStage.CANCELLED]);
      expect(sim.rds.successfulCalls('CancelExportTask')).toHaveLength(1);
    });
    await scenario('waits for an export slot', { ...shared, exportSlots: 5 }, async (sim) => {
      sim.rds.occupyExportSlots(5, 3);
      sim.announceSnapshot('orders-provisioned', 'provisioned');
      await succeeded(sim);
    });
    await scenario('restore refused', shared, async (sim) => {
      sim.rds.failNext(
        'RestoreDBClusterFromSnapshot',
        awsError('DBClusterQuotaExceededFault', 'You have reached the maximum allowed DB cluster quota'),
      );
      sim.announceSnapshot('me3-serverless', 'serverless');
      expect((await sim.runUntilSettled()).map((r) => r.stage)).toEqual([RunStage.FAILED]);
    });
    await scenario('snapshot of the temporary cluster refused', shared, async (sim) => {
      sim.rds.failNext(
        'CreateDBClusterSnapshot',
        awsError('DBClusterSnapshotQuotaExceededFault', 'Snapshot quota exceeded'),
      );
      sim.announceSnapshot('me3-serverless', 'serverless');
      expect((await sim.runUntilSettled()).map((r) => r.stage)).toEqual([RunStage.FAILED]);
    });
    await scenario('export of the temporary snapshot refused', shared, async (sim) => {
      sim.rds.failNext('StartExportTask', awsError('InvalidS3BucketFault', 'The S3 bucket cannot be used'));
      sim.announceSnapshot('me3-serverless', 'serverless');
      expect((await sim.runUntilSettled()).map((r) => r.stage)).toEqual([RunStage.FAILED]);
    });
    await scenario(
      'export past its deadline',
      { ...shared, settings: { stageDeadlinesMinutes: { ...DEADLINES, exporting: 1 } } },
      async (sim) => {
        sim.announceSnapshot('orders-provisioned', 'provisioned');
        const [run] = await sim.runUntilSettled();
        expect(run.stage).toBe(RunStage.FAILED);
        expect(sim.rds.successfulCalls('CancelExportTask')).toHaveLength(1);
      },
    );
    await scenario(
      'alert lost in a crash, sent again by the reconciler',
      { ...shared, crashBeforeFirstAlert: true },
      async (sim) => {
        sim.announceSnapshot('orders-provisioned', 'provisioned');
        await succeeded(sim);
        for (let i = 0; i < 15; i++) await sim.tick();
        expect(sim.alerts).toHaveLength(1);
      },
    );
    await scenario(
      'reconciler: lost events, a missed snapshot, orphans',
      { ...shared, loseEachOnce: true },
      async (sim) => {
        const longAgo = new Date(sim.now().getTime() - 2 * 86_400_000);
        const tags = [
          { Key: TagKeys.MANAGED_BY, Value: sim.settings.managedByTag },
          { Key: TagKeys.RUN_ID, Value: 'gone-run' },
        ];
        const orphan = `${sim.settings.tempResourcePrefix}gone-run`;
        const common = {
          status: 'available',
          engine: 'aurora-postgresql',
          engineVersion: '15.4',
          engineMode: 'provisioned',
          created: longAgo,
          tags,
          wait: 0,
        };
        sim.rds.clusters.set(orphan, {
          ...common,
          id: orphan,
          arn: `arn:aws:rds:${REGION}:${sim.settings.accountId}:cluster:${orphan}`,
        });
        sim.rds.snapshots.set(orphan, {
          ...common,
          id: orphan,
          arn: `arn:aws:rds:${REGION}:${sim.settings.accountId}:cluster-snapshot:${orphan}`,
          clusterId: orphan,
          type: 'manual',
        });
        sim.announceSnapshot('me3-serverless', 'serverless');
        expect((await sim.runUntilSettled(200)).map((r) => r.stage)).toEqual([RunStage.SUCCEEDED]);
        expect(sim.rds.successfulCalls('DeleteDBCluster').map((c) => c.input.DBClusterIdentifier)).toContain(orphan);
        expect(
          sim.rds.successfulCalls('DeleteDBClusterSnapshot').map((c) => c.input.DBClusterSnapshotIdentifier),
        ).toContain(orphan);
      },
    );

    // No subnet group configured: the temporary cluster goes into the source cluster's network, which the start
    // function reads. Its stack differs (one more statement), so its grants are not counted with the others'.
    const sourceNetwork = await scenario(
      'restore into the source cluster network',
      { ...shared, settings: { restore: { vpcSecurityGroupIds: [] } } },
      async (sim) => {
        sim.announceSnapshot('me3-serverless', 'serverless');
        await succeeded(sim);
      },
    );
    bucketRuns.splice(bucketRuns.indexOf(sourceNetwork), 1);
    sourceNetworkRuns.push(sourceNetwork);

    // The client's access point in another account, the client's KMS key and ACLs: the copy stage's other
    // shape. The emulator has no access points, so the copy client reaches the bucket behind it, after the
    // call is recorded with the access point, as IAM sees it. Own emulators: the shared set-up creates the
    // destination bucket by name, which an access point destination has not.
    const recorder = new CallRecorder();
    await scenario(
      'direct path to an access point with a client key and ACLs, and the preflight probe',
      {
        settings: { destination: ACCESS_POINT_DESTINATION },
        copyS3: (s3) => {
          recorder.attach(s3, 's3');
          s3.middlewareStack.add(
            (next: (args: any) => Promise<any>) => async (args: any) =>
              next(
                args.input?.Bucket === CLIENT_ACCESS_POINT
                  ? { ...args, input: { ...args.input, Bucket: SIM_DESTINATION_BUCKET } }
                  : args,
              ),
            { step: 'initialize', priority: 'low', name: 'accessPointToBucketBehindIt' },
          );
          return s3;
        },
      },
      async (sim, handlers) => {
        sim.announceSnapshot('orders-provisioned', 'provisioned');
        await succeeded(sim);
        expect(await sim.keys(SIM_DESTINATION_BUCKET, 'lake/orders-provisioned/')).toContainEqual(
          expect.stringMatching(/\/_SUCCESS$/),
        );
        await expect(handlers[StageFunction.COPY]({ kind: 'probe' })).resolves.toMatchObject({
          ok: true,
          step: 'multipart',
        });
      },
      documentedPaths,
      recorder,
    );
    // A dozen whole pipelines: longer than one test's default timeout on a busy machine.
  }, 240_000);

  afterAll(async () => {
    await Promise.all([emulators?.dynalite.stop(), emulators?.s3rver.stop()]);
  });

  it('records calls of every stage function, through each AWS service the pipeline uses', () => {
    const stagesOf = (runs: Recorded[]) =>
      [
        ...new Set(
          runs
            .flatMap((r) => r.calls)
            .filter((c) => c.service !== 'logs' && c.service !== 'sqs')
            .map((c) => c.stage),
        ),
      ].sort();
    expect(stagesOf(bucketRuns)).toEqual([...STAGES].sort());
    expect(stagesOf(accessPointRuns)).toContain(StageFunction.COPY);
    const calls = bucketRuns.flatMap((r) => r.calls);
    expect([...new Set(calls.map((c) => c.service))].sort()).toEqual([
      'dynamodb',
      'logs',
      'rds',
      's3',
      'sns',
      'sqs',
      'xray',
    ]);
    expect([...new Set(calls.filter((c) => c.service === 'rds').map((c) => c.command))].sort()).toEqual(
      [
        'CancelExportTask',
        'CreateDBClusterSnapshot',
        'DeleteDBCluster',
        'DeleteDBClusterSnapshot',
        'DescribeDBClusterSnapshots',
        'DescribeDBClusters',
        'DescribeExportTasks',
        'RestoreDBClusterFromSnapshot',
        'StartExportTask',
      ].sort(),
    );
    const copyS3 = accessPointRuns
      .flatMap((r) => r.calls)
      .filter((c) => c.service === 's3' && c.stage === StageFunction.COPY);
    expect([...new Set(copyS3.map((c) => c.command))].sort()).toEqual(
      [
        'AbortMultipartUpload',
        'CompleteMultipartUpload',
        'CopyObject',
        'CreateMultipartUpload',
        'GetObject',
        'HeadObject',
        'ListObjectsV2',
        'PutObject',
        'UploadPart',
        'UploadPartCopy',
      ].sort(),
    );
  });

  it('allows every call each stage makes with a destination bucket, in its role policy and in the key policy', () => {
    expect(bucketRuns.flatMap((r) => r.requests).length).toBeGreaterThan(500);
    expect(deniedRequests(bucketRuns)).toEqual([]);
  });

  it("allows the start function to read the source cluster's network when no subnet group is configured", () => {
    const describes = sourceNetworkRuns
      .flatMap((r) => r.requests)
      .filter((r) => r.stage === StageFunction.START && r.action === 'rds:DescribeDBClusters');
    expect(describes.map((r) => r.resource)).toEqual([expect.stringMatching(/:cluster:me3-serverless$/)]);
    expect(deniedRequests(sourceNetworkRuns)).toEqual([]);
  });

  it('allows every call each stage makes with an access point, the client key and ACLs', () => {
    expect(deniedRequests(accessPointRuns)).toEqual([]);
  });

  it('grants no stage an action or statement that no call makes, beyond the justified exceptions', () => {
    expect(unusedGrants(bucketRuns)).toEqual([]);
    // The access point run exercises the copy stage's other shape; the other stages' policies are the same.
    expect(unusedGrants(accessPointRuns, [StageFunction.COPY])).toEqual([]);
  });

  it('would report a call its policy does not allow, and a grant nothing uses', () => {
    const [run] = bucketRuns;
    const d = run.deployment;
    const start = d.stagePolicies.get(StageFunction.START) as PolicyDocumentJson;
    const withoutExport = new Map(d.stagePolicies).set(StageFunction.START, {
      Statement: start.Statement.filter((s) => s.Sid !== 'RestoreOrExportSourceSnapshots'),
    });
    expect(deniedRequests([{ ...run, deployment: { ...d, stagePolicies: withoutExport } }])).toContainEqual(
      expect.stringMatching(
        /^start: rds:StartExportTask on arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-provisioned-.* implicit-deny/,
      ),
    );
    const cleanup = d.stagePolicies.get(StageFunction.CLEANUP) as PolicyDocumentJson;
    const extra = new Map(d.stagePolicies).set(StageFunction.CLEANUP, {
      Statement: [
        ...cleanup.Statement,
        {
          Sid: 'Extra',
          Effect: 'Allow',
          Action: 'rds:ModifyDBCluster',
          Resource: 'arn:aws:rds:eu-west-1:123456789012:cluster:sim-tmp-*',
        },
      ],
    });
    expect(unusedGrants([{ ...run, deployment: { ...d, stagePolicies: extra } }, ...bucketRuns.slice(1)])).toEqual([
      'cleanup: grants rds:ModifyDBCluster, which no call makes',
      'cleanup: statement Extra allows no call that is made',
    ]);
  });
});

describe('The SNS adapters publish to exactly the topics the coverage test maps them to', () => {
  it('sends one Publish per message to the pipeline topic, and one per alert topic', async () => {
    const sent: Array<{ command: string; topic: string }> = [];
    const sns = new SNSClient({ region: REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    sns.middlewareStack.add(
      (_next: unknown, context: { commandName?: string }) => async (args: { input: object }) => {
        sent.push({
          command: String(context.commandName),
          topic: String((args.input as { TopicArn?: string }).TopicArn),
        });
        return { output: { MessageId: 'm', $metadata: {} }, response: {} };
      },
      { step: 'initialize', name: 'answerLocally' },
    );
    const pipeline = `arn:aws:sns:${REGION}:123456789012:sim-pipeline`;
    const alerts = [`arn:aws:sns:${REGION}:123456789012:sim-alerts`, `arn:aws:sns:${REGION}:111122223333:ops`];
    await new SnsPipelinePublisher(pipeline, sns).publish(StageFunction.COPY, { kind: 'copy-plan', runId: 'r' });
    await new SnsAlertPublisher(alerts, sns).alert('subject', 'text');
    expect(sent).toEqual([
      { command: 'PublishCommand', topic: pipeline },
      { command: 'PublishCommand', topic: alerts[0] },
      { command: 'PublishCommand', topic: alerts[1] },
    ]);
    sns.destroy();
  });
});
