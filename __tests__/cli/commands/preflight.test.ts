import { mockClient } from 'aws-sdk-client-mock';
import { IAMClient, GetRoleCommand } from '@aws-sdk/client-iam';
import { KMSClient, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { RDSClient, DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand } from '@aws-sdk/client-rds';
import {
  S3Client,
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { ProbeResult } from '../../../lambdas/copy/probe';
import { defaultClients } from '../../../cli/aws';
import { main } from '../../../cli/main';
import type { LocatedStack } from '../../../cli/stack';
import { captureIo } from '../support/io';

const ACCOUNT = '123456789012';
const AP = 'arn:aws:s3:eu-west-1:210987654321:accesspoint/me3-datalake';
const CLIENT_KEY = 'arn:aws:kms:eu-west-1:210987654321:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b';
const stack: LocatedStack = {
  source: 'test',
  info: {
    exportBucket: 'aurora-export-exports',
    exportKmsKeyArn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/export-key`,
    exportRoleArn: `arn:aws:iam::${ACCOUNT}:role/aurora-export-export`,
    copyRoleArn: `arn:aws:iam::${ACCOUNT}:role/aurora-export-copy`,
    copyFunctionArn: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:aurora-export-copy`,
  },
};
const COPY_PRINCIPAL = `arn:aws:sts::${ACCOUNT}:assumed-role/aurora-export-copy/aurora-export-copy`;
const PROBE_KEY = 'me3/me3-serverless/dt=2026-11-27/_preflight/2026-11-27T10-00-00-000Z-0a1b2c3d.txt';

/** What the copy function answers to {"kind":"probe"}. */
function probeAnswer(over: Partial<ProbeResult> = {}): ProbeResult {
  return {
    ok: true,
    bucket: AP,
    key: PROBE_KEY,
    principal: COPY_PRINCIPAL,
    expectedBucketOwner: '210987654321',
    kmsKeyArn: CLIENT_KEY,
    aclMode: 'none',
    step: 'multipart',
    ...over,
  };
}

/** A Lambda Invoke response carrying a JSON payload. */
function invoked(payload: unknown, functionError?: string) {
  return {
    StatusCode: 200,
    Payload: Buffer.from(JSON.stringify(payload)) as never,
    ...(functionError ? { FunctionError: functionError } : {}),
  };
}
const trust = (condition?: object) =>
  encodeURIComponent(
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'export.rds.amazonaws.com' },
          Action: 'sts:AssumeRole',
          ...(condition ? { Condition: condition } : {}),
        },
      ],
    }),
  );

function awsError(name: string, message = name, status = 400): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

const rds = mockClient(RDSClient);
const s3 = mockClient(S3Client);
const kms = mockClient(KMSClient);
const iam = mockClient(IAMClient);
const sts = mockClient(STSClient);
const lambda = mockClient(LambdaClient);

