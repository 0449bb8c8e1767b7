/**
 * `preflight`: proves, with real credentials and before the first nightly run, that the pipeline can work.
 * Checks in order and prints ✓/✗ with the fix for each: the source clusters and the path each takes; the
 * export bucket, key and role; a probe write to the destination made by the copy function itself (invoked
 * directly with `{"kind":"probe"}`, so the client's policies are tested against the copy role); the client's
 * KMS key. It changes nothing but the probe object, which stays: the copy role cannot delete.
 * `--as-self` probes with the operator's own credentials instead (written and deleted).
 */
import { randomBytes } from 'node:crypto';
import { GetRoleCommand } from '@aws-sdk/client-iam';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { type DBCluster, DescribeDBClusterSnapshotsCommand, DescribeDBClustersCommand } from '@aws-sdk/client-rds';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { GetCallerIdentityCommand, type GetCallerIdentityCommandOutput } from '@aws-sdk/client-sts';
import type { PipelineConfig, SourceClusterConfig } from '../../config/schema';
import { CLIENT_KMS_ACTIONS, copyObjectActions, destinationObjectPrefixes } from '../../modules/client-policy';
import { PROBE_FOLDER, probeResultSchema, type ProbeResult } from '../../lambdas/copy/probe';
import { StageFunction } from '../../lambdas/shared/domain/run';
import type { AwsClients } from '../aws';
import type { CliContext, Command } from '../context';
import { AwsUnreachable, type CliError, CredentialsMissing, toCliError } from '../errors';
import { printJson } from '../output';
import type { StackInfo } from '../stack';

/** Outcome of one check. `skip` means it could not be reached (an earlier check failed) or does not apply. */
export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

/** One line of the preflight report. */
export interface CheckResult {
  readonly check: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** What to do, for `fail` and `warn`. */
  readonly fix?: string;
  /** Something to know whatever the outcome (e.g. the probe object stays). */
  readonly note?: string;
}

/** What the preflight runs with. */
export interface PreflightInput {
  readonly config: PipelineConfig;
  readonly stack: StackInfo;
  readonly aws: AwsClients;
  /** Probe the destination with the operator's credentials instead of invoking the copy function. */
  readonly asSelf?: boolean;
  /** Probe key suffix; random by default. */
  readonly probeId?: string;
  readonly now?: () => Date;
  /** The environment, so that a network failure names the endpoint override in effect. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Failures that no later check can get past: every check would fail the same way. */
function isFatal(x: CliError): boolean {
  return x instanceof CredentialsMissing || x instanceof AwsUnreachable;
}

const MARK: Record<CheckStatus, string> = { pass: '✓', fail: '✗', warn: '!', skip: '-' };
const EXPORT_SERVICE = 'export.rds.amazonaws.com';

interface AwsError {
  name?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function err(e: unknown): AwsError {
  return (e ?? {}) as AwsError;
}

function errText(e: unknown): string {
  const x = err(e);
  return `${x.name ?? 'Error'}: ${(x.message ?? String(e)).split('\n')[0]}`;
}

/** Which path a cluster's snapshots take, or why they cannot be exported as configured. */
export function pathFor(
  cluster: SourceClusterConfig,
  engineMode: string | undefined,
): { path?: 'direct' | 'restore'; problem?: string } {
  const serverlessV1 = engineMode === 'serverless';
  if (cluster.exportMode === 'restore') return { path: 'restore' };
  if (cluster.exportMode === 'direct') {
    return serverlessV1
      ? { problem: 'exportMode is direct, but StartExportTask refuses Aurora Serverless v1 snapshots' }
      : { path: 'direct' };
  }
  return { path: serverlessV1 ? 'restore' : 'direct' };
}

async function checkCluster(aws: AwsClients, cluster: SourceClusterConfig, region: string): Promise<CheckResult> {
  const check = `source cluster ${cluster.identifier}`;
  let found: DBCluster | undefined;
  try {
    const out = await aws.rds().send(new DescribeDBClustersCommand({ DBClusterIdentifier: cluster.identifier }));
    found = out.DBClusters?.[0];
  } catch (e) {
    if (err(e).name !== 'DBClusterNotFoundFault') throw e;
  }
  if (!found) {
    return {
      check,
      status: 'fail',
      detail: `no DB cluster ${cluster.identifier} in ${region}`,
      fix: `check sourceClusters[].identifier and region (${region}) in the configuration`,
    };
  }
  if (!found.Engine?.startsWith('aurora')) {
    return {
      check,
      status: 'fail',
      detail: `engine ${found.Engine} is not Aurora`,
      fix: 'list only Aurora clusters in sourceClusters',
    };
  }
  const mode = found.EngineMode ?? 'provisioned';
  const { path, problem } = pathFor(cluster, mode);
  const kind =
    mode === 'serverless' ? 'Serverless v1' : found.ServerlessV2ScalingConfiguration ? 'Serverless v2' : mode;
  if (problem)
    return {
      check,
      status: 'fail',
      detail: `${found.Engine} ${found.EngineVersion} (${kind}): ${problem}`,
      fix: `set exportMode to auto or restore for ${cluster.identifier}`,
    };
  let newest = 'no automated snapshot yet';
  const snaps = await aws
    .rds()
    .send(
      new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: cluster.identifier, SnapshotType: 'automated' }),
    );
  const latest = (snaps.DBClusterSnapshots ?? [])
    .filter((s) => s.SnapshotCreateTime)
    .sort((a, b) => (b.SnapshotCreateTime as Date).getTime() - (a.SnapshotCreateTime as Date).getTime())[0];
  if (latest)
    newest = `newest automated snapshot ${latest.DBClusterSnapshotIdentifier} (${(latest.SnapshotCreateTime as Date).toISOString()})`;
  const how = path === 'restore' ? 'restore to a temporary provisioned cluster, then export' : 'direct export';
  return {
    check,
    status: 'pass',
    detail: `${found.Engine} ${found.EngineVersion} (${kind}) → ${how} [exportMode ${cluster.exportMode}]; ${newest}`,
  };
}

