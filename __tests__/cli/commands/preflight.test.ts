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
  },
};
const trust = (condition?: object) =>
  encodeURIComponent(
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'export.rds.amazonaws.com' }, Action: 'sts:AssumeRole', ...(condition ? { Condition: condition } : {}) }] }),
  );

function awsError(name: string, message = name, status = 400): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

const rds = mockClient(RDSClient);
const s3 = mockClient(S3Client);
const kms = mockClient(KMSClient);
const iam = mockClient(IAMClient);
const sts = mockClient(STSClient);

/** A deployment where every check passes. */
function healthy(): void {
  sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT, Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/operator/alice` });
  sts.on(AssumeRoleCommand).resolves({
    Credentials: { AccessKeyId: 'AKIA', SecretAccessKey: 'secret', SessionToken: 'token', Expiration: new Date() },
    AssumedRoleUser: { Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/aurora-export-copy/aurora-export-preflight`, AssumedRoleId: 'x' },
  });
  rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'me3-serverless' }).resolves({ DBClusters: [{ Engine: 'aurora-mysql', EngineVersion: '5.7.mysql_aurora.2.11.4', EngineMode: 'serverless' }] });
  rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'orders-provisioned' }).resolves({ DBClusters: [{ Engine: 'aurora-postgresql', EngineVersion: '16.4', EngineMode: 'provisioned' }] });
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
  kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'export-key', KeyState: 'Enabled', KeyManager: 'CUSTOMER' } });
  iam.on(GetRoleCommand).resolves({
    Role: { RoleName: 'aurora-export-export', Path: '/', RoleId: 'r', Arn: stack.info.exportRoleArn as string, CreateDate: new Date(), AssumeRolePolicyDocument: trust({ StringEquals: { 'aws:SourceAccount': ACCOUNT } }) },
  });
}

async function preflight(args: string[] = []) {
  const io = captureIo();
  const code = await main(['preflight', ...args], { io, env: {}, stack, aws: defaultClients('eu-west-1', {}), now: () => new Date('2026-11-27T10:00:00Z') });
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
  for (const m of [rds, s3, kms, iam, sts]) m.reset();
  healthy();
});