/** A deployment where every check passes. */
function healthy(): void {
  sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: ACCOUNT, Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/operator/alice` });
  rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'me3-serverless' }).resolves({
    DBClusters: [{ Engine: 'aurora-mysql', EngineVersion: '5.7.mysql_aurora.2.11.4', EngineMode: 'serverless' }],
  });
  rds
    .on(DescribeDBClustersCommand, { DBClusterIdentifier: 'orders-provisioned' })
    .resolves({ DBClusters: [{ Engine: 'aurora-postgresql', EngineVersion: '16.4', EngineMode: 'provisioned' }] });
  rds.on(DescribeDBClusterSnapshotsCommand).resolves({
    DBClusterSnapshots: [
      { DBClusterSnapshotIdentifier: 'rds:x-2026-11-25-03-10', SnapshotCreateTime: new Date('2026-11-25T03:10:00Z') },
      { DBClusterSnapshotIdentifier: 'rds:x-2026-11-26-03-10', SnapshotCreateTime: new Date('2026-11-26T03:10:00Z') },
    ],
  });
  s3.on(HeadBucketCommand).resolves({});
  s3.on(PutObjectCommand).resolves({});
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
  s3.on(UploadPartCommand).resolves({ ETag: '"etag"' });
  s3.on(CompleteMultipartUploadCommand).resolves({});
  s3.on(DeleteObjectCommand).resolves({});
  kms
    .on(DescribeKeyCommand)
    .resolves({ KeyMetadata: { KeyId: 'export-key', KeyState: 'Enabled', KeyManager: 'CUSTOMER' } });
  lambda.on(InvokeCommand).resolves(invoked(probeAnswer()));
  iam.on(GetRoleCommand).resolves({
    Role: {
      RoleName: 'aurora-export-export',
      Path: '/',
      RoleId: 'r',
      Arn: stack.info.exportRoleArn as string,
      CreateDate: new Date(),
      AssumeRolePolicyDocument: trust(),
    },
  });
}

async function preflight(args: string[] = []) {
  const io = captureIo();
  const code = await main(['preflight', ...args], {
    io,
    env: { PIPELINE_ENVIRONMENT: 'production' },
    stack,
    aws: defaultClients('eu-west-1', {}),
    now: () => new Date('2026-11-27T10:00:00Z'),
  });
  return { code, io, lines: io.stdout };
}

function lineOf(lines: string[], check: string): string {
  const hit = lines.find((l) => l.includes(` ${check}:`));
  if (!hit) throw new Error(`no line for ${check} in:\n${lines.join('\n')}`);
  return hit;
}

function fixAfter(lines: string[], check: string): string {
  return lines[lines.indexOf(lineOf(lines, check)) + 1];
}

beforeEach(() => {
  for (const m of [rds, s3, kms, iam, sts, lambda]) m.reset();
  healthy();
});

describe('Command: preflight', () => {
  it('passes every check in order on a ready deployment and exits 0', async () => {
    const { code, lines } = await preflight();
    expect(code).toBe(0);
    const order = [
      'credentials',
      'source cluster me3-serverless',
      'source cluster orders-provisioned',
      'export bucket',
      'export KMS key',
      'export role trust',
      'destination write',
      'client KMS key',
    ];
    const positions = order.map((c) => lines.indexOf(lineOf(lines, c)));
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const c of order) expect(lineOf(lines, c)).toMatch(/^✓ /);
    expect(lines.at(-1)).toBe('8 passed, 0 failed, 0 warnings');
  });

  it('says which path each cluster takes and names its newest automated snapshot', async () => {
    const { lines } = await preflight();
    expect(lineOf(lines, 'source cluster me3-serverless')).toContain(
      '(Serverless v1) → restore to a temporary provisioned cluster, then export [exportMode auto]',
    );
    expect(lineOf(lines, 'source cluster orders-provisioned')).toMatch(
      /\(provisioned\) → direct export \[exportMode direct\]; newest automated snapshot rds:x-2026-11-26-03-10/,
    );
  });

  it('probes the destination by invoking the copy function with {"kind":"probe"}, and writes nothing with the operator\'s credentials', async () => {
    const { lines } = await preflight();
    const invoke = lambda.commandCalls(InvokeCommand)[0].args[0].input;
    expect(invoke).toMatchObject({ FunctionName: stack.info.copyFunctionArn, InvocationType: 'RequestResponse' });
    expect(JSON.parse(Buffer.from(invoke.Payload as Uint8Array).toString('utf8'))).toEqual({ kind: 'probe' });
    expect(lineOf(lines, 'destination write')).toBe(
      `✓ destination write: the copy role (${COPY_PRINCIPAL}) wrote ${AP} key ${PROBE_KEY} through the copy function (ExpectedBucketOwner 210987654321, ACL mode none, SSE-KMS ${CLIENT_KEY})`,
    );
    expect(lineOf(lines, 'client KMS key')).toBe(
      `✓ client KMS key: ${CLIENT_KEY} gave data keys to ${COPY_PRINCIPAL} for a single and a multipart write`,
    );
    const s3Calls = s3.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
    expect(s3Calls).toEqual(['HeadBucketCommand']);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    const rdsCalls = rds.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
    expect(rdsCalls.every((n) => n.startsWith('Describe'))).toBe(true);
  });

  it('says that the probe object stays and which folder the client can expire', async () => {
    const { lines } = await preflight();
    expect(fixAfter(lines, 'destination write')).toBe(
      '    note: the probe object stays (the copy role has no delete permission by design); the client can expire me3/me3-serverless/dt=2026-11-27/_preflight/ with a lifecycle rule',
    );
  });

  it('invokes <namePrefix>-copy when the stack outputs do not name the function', async () => {
    const io = captureIo();
    await main(['preflight'], {
      io,
      env: { PIPELINE_ENVIRONMENT: 'production' },
      stack: { source: 'test', info: { ...stack.info, copyFunctionArn: undefined } },
      aws: defaultClients('eu-west-1', {}),
    });
    expect(lambda.commandCalls(InvokeCommand)[0].args[0].input.FunctionName).toBe('aurora-export-copy');
  });

  it('fails the destination write when the client refuses the copy role, naming the access point and bucket policies', async () => {
    lambda.on(InvokeCommand).resolves(
      invoked(
        probeAnswer({
          ok: false,
          step: 'put',
          reason: 'AccessDenied',
          error: `s3:PutObject by ${COPY_PRINCIPAL} on ${AP}/object/${PROBE_KEY} was denied (AccessDenied).`,
          policies: [
            `the access point policy of ${AP}`,
            'the bucket policy of the bucket behind it (account 210987654321)',
          ],
        }),
      ),
    );
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'destination write')).toBe(
      `✗ destination write: the copy role (${COPY_PRINCIPAL}) could not write ${AP} key ${PROBE_KEY}: s3:PutObject by ${COPY_PRINCIPAL} on ${AP}/object/${PROBE_KEY} was denied (AccessDenied).`,
    );
    expect(fixAfter(lines, 'destination write')).toBe(
      `    fix: the client adds the statements from \`pipeline client-policy\` to the access point policy of ${AP}; the bucket policy of the bucket behind it (account 210987654321); also check that destination.expectedOwnerAccountId 210987654321 owns the bucket`,
    );
    expect(lineOf(lines, 'client KMS key')).toMatch(/^- client KMS key: not reached/);
  });

  it('fails the client KMS key when S3 cannot get a data key for the copy role', async () => {
    lambda.on(InvokeCommand).resolves(
      invoked(
        probeAnswer({
          ok: false,
          step: 'put',
          reason: 'KmsDenied',
          error: `kms:GenerateDataKey by ${COPY_PRINCIPAL} on ${CLIENT_KEY} was denied`,
        }),
      ),
    );
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'destination write')).toMatch(
      /^✗ destination write: the write reached S3 but the client key refused the copy role/,
    );
    expect(lineOf(lines, 'client KMS key')).toBe(
      `✗ client KMS key: kms:GenerateDataKey by ${COPY_PRINCIPAL} on ${CLIENT_KEY} was denied`,
    );
    expect(fixAfter(lines, 'client KMS key')).toBe(
      `    fix: the client adds the KMS key policy statement from \`pipeline client-policy\` (kms:GenerateDataKey, kms:Decrypt for ${COPY_PRINCIPAL}, kms:ViaService s3.eu-west-1.amazonaws.com)`,
    );
  });

  it('passes the write but fails the client KMS key when only the multipart write is refused (kms:Decrypt)', async () => {
    lambda
      .on(InvokeCommand)
      .resolves(
        invoked(
          probeAnswer({ ok: false, step: 'multipart', reason: 'KmsDenied', error: 'kms:Decrypt ... was denied' }),
        ),
      );
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'destination write')).toMatch(/^✓ /);
    expect(lineOf(lines, 'client KMS key')).toMatch(
      /^✗ client KMS key: single writes work but a multipart write failed \(multipart needs kms:Decrypt\)/,
    );
  });

  it('fails with the deploy fix when the copy function does not exist', async () => {
    lambda
      .on(InvokeCommand)
      .rejects(
        awsError(
          'ResourceNotFoundException',
          'Function not found: arn:aws:lambda:eu-west-1:123456789012:function:aurora-export-copy',
          404,
        ),
      );
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'destination write')).toBe(
      `✗ destination write: the copy function ${stack.info.copyFunctionArn} does not exist in eu-west-1`,
    );
    expect(fixAfter(lines, 'destination write')).toContain('deploy the stack (cdktf deploy)');
  });

  it('names lambda:InvokeFunction on the copy function when the operator may not invoke it', async () => {
    lambda
      .on(InvokeCommand)
      .rejects(
        awsError('AccessDeniedException', 'User: alice is not authorized to perform: lambda:InvokeFunction', 403),
      );
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'destination write')).toMatch(
      /^✗ destination write: you may not invoke the copy function: AccessDeniedException/,
    );
    expect(fixAfter(lines, 'destination write')).toBe(
      `    fix: allow your operator role lambda:InvokeFunction on arn:aws:lambda:eu-west-1:${ACCOUNT}:function:aurora-export-copy; or test with your own credentials: preflight --as-self`,
    );
  });

  it('reports an error the copy function raised', async () => {
    lambda.on(InvokeCommand).resolves(invoked({ errorType: 'TypeError', errorMessage: 'boom' }, 'Unhandled'));
    const { lines } = await preflight();
    expect(lineOf(lines, 'destination write')).toBe(
      '✗ destination write: the copy function failed the probe: TypeError: boom',
    );
  });

  it('asks for a redeploy when the deployed copy function predates the probe', async () => {
    lambda.on(InvokeCommand).resolves(invoked(null));
    const { lines } = await preflight();
    expect(lineOf(lines, 'destination write')).toMatch(
      /answered without a probe result \(null\): the deployed copy function predates the probe$/,
    );
    expect(fixAfter(lines, 'destination write')).toBe('    fix: redeploy the stack (cdktf deploy)');
  });

  it('fails a cluster that does not exist, with the fix', async () => {
    rds
      .on(DescribeDBClustersCommand, { DBClusterIdentifier: 'orders-provisioned' })
      .rejects(awsError('DBClusterNotFoundFault', 'DBCluster orders-provisioned not found.', 404));
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'source cluster orders-provisioned')).toBe(
      '✗ source cluster orders-provisioned: no DB cluster orders-provisioned in eu-west-1',
    );
    expect(fixAfter(lines, 'source cluster orders-provisioned')).toMatch(
      /fix: check sourceClusters\[\]\.identifier and region/,
    );
  });

  it('fails a Serverless v1 cluster configured for direct export', async () => {
    rds
      .on(DescribeDBClustersCommand, { DBClusterIdentifier: 'orders-provisioned' })
      .resolves({ DBClusters: [{ Engine: 'aurora-mysql', EngineVersion: '5.7', EngineMode: 'serverless' }] });
    const { lines } = await preflight();
    expect(lineOf(lines, 'source cluster orders-provisioned')).toMatch(/^✗ .*refuses Aurora Serverless v1 snapshots/);
    expect(fixAfter(lines, 'source cluster orders-provisioned')).toContain('set exportMode to auto or restore');
  });

  it('fails a missing export bucket and points at deploying the stack', async () => {
    s3.on(HeadBucketCommand).rejects(awsError('NotFound', 'Not Found', 404));
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'export bucket')).toBe('✗ export bucket: s3://aurora-export-exports does not exist');
    expect(fixAfter(lines, 'export bucket')).toContain('cdktf deploy');
  });

  it('fails an export bucket owned by another account (ExpectedBucketOwner answers 403)', async () => {
    s3.on(HeadBucketCommand).rejects(awsError('Forbidden', 'Forbidden', 403));
    const { lines } = await preflight();
    expect(lineOf(lines, 'export bucket')).toContain(`is not accessible, or is not owned by ${ACCOUNT}`);
    expect(s3.commandCalls(HeadBucketCommand)[0].args[0].input.ExpectedBucketOwner).toBe(ACCOUNT);
  });

  it('fails an export key pending deletion, with the command that cancels it', async () => {
    kms
      .on(DescribeKeyCommand)
      .resolves({ KeyMetadata: { KeyId: 'k', KeyState: 'PendingDeletion', KeyManager: 'CUSTOMER' } });
    const { lines } = await preflight();
    expect(lineOf(lines, 'export KMS key')).toMatch(/^✗ .* is PendingDeletion/);
    expect(fixAfter(lines, 'export KMS key')).toContain('aws kms cancel-key-deletion');
  });

  it('fails an export role that RDS export does not trust', async () => {
    iam.on(GetRoleCommand).resolves({
      Role: {
        RoleName: 'r',
        Path: '/',
        RoleId: 'r',
        Arn: 'a',
        CreateDate: new Date(),
        AssumeRolePolicyDocument: encodeURIComponent(
          JSON.stringify({
            Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
          }),
        ),
      },
    });
    const { lines } = await preflight();
    expect(lineOf(lines, 'export role trust')).toContain('is not trusted by export.rds.amazonaws.com');
  });

  it('fails an export role trusted only under conditions the export service does not send', async () => {
    iam.on(GetRoleCommand).resolves({
      Role: {
        RoleName: 'r',
        Path: '/',
        RoleId: 'r',
        Arn: 'a',
        CreateDate: new Date(),
        AssumeRolePolicyDocument: trust({
          StringEquals: { 'aws:SourceAccount': ACCOUNT },
          ArnLike: { 'aws:SourceArn': `arn:aws:rds:eu-west-1:${ACCOUNT}:*` },
        }),
      },
    });
    const { lines } = await preflight();
    expect(lineOf(lines, 'export role trust')).toMatch(
      /^✗ .*only under a condition on aws:SourceAccount, aws:SourceArn, .*exports would fail at AssumeRole/,
    );
  });

  it('fails when the stack is not deployed, without stopping the other checks', async () => {
    lambda.on(InvokeCommand).rejects(awsError('ResourceNotFoundException', 'Function not found', 404));
    const io = captureIo();
    const code = await main(['preflight'], {
      io,
      env: { PIPELINE_ENVIRONMENT: 'production' },
      stack: { source: 'nothing deployed found', info: {} },
      aws: defaultClients('eu-west-1', {}),
    });
    expect(code).toBe(1);
    expect(lineOf(io.stdout, 'export bucket')).toContain('export_bucket_name is unknown');
    expect(lineOf(io.stdout, 'destination write')).toBe(
      '✗ destination write: the copy function aurora-export-copy does not exist in eu-west-1',
    );
  });

  describe('with --as-self', () => {
    it('probes with your own credentials, then deletes the probe, and never invokes the copy function', async () => {
      const { code, lines } = await preflight(['--as-self']);
      expect(code).toBe(0);
      expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
      expect(lineOf(lines, 'copy role')).toMatch(/^! .*--as-self/);
      const put = s3.commandCalls(PutObjectCommand)[0].args[0].input;
      expect(put).toMatchObject({
        Bucket: AP,
        ExpectedBucketOwner: '210987654321',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: CLIENT_KEY,
      });
      expect(put.Key).toMatch(/^me3\/me3-serverless\/_preflight\/aurora-export-2026-11-27T10-00-00-000Z-[0-9a-f]{8}$/);
      expect(s3.commandCalls(DeleteObjectCommand)[0].args[0].input).toEqual({
        Bucket: AP,
        Key: put.Key,
        ExpectedBucketOwner: '210987654321',
      });
      expect(lineOf(lines, 'destination write')).toContain('as arn:aws:sts::123456789012:assumed-role/operator/alice');
    });

    it('fails the destination write on AccessDenied and names the client policies to add', async () => {
      s3.on(PutObjectCommand).rejects(awsError('AccessDenied', 'Access Denied', 403));
      const { code, lines } = await preflight(['--as-self']);
      expect(code).toBe(1);
      expect(lineOf(lines, 'destination write')).toMatch(
        /^✗ destination write: PutObject to .* as .*operator\/alice failed: AccessDenied/,
      );
      expect(fixAfter(lines, 'destination write')).toMatch(
        /access point and bucket policy statements from `pipeline client-policy` \(s3:PutObject, s3:AbortMultipartUpload for /,
      );
      expect(lineOf(lines, 'client KMS key')).toMatch(/^- client KMS key: not reached/);
    });

    it('fails the client KMS key when multipart writes lack kms:Decrypt, and aborts the upload', async () => {
      s3.on(CompleteMultipartUploadCommand).rejects(
        awsError('AccessDenied', 'not authorized to perform kms:Decrypt', 403),
      );
      s3.on(AbortMultipartUploadCommand).resolves({});
      const { code, lines } = await preflight(['--as-self']);
      expect(code).toBe(1);
      expect(lineOf(lines, 'client KMS key')).toContain('multipart needs kms:Decrypt');
      expect(s3.commandCalls(AbortMultipartUploadCommand)[0].args[0].input).toMatchObject({
        UploadId: 'upload-1',
        ExpectedBucketOwner: '210987654321',
      });
      expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(1);
    });

    it('warns with the probe key when the probe object cannot be deleted', async () => {
      s3.on(DeleteObjectCommand).rejects(awsError('AccessDenied', 'Access Denied', 403));
      const { code, lines } = await preflight(['--as-self']);
      expect(code).toBe(0);
      expect(lineOf(lines, 'destination write')).toMatch(/^! .*could not delete it/);
      expect(fixAfter(lines, 'destination write')).toMatch(
        /ask the client to delete me3\/me3-serverless\/_preflight\//,
      );
    });
  });

  it('stops with one line naming the fix when there are no credentials', async () => {
    sts
      .on(GetCallerIdentityCommand)
      .rejects(awsError('CredentialsProviderError', 'Could not load credentials from any providers'));
    const { code, io } = await preflight();
    expect(code).toBe(1);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toMatch(
      /^error: No usable AWS credentials \(Could not load credentials from any providers\)\. Set AWS_PROFILE/,
    );
  });

  it('prints every check as JSON with --json', async () => {
    s3.on(HeadBucketCommand).rejects(awsError('NotFound', 'Not Found', 404));
    const { code, io } = await preflight(['--json']);
    expect(code).toBe(1);
    const out = JSON.parse(io.text());
    expect(out.ok).toBe(false);
    expect(out.checks.find((c: { check: string }) => c.check === 'export bucket')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('cdktf deploy'),
    });
  });
});