async function checkExportBucket(aws: AwsClients, bucket: string | undefined, account: string): Promise<CheckResult> {
  const check = 'export bucket';
  if (!bucket)
    return {
      check,
      status: 'fail',
      detail: 'the stack output export_bucket_name is unknown',
      fix: 'deploy the stack (cdktf deploy) or pass --outputs <file>',
    };
  try {
    await aws.s3().send(new HeadBucketCommand({ Bucket: bucket, ExpectedBucketOwner: account }));
    return { check, status: 'pass', detail: `s3://${bucket} exists and is owned by ${account}` };
  } catch (e) {
    const status = err(e).$metadata?.httpStatusCode;
    if (status === 404 || err(e).name === 'NotFound' || err(e).name === 'NoSuchBucket') {
      return {
        check,
        status: 'fail',
        detail: `s3://${bucket} does not exist`,
        fix: 'deploy the stack (cdktf deploy); the bucket is part of it',
      };
    }
    if (status === 403) {
      return {
        check,
        status: 'fail',
        detail: `s3://${bucket} is not accessible, or is not owned by ${account}`,
        fix: `check that the stack is deployed in account ${account} and that you may s3:ListBucket on it`,
      };
    }
    return {
      check,
      status: 'fail',
      detail: errText(e),
      fix: 'retry; if it persists, check the bucket in the S3 console',
    };
  }
}