describe('Command: preflight', () => {
  it('passes every check in order on a ready deployment and exits 0', async () => {
    const { code, lines } = await preflight();
    expect(code).toBe(0);
    const order = ['credentials', 'source cluster me3-serverless', 'source cluster orders-provisioned', 'export bucket', 'export KMS key', 'export role trust', 'copy role', 'destination write', 'client KMS key'];
    const positions = order.map((c) => lines.indexOf(lineOf(lines, c)));
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const c of order) expect(lineOf(lines, c)).toMatch(/^✓ /);
    expect(lines.at(-1)).toBe('9 passed, 0 failed, 0 warnings');
  });

  it('says which path each cluster takes and names its newest automated snapshot', async () => {
    const { lines } = await preflight();
    expect(lineOf(lines, 'source cluster me3-serverless')).toContain('(Serverless v1) → restore to a temporary provisioned cluster, then export [exportMode auto]');
    expect(lineOf(lines, 'source cluster orders-provisioned')).toMatch(/\(provisioned\) → direct export \[exportMode direct\]; newest automated snapshot rds:x-2026-11-26-03-10/);
  });

  it('writes the probe as the copy role with ExpectedBucketOwner and the client key, then deletes it, and writes nothing else', async () => {
    await preflight();
    const put = s3.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({ Bucket: AP, ExpectedBucketOwner: '210987654321', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: CLIENT_KEY });
    expect(put.Key).toMatch(/^me3\/me3-serverless\/_preflight\/aurora-export-2026-11-27T10-00-00-000Z-[0-9a-f]{8}$/);
    expect(s3.commandCalls(DeleteObjectCommand)[0].args[0].input).toEqual({ Bucket: AP, Key: put.Key, ExpectedBucketOwner: '210987654321' });
    expect(sts.commandCalls(AssumeRoleCommand)[0].args[0].input.RoleArn).toBe(stack.info.copyRoleArn);
    const s3Writes = s3.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
    expect(new Set(s3Writes)).toEqual(new Set(['HeadBucketCommand', 'PutObjectCommand', 'CreateMultipartUploadCommand', 'UploadPartCommand', 'CompleteMultipartUploadCommand', 'DeleteObjectCommand']));
    const rdsCalls = rds.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
    expect(rdsCalls.every((n) => n.startsWith('Describe'))).toBe(true);
  });

  it('fails a cluster that does not exist, with the fix', async () => {
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'orders-provisioned' }).rejects(awsError('DBClusterNotFoundFault', 'DBCluster orders-provisioned not found.', 404));
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'source cluster orders-provisioned')).toBe('✗ source cluster orders-provisioned: no DB cluster orders-provisioned in eu-west-1');
    expect(fixAfter(lines, 'source cluster orders-provisioned')).toMatch(/fix: check sourceClusters\[\]\.identifier and region/);
  });

  it('fails a Serverless v1 cluster configured for direct export', async () => {
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'orders-provisioned' }).resolves({ DBClusters: [{ Engine: 'aurora-mysql', EngineVersion: '5.7', EngineMode: 'serverless' }] });
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
    kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', KeyState: 'PendingDeletion', KeyManager: 'CUSTOMER' } });
    const { lines } = await preflight();
    expect(lineOf(lines, 'export KMS key')).toMatch(/^✗ .* is PendingDeletion/);
    expect(fixAfter(lines, 'export KMS key')).toContain('aws kms cancel-key-deletion');
  });

  it('fails an export role that RDS export does not trust', async () => {
    iam.on(GetRoleCommand).resolves({ Role: { RoleName: 'r', Path: '/', RoleId: 'r', Arn: 'a', CreateDate: new Date(), AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] })) } });
    const { lines } = await preflight();
    expect(lineOf(lines, 'export role trust')).toContain('is not trusted by export.rds.amazonaws.com');
  });

  it('fails an export role trusted without aws:SourceAccount', async () => {
    iam.on(GetRoleCommand).resolves({ Role: { RoleName: 'r', Path: '/', RoleId: 'r', Arn: 'a', CreateDate: new Date(), AssumeRolePolicyDocument: trust() } });
    const { lines } = await preflight();
    expect(lineOf(lines, 'export role trust')).toMatch(/^✗ .*without aws:SourceAccount = 123456789012/);
  });

  it('fails when the stack is not deployed, without stopping the other checks', async () => {
    const io = captureIo();
    const code = await main(['preflight'], { io, env: {}, stack: { source: 'nothing deployed found', info: {} }, aws: defaultClients('eu-west-1', {}) });
    expect(code).toBe(1);
    expect(lineOf(io.stdout, 'export bucket')).toContain('export_bucket_name is unknown');
    expect(lineOf(io.stdout, 'copy role')).toMatch(/^! .*copy role ARN is unknown/);
    expect(lineOf(io.stdout, 'destination write')).toMatch(/^✓ .*as arn:aws:sts::123456789012:assumed-role\/operator\/alice/);
  });

  it("says clearly that it tests the operator's own access when the copy role cannot be assumed", async () => {
    sts.on(AssumeRoleCommand).rejects(awsError('AccessDenied', 'not authorized to perform sts:AssumeRole', 403));
    const { code, lines } = await preflight();
    expect(code).toBe(0);
    expect(lineOf(lines, 'copy role')).toMatch(/^! copy role: cannot assume .*aurora-export-copy \(AccessDenied\); testing with your own credentials/);
    expect(lineOf(lines, 'destination write')).toContain('as arn:aws:sts::123456789012:assumed-role/operator/alice');
  });

  it('does not try to assume the copy role with --as-self', async () => {
    const { lines } = await preflight(['--as-self']);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(lineOf(lines, 'copy role')).toMatch(/^! .*--as-self/);
  });

  it('fails the destination write on AccessDenied and names the client policies to add', async () => {
    s3.on(PutObjectCommand).rejects(awsError('AccessDenied', 'Access Denied', 403));
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'destination write')).toMatch(/^✗ destination write: PutObject to .* as .*aurora-export-copy.* failed: AccessDenied/);
    expect(fixAfter(lines, 'destination write')).toMatch(/access point and bucket policy statements from `pipeline client-policy` \(s3:PutObject, s3:AbortMultipartUpload, s3:ListMultipartUploadParts/);
    expect(lineOf(lines, 'client KMS key')).toMatch(/^- client KMS key: not reached/);
  });

  it('fails the client KMS key when S3 cannot get a data key for our role', async () => {
    s3.on(PutObjectCommand).rejects(awsError('AccessDenied', 'User is not authorized to perform kms:GenerateDataKey on the KMS key', 403));
    const { lines } = await preflight();
    expect(lineOf(lines, 'client KMS key')).toMatch(/^✗ client KMS key: .* refused/);
    expect(fixAfter(lines, 'client KMS key')).toContain('kms:GenerateDataKey, kms:Decrypt');
  });

  it('fails the client KMS key when multipart writes lack kms:Decrypt, and aborts the upload', async () => {
    s3.on(CompleteMultipartUploadCommand).rejects(awsError('AccessDenied', 'not authorized to perform kms:Decrypt', 403));
    s3.on(AbortMultipartUploadCommand).resolves({});
    const { code, lines } = await preflight();
    expect(code).toBe(1);
    expect(lineOf(lines, 'client KMS key')).toContain('multipart needs kms:Decrypt');
    expect(s3.commandCalls(AbortMultipartUploadCommand)[0].args[0].input).toMatchObject({ UploadId: 'upload-1', ExpectedBucketOwner: '210987654321' });
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(1);
  });

  it('warns with the probe key when the probe object cannot be deleted', async () => {
    s3.on(DeleteObjectCommand).rejects(awsError('AccessDenied', 'Access Denied', 403));
    const { code, lines } = await preflight();
    expect(code).toBe(0);
    expect(lineOf(lines, 'destination write')).toMatch(/^! .*could not delete it/);
    expect(fixAfter(lines, 'destination write')).toMatch(/ask the client to delete me3\/me3-serverless\/_preflight\//);
  });

  it('stops with one line naming the fix when there are no credentials', async () => {
    sts.on(GetCallerIdentityCommand).rejects(awsError('CredentialsProviderError', 'Could not load credentials from any providers'));
    const { code, io } = await preflight();
    expect(code).toBe(1);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toMatch(/^error: No AWS credentials found\. Set AWS_PROFILE/);
  });

  it('prints every check as JSON with --json', async () => {
    s3.on(HeadBucketCommand).rejects(awsError('NotFound', 'Not Found', 404));
    const { code, io } = await preflight(['--json']);
    expect(code).toBe(1);
    const out = JSON.parse(io.text());
    expect(out.ok).toBe(false);
    expect(out.checks.find((c: { check: string }) => c.check === 'export bucket')).toMatchObject({ status: 'fail', fix: expect.stringContaining('cdktf deploy') });
  });
});