async function checkExportKey(aws: AwsClients, keyArn: string | undefined): Promise<CheckResult> {
  const check = 'export KMS key';
  if (!keyArn)
    return {
      check,
      status: 'fail',
      detail: 'the stack output export_kms_key_arn is unknown',
      fix: 'deploy the stack (cdktf deploy) or pass --outputs <file>',
    };
  try {
    const out = await aws.kms().send(new DescribeKeyCommand({ KeyId: keyArn }));
    const meta = out.KeyMetadata;
    if (meta?.KeyState !== 'Enabled') {
      const fix =
        meta?.KeyState === 'PendingDeletion'
          ? `cancel the deletion: aws kms cancel-key-deletion --key-id ${keyArn}, then enable it`
          : `enable it: aws kms enable-key --key-id ${keyArn}`;
      return { check, status: 'fail', detail: `${keyArn} is ${meta?.KeyState}`, fix };
    }
    if (meta.KeyManager !== 'CUSTOMER')
      return {
        check,
        status: 'fail',
        detail: `${keyArn} is AWS-managed`,
        fix: 'StartExportTask needs a customer-managed key: deploy the stack, which creates one',
      };
    return { check, status: 'pass', detail: `${keyArn} is enabled and customer-managed` };
  } catch (e) {
    if (err(e).name === 'NotFoundException')
      return { check, status: 'fail', detail: `${keyArn} does not exist`, fix: 'deploy the stack (cdktf deploy)' };
    if (err(e).name === 'AccessDeniedException')
      return {
        check,
        status: 'fail',
        detail: `you may not describe ${keyArn}`,
        fix: 'run preflight with credentials allowed kms:DescribeKey on the pipeline key',
      };
    throw e;
  }
}

interface TrustStatement {
  Effect?: string;
  Principal?: { Service?: string | string[] };
  Action?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

async function checkExportRole(aws: AwsClients, roleArn: string | undefined): Promise<CheckResult> {
  const check = 'export role trust';
  if (!roleArn)
    return {
      check,
      status: 'fail',
      detail: 'the stack output export_role_arn is unknown',
      fix: 'deploy the stack (cdktf deploy) or pass --outputs <file>',
    };
  const roleName = roleArn.split('/').pop() as string;
  let document: string | undefined;
  try {
    document = (await aws.iam().send(new GetRoleCommand({ RoleName: roleName }))).Role?.AssumeRolePolicyDocument;
  } catch (e) {
    if (err(e).name === 'NoSuchEntityException' || err(e).name === 'NoSuchEntity') {
      return {
        check,
        status: 'fail',
        detail: `role ${roleName} does not exist`,
        fix: 'deploy the stack (cdktf deploy)',
      };
    }
    throw e;
  }
  const policy = JSON.parse(decodeURIComponent(document ?? '{}')) as { Statement?: TrustStatement | TrustStatement[] };
  const statements = Array.isArray(policy.Statement) ? policy.Statement : policy.Statement ? [policy.Statement] : [];
  const trusting = statements.filter(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Principal?.Service).includes(EXPORT_SERVICE) &&
      list(s.Action).some((a) => a === 'sts:AssumeRole' || a === 'sts:*'),
  );
  if (trusting.length === 0) {
    return {
      check,
      status: 'fail',
      detail: `${roleName} is not trusted by ${EXPORT_SERVICE}`,
      fix: 'redeploy the stack: its trust policy must allow export.rds.amazonaws.com to sts:AssumeRole',
    };
  }
  // A condition on a key the export service does not send (AWS documents none for it) denies every export.
  if (trusting.every((s) => Object.keys(s.Condition ?? {}).length > 0)) {
    const keys = [...new Set(trusting.flatMap((s) => Object.values(s.Condition ?? {}).flatMap(Object.keys)))].sort();
    return {
      check,
      status: 'fail',
      detail: `${roleName} trusts ${EXPORT_SERVICE} only under a condition on ${keys.join(', ')}, which AWS does not document the export service sending: exports would fail at AssumeRole`,
      fix: 'redeploy the stack, whose trust policy has no condition (check for drift: terraform plan -detailed-exitcode)',
    };
  }
  return { check, status: 'pass', detail: `${roleName} is trusted by ${EXPORT_SERVICE}` };
}

/** A KMS failure hidden inside an S3 error. */
function isKmsError(e: unknown): boolean {
  const x = err(e);
  return /^KMS\./.test(x.name ?? '') || /\bkms\b|KMS/.test(x.message ?? '');
}

interface ProbeOutcome {
  destination: CheckResult;
  kms: CheckResult;
}

/** `--as-self`: writes one probe object with the operator's credentials (and, with a client key, a one-part multipart upload to the same key), then deletes it. */
async function probeDestination(input: PreflightInput, principal: string): Promise<ProbeOutcome> {
  const d = input.config.destination;
  const target = d.accessPointArn ?? (d.bucket as string);
  const region = d.accessPointArn?.split(':')[3] ?? input.config.region;
  const s3: S3Client = input.aws.s3(region);
  const prefix = destinationObjectPrefixes(
    d.keyPrefixTemplate,
    input.config.sourceClusters.map((c) => c.identifier),
  )[0].replace(/\*$/, '');
  const id =
    input.probeId ??
    `${(input.now ?? (() => new Date()))().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}`;
  const key = `${prefix}_preflight/${input.config.namePrefix}-${id}`;
  const where = `${target} key ${key}`;
  const sse = d.kmsKeyArn ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: d.kmsKeyArn } : {};
  const acl = d.aclMode === 'bucket-owner-full-control' ? { ACL: 'bucket-owner-full-control' as const } : {};
  const common = { Bucket: target, Key: key, ExpectedBucketOwner: d.expectedOwnerAccountId };
  const body = `preflight probe from ${input.config.namePrefix}; safe to delete\n`;
  const kmsCheck = 'client KMS key';
  const kmsFix = `the client adds the KMS key policy statement from \`pipeline client-policy\` (${CLIENT_KMS_ACTIONS.join(', ')} for ${principal}, kms:ViaService s3.${region}.amazonaws.com)`;
  const noKms: CheckResult = {
    check: kmsCheck,
    status: 'skip',
    detail: 'no destination key configured: objects take the bucket default encryption',
  };

  try {
    await s3.send(new PutObjectCommand({ ...common, ...sse, ...acl, Body: body, ContentType: 'text/plain' }));
  } catch (e) {
    if (d.kmsKeyArn && isKmsError(e)) {
      return {
        destination: {
          check: 'destination write',
          status: 'fail',
          detail: `the write reached S3 but the client key refused: ${errText(e)}`,
          fix: 'see the client KMS key check',
        },
        kms: {
          check: kmsCheck,
          status: 'fail',
          detail: `${d.kmsKeyArn} refused ${principal}: ${errText(e)}`,
          fix: kmsFix,
        },
      };
    }
    const name = err(e).name;
    let fix = `the client adds the access point and bucket policy statements from \`pipeline client-policy\` (${copyObjectActions(d.aclMode).join(', ')} for ${principal}); check expectedOwnerAccountId ${d.expectedOwnerAccountId} is the bucket owner`;
    if (name === 'NoSuchBucket' || name === 'NoSuchAccessPoint')
      fix = `check destination.${d.accessPointArn ? 'accessPointArn' : 'bucket'} in the configuration: ${target} does not exist`;
    else if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed')
      fix = `the destination is not in ${region}: check its region in the configuration`;
    return {
      destination: {
        check: 'destination write',
        status: 'fail',
        detail: `PutObject to ${where} as ${principal} failed: ${errText(e)}`,
        fix,
      },
      kms: d.kmsKeyArn
        ? { check: kmsCheck, status: 'skip', detail: 'not reached: the destination write failed first' }
        : noKms,
    };
  }

  let kms: CheckResult = noKms;
  if (d.kmsKeyArn) {
    let uploadId: string | undefined;
    try {
      uploadId = (
        await s3.send(new CreateMultipartUploadCommand({ ...common, ...sse, ...acl, ContentType: 'text/plain' }))
      ).UploadId;
      const part = await s3.send(new UploadPartCommand({ ...common, UploadId: uploadId, PartNumber: 1, Body: body }));
      await s3.send(
        new CompleteMultipartUploadCommand({
          ...common,
          UploadId: uploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      );
      kms = {
        check: kmsCheck,
        status: 'pass',
        detail: `${d.kmsKeyArn} gave data keys to ${principal} for a single and a multipart write`,
      };
    } catch (e) {
      if (uploadId)
        await s3.send(new AbortMultipartUploadCommand({ ...common, UploadId: uploadId })).catch(() => undefined);
      kms = isKmsError(e)
        ? {
            check: kmsCheck,
            status: 'fail',
            detail: `single writes work but a multipart write failed: ${errText(e)} (multipart needs kms:Decrypt)`,
            fix: kmsFix,
          }
        : {
            check: kmsCheck,
            status: 'fail',
            detail: `a multipart write failed: ${errText(e)}`,
            fix: `the client allows s3:AbortMultipartUpload too (\`pipeline client-policy\`)`,
          };
    }
  }

  let destination: CheckResult = {
    check: 'destination write',
    status: 'pass',
    detail: `wrote and deleted ${where} as ${principal} (ExpectedBucketOwner ${d.expectedOwnerAccountId})`,
  };
  try {
    await s3.send(new DeleteObjectCommand(common));
  } catch (e) {
    destination = {
      check: 'destination write',
      status: 'warn',
      detail: `wrote ${where} as ${principal}, but could not delete it: ${errText(e)}`,
      fix: `ask the client to delete ${key} (the copy role has no delete permission by design)`,
    };
  }
  return { destination, kms };
}

/** Where the probe object lands, for the note that it stays. */
function probeFolder(key: string): string {
  const at = key.lastIndexOf(`${PROBE_FOLDER}/`);
  return at >= 0 ? key.slice(0, at + PROBE_FOLDER.length + 1) : `${PROBE_FOLDER}/`;
}

/** What the client must add, naming each policy the probe's failure points at. */
function clientPolicyFix(result: ProbeResult): string {
  const where = result.policies?.length
    ? result.policies.join('; ')
    : 'the access point policy, the bucket policy and the KMS key policy';
  return `the client adds the statements from \`pipeline client-policy\` to ${where}`;
}

/**
 * Invokes the copy function with `{"kind":"probe"}` and turns its answer into the destination and client
 * key checks: the write is made by the copy role itself, exactly as a delivery writes.
 */
async function probeAsCopyFunction(input: PreflightInput, account: string): Promise<ProbeOutcome> {
  const { config, stack, aws } = input;
  const d = config.destination;
  const functionName = stack.copyFunctionArn ?? `${config.namePrefix}-${StageFunction.COPY}`;
  const functionArn = functionName.startsWith('arn:')
    ? functionName
    : `arn:aws:lambda:${aws.region}:${account}:function:${functionName}`;
  const check = 'destination write';
  const kmsCheck = 'client KMS key';
  const noKms: CheckResult = {
    check: kmsCheck,
    status: 'skip',
    detail: 'no destination key configured: objects take the bucket default encryption',
  };
  const notReached: CheckResult = d.kmsKeyArn
    ? { check: kmsCheck, status: 'skip', detail: 'not reached: the destination write failed first' }
    : noKms;
  const invokeFix =
    'check the copy function in the Lambda console and /aws/lambda/' +
    `${config.namePrefix}-${StageFunction.COPY}; or test with your own credentials: preflight --as-self`;

  let payload: string;
  let functionError: string | undefined;
  try {
    const out = await aws.lambda().send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify({ kind: 'probe' })),
      }),
    );
    payload = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
    functionError = out.FunctionError;
  } catch (e) {
    const name = err(e).name;
    if (name === 'ResourceNotFoundException') {
      return {
        destination: {
          check,
          status: 'fail',
          detail: `the copy function ${functionName} does not exist in ${aws.region}`,
          fix: 'deploy the stack (cdktf deploy), or point preflight at it: --outputs <file>, --region, or PIPELINE_COPY_FUNCTION_ARN',
        },
        kms: notReached,
      };
    }
    if (name === 'AccessDeniedException' || name === 'AccessDenied') {
      return {
        destination: {
          check,
          status: 'fail',
          detail: `you may not invoke the copy function: ${errText(e)}`,
          fix: `allow your operator role lambda:InvokeFunction on ${functionArn}; or test with your own credentials: preflight --as-self`,
        },
        kms: notReached,
      };
    }
    const x = toCliError(e, { region: aws.region, env: input.env });
    if (isFatal(x)) throw x;
    return {
      destination: { check, status: 'fail', detail: `invoking ${functionName} failed: ${x.message}`, fix: invokeFix },
      kms: notReached,
    };
  }
  if (functionError) {
    let reason = payload;
    try {
      const parsed = JSON.parse(payload) as { errorType?: string; errorMessage?: string };
      reason = `${parsed.errorType ?? functionError}: ${parsed.errorMessage ?? payload}`;
    } catch {
      // Not JSON: show it as it came.
    }
    return {
      destination: {
        check,
        status: 'fail',
        detail: `the copy function failed the probe: ${reason.slice(0, 500)}`,
        fix: invokeFix,
      },
      kms: notReached,
    };
  }
  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(payload);
  } catch {
    parsedJson = undefined;
  }
  const parsed = probeResultSchema.safeParse(parsedJson);
  if (!parsed.success) {
    return {
      destination: {
        check,
        status: 'fail',
        detail: `${functionName} answered without a probe result (${payload.slice(0, 100) || 'empty'}): the deployed copy function predates the probe`,
        fix: 'redeploy the stack (cdktf deploy)',
      },
      kms: notReached,
    };
  }
  const r = parsed.data;
  const where = `${r.bucket} key ${r.key}`;
  const note = `the probe object stays (the copy role has no delete permission by design); the client can expire ${probeFolder(r.key)} with a lifecycle rule`;
  const written: CheckResult = {
    check,
    status: 'pass',
    detail: `the copy role (${r.principal}) wrote ${where} through the copy function (ExpectedBucketOwner ${r.expectedBucketOwner}, ACL mode ${r.aclMode}${r.kmsKeyArn ? `, SSE-KMS ${r.kmsKeyArn}` : ''})`,
    note,
  };
  const kmsFix = `the client adds the KMS key policy statement from \`pipeline client-policy\` (${CLIENT_KMS_ACTIONS.join(', ')} for ${r.principal}, kms:ViaService s3.${d.accessPointArn?.split(':')[3] ?? config.region}.amazonaws.com)`;
  if (r.ok) {
    return {
      destination: written,
      kms: r.kmsKeyArn
        ? {
            check: kmsCheck,
            status: 'pass',
            detail: `${r.kmsKeyArn} gave data keys to ${r.principal} for a single and a multipart write`,
          }
        : noKms,
    };
  }
  const error = r.error ?? 'the write failed';
  if (r.step === 'multipart') {
    return {
      destination: written,
      kms:
        r.reason === 'KmsDenied'
          ? {
              check: kmsCheck,
              status: 'fail',
              detail: `single writes work but a multipart write failed (multipart needs kms:Decrypt): ${error}`,
              fix: kmsFix,
            }
          : {
              check: kmsCheck,
              status: 'fail',
              detail: `single writes work but a multipart write failed: ${error}`,
              fix: r.reason === 'Other' ? 'retry; if it persists, read the copy function log' : clientPolicyFix(r),
            },
    };
  }
  if (r.reason === 'KmsDenied') {
    return {
      destination: {
        check,
        status: 'fail',
        detail: `the write reached S3 but the client key refused the copy role (${r.principal})`,
        fix: 'see the client KMS key check',
      },
      kms: { check: kmsCheck, status: 'fail', detail: error, fix: kmsFix },
    };
  }
  const fixes: Record<string, string> = {
    AccessDenied: `${clientPolicyFix(r)}; also check that destination.expectedOwnerAccountId ${d.expectedOwnerAccountId} owns the bucket`,
    WrongBucketOwner: `check destination.expectedOwnerAccountId (${d.expectedOwnerAccountId}): it must be the account that owns the bucket behind ${r.bucket}`,
    NoSuchBucket: `check destination.${d.accessPointArn ? 'accessPointArn' : 'bucket'} in the configuration: ${r.bucket} does not exist`,
  };
  return {
    destination: {
      check,
      status: 'fail',
      detail: `the copy role (${r.principal}) could not write ${where}: ${error}`,
      fix: fixes[r.reason ?? ''] ?? 'retry; if it persists, read the copy function log',
    },
    kms: notReached,
  };
}

/** Runs every check in order and returns the results; throws only for missing credentials. */
export async function runPreflight(
  input: PreflightInput,
  onResult: (r: CheckResult) => void = () => undefined,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => {
    results.push(r);
    onResult(r);
  };
  const { aws, config, stack } = input;
  let identity: GetCallerIdentityCommandOutput;
  try {
    identity = await aws.sts().send(new GetCallerIdentityCommand({}));
  } catch (e) {
    throw toCliError(e, { region: aws.region, env: input.env });
  }
  const account = identity.Account as string;
  add({ check: 'credentials', status: 'pass', detail: `${identity.Arn} in account ${account}, region ${aws.region}` });

  const guard = async (check: string, f: () => Promise<CheckResult>) => {
    try {
      add(await f());
    } catch (e) {
      const x = toCliError(e, { region: aws.region, env: input.env });
      if (isFatal(x)) throw x;
      add({
        check,
        status: 'fail',
        detail: x.message,
        fix: 'check that your credentials may read this resource, then retry',
      });
    }
  };
  for (const cluster of config.sourceClusters)
    await guard(`source cluster ${cluster.identifier}`, () => checkCluster(aws, cluster, aws.region));
  await guard('export bucket', () => checkExportBucket(aws, stack.exportBucket, account));
  await guard('export KMS key', () => checkExportKey(aws, stack.exportKmsKeyArn));
  await guard('export role trust', () => checkExportRole(aws, stack.exportRoleArn));

  if (input.asSelf) {
    const principal = identity.Arn as string;
    add({
      check: 'copy role',
      status: 'warn',
      detail: `--as-self: testing the destination with your own credentials (${principal})`,
      fix: 'a pass proves the destination and key work for you, not for the copy role: run preflight without --as-self to test as the copy function',
    });
    try {
      const probe = await probeDestination(input, principal);
      add(probe.destination);
      add(probe.kms);
    } catch (e) {
      const x = toCliError(e, { region: aws.region, env: input.env });
      if (isFatal(x)) throw x;
      add({
        check: 'destination write',
        status: 'fail',
        detail: x.message,
        fix: 'retry; check the destination settings in the configuration',
      });
    }
  } else {
    const probe = await probeAsCopyFunction(input, account);
    add(probe.destination);
    add(probe.kms);
  }
  return results;
}

/** Formats one result as one or two lines. */
export function formatCheck(r: CheckResult): string[] {
  return [
    `${MARK[r.status]} ${r.check}: ${r.detail}`,
    ...(r.fix && r.status !== 'pass' && r.status !== 'skip' ? [`    fix: ${r.fix}`] : []),
    ...(r.note ? [`    note: ${r.note}`] : []),
  ];
}

export const preflightCommand: Command = {
  name: 'preflight',
  summary: 'Check with real credentials that clusters, export bucket, key, role and destination are ready',
  usage: '[--as-self]',
  options: {
    'as-self': {
      type: 'boolean',
      description:
        'Probe the destination with your own credentials (written and deleted) instead of invoking the copy function',
    },
  },
  async run(ctx: CliContext, flags) {
    const results = await runPreflight(
      {
        config: ctx.config,
        stack: ctx.stack().info,
        aws: ctx.aws,
        asSelf: flags['as-self'] === true,
        now: () => ctx.now(),
        env: ctx.env,
      },
      ctx.json
        ? undefined
        : (r) =>
            formatCheck(r).forEach((l) => {
              ctx.io.out(l);
            }),
    );
    const failed = results.filter((r) => r.status === 'fail').length;
    const warned = results.filter((r) => r.status === 'warn').length;
    if (ctx.json) printJson(ctx.io, { ok: failed === 0, checks: results });
    else {
      ctx.io.out('');
      ctx.io.out(
        `${results.filter((r) => r.status === 'pass').length} passed, ${failed} failed, ${warned} warning${warned === 1 ? '' : 's'}`,
      );
    }
    return failed === 0 ? 0 : 1;
  },
};
